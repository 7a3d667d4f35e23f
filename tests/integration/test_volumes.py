"""Volumes, bind mounts and tmpfs on the real kernel: data that outlives containers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

RUN = ("run", "--network", "none")


def _inspect(pk, ref: str, kind: str = "container") -> dict:
    return json.loads(pk.out(kind, "inspect", ref))[0]


def test_named_volume_outlives_its_container(pk):
    pk(*RUN, "--name", "writer", "-v", "keep:/data", "busybox",
       "sh", "-c", "echo persisted > /data/f")
    pk("rm", "writer")
    assert pk.out(*RUN, "--rm", "-v", "keep:/data", "busybox", "cat", "/data/f") == "persisted\n"
    assert "keep" in pk.out("volume", "ls", "-q").split()
    doc = _inspect(pk, "keep", "volume")
    assert doc["Driver"] == "local" and doc["Scope"] == "local"
    assert doc["Mountpoint"].endswith("/volumes/keep/_data")
    assert Path(doc["Mountpoint"], "f").read_text() == "persisted\n"
    pk("volume", "rm", "keep")


def test_bind_mount_sees_host_edits_live(pk, tmp_path):
    (tmp_path / "note").write_text("before\n")
    cid = pk.out(*RUN, "-d", "-v", f"{tmp_path}:/host", "busybox",
                 "sh", "-c", "sleep 0.5; cat /host/note; sleep 30").strip()
    try:
        (tmp_path / "note").write_text("after\n")
        deadline = time.monotonic() + 10
        while "after" not in pk.out("logs", cid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pk.out("logs", cid) == "after\n"
        mount = _inspect(pk, cid)["Mounts"][0]
        assert mount == {"Type": "bind", "Source": str(tmp_path), "Destination": "/host",
                         "Mode": "", "RW": True, "Propagation": "rprivate"}
    finally:
        pk("rm", "-f", cid)


def test_v_creates_a_missing_host_dir_and_mount_refuses_it(pk, tmp_path):
    missing = tmp_path / "made" / "by-v"
    pk(*RUN, "--rm", "-v", f"{missing}:/m", "busybox", "true")
    assert missing.is_dir()
    before = pk.out("ps", "-aq")
    absent = tmp_path / "absent"
    proc = pk("create", "--mount", f"type=bind,src={absent},dst=/m", "busybox", check=False)
    assert proc.returncode == 125
    assert proc.stderr.decode() == (f'pyker: invalid mount config for type "bind": bind '
                                    f"source path does not exist: {absent}\n")
    assert not absent.exists() and pk.out("ps", "-aq") == before


def test_readonly_mounts_refuse_writes(pk, tmp_path):
    for flag in (f"{tmp_path}:/ro:ro", "rovol:/ro:ro"):
        proc = pk(*RUN, "--rm", "-v", flag, "busybox", "touch", "/ro/x", check=False)
        assert proc.returncode == 1
        assert b"Read-only file system" in proc.stderr
    proc = pk(*RUN, "--rm", "--mount", f"type=bind,source={tmp_path},target=/ro,readonly",
              "busybox", "touch", "/ro/x", check=False)
    assert b"Read-only file system" in proc.stderr
    assert not (tmp_path / "x").exists()
    pk("volume", "rm", "rovol")


def test_tmpfs_is_a_tmpfs_and_empty_at_each_start(pk):
    cid = pk.out(*RUN, "-d", "--tmpfs", "/scratch:size=1m,mode=1770", "busybox", "sh", "-c",
                 "grep ' /scratch ' /proc/mounts; ls -A /scratch; touch /scratch/x").strip()
    try:
        pk("wait", cid)
        pk("start", cid)
        pk("wait", cid)
        lines = pk.out("logs", cid).splitlines()
        # Two starts, each one: the mount line, and no file left by the previous start.
        assert len(lines) == 2 and lines[0] == lines[1]
        fields = lines[0].split()
        assert fields[2] == "tmpfs"
        assert {"nosuid", "nodev", "noexec", "size=1024k", "mode=1770"} <= set(
            fields[3].split(","))
        assert _inspect(pk, cid)["Mounts"][0]["Type"] == "tmpfs"
    finally:
        pk("rm", "-f", cid)


def _build(pk, tmp_path: Path, tag: str, dockerfile: str) -> None:
    ctx = tmp_path / tag
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    pk("build", "--network", "none", "-t", tag, str(ctx))


def test_image_volume_gets_an_anonymous_volume_removed_by_rm_v(pk, tmp_path):
    _build(pk, tmp_path, "with-volume",
           "FROM busybox\nRUN mkdir /data && echo seeded > /data/seed\nVOLUME /data\n")
    cid = pk.out("create", "with-volume", "cat", "/data/seed").strip()
    (mount,) = _inspect(pk, cid)["Mounts"]
    name = mount["Name"]
    assert len(name) == 64 and mount["Destination"] == "/data" and mount["Driver"] == "local"
    assert _inspect(pk, name, "volume")["Labels"] == {"com.docker.volume.anonymous": ""}
    pk("start", cid)
    pk("wait", cid)
    assert pk.out("logs", cid) == "seeded\n"  # copied up from the image
    pk("rm", "-v", cid)
    assert name not in pk.out("volume", "ls", "-q").split()


def test_new_named_volume_is_initialised_from_the_image(pk):
    out = pk.out(*RUN, "--rm", "-v", "etc-copy:/etc", "busybox", "cat", "/etc/passwd")
    assert out.startswith("root:")
    data = Path(_inspect(pk, "etc-copy", "volume")["Mountpoint"])
    assert (data / "passwd").read_text() == out
    # An existing, non-empty volume is left as it is.
    (data / "passwd").write_text("mine\n")
    assert pk.out(*RUN, "--rm", "-v", "etc-copy:/etc", "busybox", "cat", "/etc/passwd") == \
        "mine\n"
    pk("volume", "rm", "etc-copy")


def test_volumes_from_shares_and_rm_is_refused_while_used(pk):
    src = pk.out("create", "--name", "source", "-v", "shared:/shared", "-v", "/anon",
                 "busybox", "true").strip()
    try:
        out = pk.out(*RUN, "--rm", "--volumes-from", "source", "busybox", "sh", "-c",
                     "echo via-from > /shared/f; echo anon > /anon/g; cat /shared/f")
        assert out == "via-from\n"
        proc = pk(*RUN, "--rm", "--volumes-from", "source:ro", "busybox",
                  "touch", "/shared/x", check=False)
        assert b"Read-only file system" in proc.stderr
        # Used by a container that is not running: still refused, with Docker's message.
        proc = pk("volume", "rm", "shared", check=False)
        assert proc.returncode == 1
        assert proc.stderr.decode() == (f"Error response from daemon: remove shared: volume "
                                        f"is in use - [{src}]\n")
        assert "shared" in pk.out("volume", "ls", "-q", "--filter", "dangling=false").split()
    finally:
        pk("rm", "-v", src)
    assert "shared" in pk.out("volume", "ls", "-q", "--filter", "dangling=true").split()
    pk("volume", "rm", "shared")


def test_no_mount_of_the_container_left_after_rm(pk, tmp_path):
    cid = pk.out(*RUN, "-d", "-v", "gone:/v", "-v", f"{tmp_path}:/b", "--tmpfs", "/t",
                 "busybox", "sleep", "30").strip()
    pk("rm", "-f", cid)
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert cid not in mountinfo and "/volumes/gone/" not in mountinfo
    assert str(tmp_path) not in mountinfo
    pk("volume", "rm", "gone")


@pytest.mark.parametrize(("args", "message"), [
    (("-v", ":/x"), "invalid volume specification: ':/x'"),
    (("-v", "data:rel"), "invalid mount config for type \"volume\": invalid mount path: "
                         "'rel' mount path must be absolute"),
    (("--mount", "type=foo,dst=/x"), 'invalid mount config for type "foo": mount type unknown'),
    (("-v", "../escape:/x"), 'create ../escape: "../escape" includes invalid characters'),
    (("--tmpfs", "/t:size=lots"), 'invalid argument "lots" for "--tmpfs" flag: invalid size'),
    (("-v", "a1:/x", "-v", "b1:/x"), "Duplicate mount point: /x"),
    (("--volumes-from", "no-such-container"), "No such container"),
])
def test_bad_mount_input_is_one_line_and_creates_nothing(pk, args, message):
    containers, volumes = pk.out("ps", "-aq"), pk.out("volume", "ls", "-q")
    proc = pk("create", *args, "busybox", "true", check=False)
    assert proc.returncode == 125
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and message in err
    assert pk.out("ps", "-aq") == containers and pk.out("volume", "ls", "-q") == volumes


def test_volume_commands(pk):
    assert pk.out("volume", "create", "--label", "tier=db", "labelled") == "labelled\n"
    anon = pk.out("volume", "create").strip()
    assert len(anon) == 64 and int(anon, 16) >= 0
    assert pk.out("volume", "ls", "-q", "--filter", "name=label") == "labelled\n"
    assert _inspect(pk, "labelled", "volume")["Labels"] == {"tier": "db"}
    # prune without -a leaves named volumes (only anonymous ones: Docker 23+).
    pk("volume", "prune", "-f")
    names = pk.out("volume", "ls", "-q").split()
    assert "labelled" in names and anon in names
    pk("volume", "prune", "-af")
    assert "labelled" not in pk.out("volume", "ls", "-q").split()
    proc = pk("volume", "rm", "labelled", check=False)
    assert proc.returncode == 1 and b"no such volume" in proc.stderr
    assert pk("volume", "rm", "-f", "labelled").returncode == 0


def test_run_rm_removes_its_anonymous_volumes_but_not_named_ones(pk):
    before = set(pk.out("volume", "ls", "-q").split())
    pk("run", "--rm", "-v", "/scratch", "-v", "kept-by-rm:/kept", "busybox", "true")
    after = set(pk.out("volume", "ls", "-q").split())
    assert after - before == {"kept-by-rm"}
    pk("volume", "rm", "kept-by-rm")
