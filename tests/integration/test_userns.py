"""TP security_userns on the real kernel: a daemon with ``"userns-remap": "default"``.

Its store is ``<data-root>/<uid>.<gid>`` and starts empty; its containers are root inside a
user namespace and an unprivileged uid on the host; ``--privileged`` needs ``--userns=host``.
The store lives under a directory the remapped root may traverse (as Docker requires of
its graph root): pytest's own temporary directories are private (0700).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO, Pyker
from pyker.runtime import userns

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

REMAP = userns.resolve("default")  # dockremap's range if /etc/subuid has one, else 100000
UID, GID, SIZE = REMAP.root_uid, REMAP.root_gid, REMAP.uid_maps[0].size


def _cli(base: Path) -> Pyker:
    (base / "daemon.json").write_text(json.dumps({"userns-remap": "default"}))
    return Pyker({**os.environ, "PYKER_DATA_ROOT": str(base / "data"),
                  "PYKER_RUN_ROOT": str(base / "run"),
                  "PYKER_DAEMON_CONFIG": str(base / "daemon.json"), "PYTHONPATH": str(REPO)})


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pyker-userns-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def pk(base: Path) -> Iterator[Pyker]:
    cli = _cli(base)
    yield cli
    for cid in cli.out("ps", "-aq").split():
        cli("rm", "-f", cid, check=False)
    for image in cli.out("images", "-q").split():
        cli("rmi", "-f", image, check=False)


def test_info_names_the_remapped_root_and_its_store_starts_empty(pk, base):
    info = pk.out("info")
    assert f" Docker Root Dir: {base / 'data' / f'{UID}.{GID}'}\n" in info
    assert "  userns\n" in info
    assert pk.out("images", "-q") == ""
    pk("bootstrap", "busybox")
    assert pk.out("images", "-q") != ""
    layers = base / "data" / f"{UID}.{GID}" / "layers"
    etc = next(layers.glob("*/diff/etc"))
    assert (etc.stat().st_uid, etc.stat().st_gid) == (UID, GID)  # root's, shifted


def test_root_inside_an_unprivileged_uid_outside(pk):
    assert pk.out("run", "--rm", "busybox", "id").startswith("uid=0(root) gid=0(root)")
    maps = pk.out("run", "--rm", "busybox", "cat", "/proc/self/uid_map", "/proc/self/gid_map")
    assert [line.split() for line in maps.splitlines()] == [
        ["0", str(UID), str(SIZE)], ["0", str(GID), str(REMAP.gid_maps[0].size)]]
    cid = pk.out("run", "-d", "busybox", "sleep", "60").strip()
    try:
        pid = pk.out("inspect", "-f", "{{.State.Pid}}", cid).strip()
        status = Path(f"/proc/{pid}/status").read_text()
        assert f"Uid:\t{UID}\t{UID}\t{UID}\t{UID}\n" in status
        assert f"Gid:\t{GID}\t{GID}\t{GID}\t{GID}\n" in status
        # exec joins the user namespace too, and top/ps see the container
        assert pk.out("exec", cid, "cat", "/proc/self/uid_map").split() == ["0", str(UID),
                                                                           str(SIZE)]
        assert pk.out("exec", cid, "id").startswith("uid=0(root)")
        assert str(UID) in pk.out("top", cid)
        assert cid[:12] in pk.out("ps", "-q")
    finally:
        pk("rm", "-f", cid)


def test_files_made_inside_belong_to_the_remapped_root(pk, base):
    cid = pk.out("run", "-d", "busybox", "sh", "-c", "echo hi > /made; sleep 60").strip()
    try:
        upper = base / "data" / f"{UID}.{GID}" / "containers" / cid / "upper"
        made = upper / "made"
        for _ in range(100):
            if made.exists():
                break
            time.sleep(0.05)
        assert (made.stat().st_uid, made.stat().st_gid) == (UID, GID)
        pk("stop", "-t", "1", cid)
    finally:
        pk("rm", "-f", cid)


def test_proc_sys_and_devices_work_in_the_user_namespace(pk):
    """/proc, sysfs and mqueue mount (their namespaces are the user namespace's), and the
    host's device nodes are bound in where mknod is refused."""
    out = pk.out("run", "--rm", "busybox", "sh", "-c",
                 "echo x > /dev/null && head -c 4 /dev/zero | wc -c && ls /sys/kernel >/dev/null"
                 " && cat /proc/1/comm && cat /proc/sys/kernel/hostname && ls -d /dev/mqueue")
    assert out.split() == ["4", "sh", out.split()[2], "/dev/mqueue"]
    assert len(out.split()[2]) == 12  # the short id: the container's own UTS namespace


def test_privileged_needs_the_host_user_namespace(pk):
    proc = pk("run", "--rm", "--privileged", "busybox", "id", check=False)
    assert proc.returncode == 125
    assert proc.stderr.decode() == (
        "pyker: privileged mode is incompatible with user namespaces.  You must run the "
        "container in the host namespace when running privileged mode\n")
    proc = pk("run", "--rm", "--privileged", "--userns=host", "busybox", "id", check=False)
    assert b"incompatible with user namespaces" not in proc.stderr
    proc = pk("run", "--rm", "--network", "host", "busybox", "id", check=False)
    assert b"cannot share the host's network namespace" in proc.stderr


def test_userns_host_runs_as_the_hosts_root(pk):
    cid = pk.out("run", "-d", "--userns=host", "busybox", "sleep", "60").strip()
    try:
        pid = pk.out("inspect", "-f", "{{.State.Pid}}", cid).strip()
        assert "Uid:\t0\t0\t0\t0\n" in Path(f"/proc/{pid}/status").read_text()
        assert pk.out("exec", cid, "cat", "/proc/self/uid_map").split() == [
            "0", "0", "4294967295"]
    finally:
        pk("rm", "-f", cid)


def test_a_graph_root_the_remapped_root_cannot_reach_is_named(tmp_path):
    cli = _cli(tmp_path)  # pytest's temporary directories are 0700
    cli("bootstrap", "busybox")
    proc = cli("run", "--rm", "busybox", "true", check=False)
    assert proc.returncode == 125
    assert "restricts access to the remapped root uid/gid" in proc.stderr.decode()
    for image in cli.out("images", "-q").split():
        cli("rmi", "-f", image, check=False)


def test_commit_in_a_remapped_store_keeps_container_owners(pk):
    """A committed layer carries container ids (0), not the host's remapped ones."""
    pk("run", "--name", "maker", "busybox", "sh", "-c", "echo made > /made.txt")
    pk("commit", "maker", "made:v1")
    pk("rm", "maker")
    assert pk.out("run", "--rm", "made:v1", "stat", "-c", "%u:%g %n", "/made.txt") == \
        "0:0 /made.txt\n"
    pk("rmi", "made:v1")
