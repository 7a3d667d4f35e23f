"""The spec is the seam: a bundle pyker writes runs unchanged under runc and crun.

The bundle is built the way ``launch.prepare`` builds it (image layers mounted as the
container's overlay, ``specgen.generate``, ``config.json`` in ``bundle/``), with the
cgroup left to the external runtime; :mod:`pyker.runtime.oci_runtime` is driven directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import Pyker, REPO
from pyker.runtime import oci_runtime

pytestmark = pytest.mark.requires("root", "overlay", "busybox")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("oci")
    env = {**os.environ, "PYKER_DATA_ROOT": str(root / "data"), "PYKER_RUN_ROOT": str(root / "run"),
           "PYKER_DAEMON_CONFIG": str(root / "daemon.json"), "PYTHONPATH": str(REPO)}
    Pyker(env)("bootstrap", "busybox")
    return root


def _bundle(root: Path, *args: str):
    """A created container, its rootfs mounted and its spec written: (id, paths)."""
    from pyker.image.store import ImageStore
    from pyker.runtime import cgroup_bridge
    from pyker.runtime.container import Paths, create, mount_rootfs
    from pyker.runtime.options import RunOptions
    from pyker.runtime.specgen import generate
    from pyker.runtime.state import ContainerStore
    from pyker.spec.runtime import validate

    images = ImageStore(root / "data")
    containers = ContainerStore(root / "data" / "containers")
    image = images.resolve("busybox")
    opts = RunOptions(image="busybox", command=args)
    record = create(containers, image, opts)
    paths = Paths(root=containers.dir(record.id))
    mount_rootfs(images, image, paths)
    spec = generate(opts, image, container_id=record.id, rootfs=paths.rootfs,
                    container_dir=paths.root, cgroups_path=oci_runtime.cgroups_path(record.id),
                    cgroup_v2=cgroup_bridge.is_v2())
    validate(spec)
    spec.dump(paths.bundle / "config.json")
    return record.id, paths


def _run(root: Path, runtime: str, *args: str,
         kill: int = 0) -> tuple[int, bytes, bytes, str]:
    """(exit code, stdout, stderr, container id) of ``args`` run by ``runtime``; ``kill``:
    a signal sent to the container's init once it runs."""
    from pyker.runtime.container import unmount_rootfs

    container_id, paths = _bundle(root, *args)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        ext = oci_runtime.spawn_external(container_id, runtime, paths.bundle,
                                         state_root=root / "run" / runtime,
                                         stdio=(null, out_w, err_w))
        for fd in (null, out_w, err_w):
            os.close(fd)
        pid = ext.container_pid()
        assert pid > 0 and pid != ext.pid
        if kill:
            os.kill(pid, kill)
        code = ext.wait()
        with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
            return code, out.read(), err.read(), container_id
    finally:
        unmount_rootfs(paths)
        shutil.rmtree(paths.root)


def _crun_skip() -> str | None:
    if shutil.which("crun") is None:
        return "crun not installed (Debian package crun)"
    return None


@pytest.mark.requires("runc")
def test_runc_runs_pyker_bundle(store):
    code, out, err, _ = _run(store, "runc", "sh", "-c", "echo hi; exit 3")
    assert (code, out) == (3, b"hi\n"), err.decode(errors="replace")


@pytest.mark.requires("runc", "cgroup1")
def test_runc_owns_and_removes_the_cgroup(store):
    code, out, err, cid = _run(store, "runc", "cat", "/proc/self/cgroup")
    assert code == 0, err.decode(errors="replace")
    # v1 (no cgroup namespace): the container sees where runc put it, where pyker would
    assert f"pids:/pyker/{cid}" in out.decode(), out
    assert not list(Path("/sys/fs/cgroup").glob(f"*/pyker/{cid}")), "runc left its cgroup"


@pytest.mark.requires("runc")
def test_runc_reports_the_signal_that_killed_the_container(store):
    code, _, err, _ = _run(store, "runc", "sleep", "30", kill=9)
    assert code == 128 + 9, err.decode(errors="replace")


def test_unknown_runtime_is_refused(tmp_path):
    with pytest.raises(oci_runtime.RuntimeNotFound, match="unknown runtime"):
        oci_runtime.spawn_external("x", "kata", tmp_path, state_root=tmp_path / "s")


def test_command_is_the_foreground_run(tmp_path):
    if shutil.which("runc") is None:
        pytest.skip("runc not installed (Debian package runc)")
    argv = oci_runtime.command("runc", tmp_path / "b", "cid", state_root=tmp_path / "s",
                               pid_file=tmp_path / "s" / "cid.pid")
    assert argv[1:] == ["--root", str(tmp_path / "s"), "run", "--bundle", str(tmp_path / "b"),
                        "--pid-file", str(tmp_path / "s" / "cid.pid"), "cid"]


def test_crun_runs_pyker_bundle(store):
    reason = _crun_skip()
    if reason:
        pytest.skip(reason)
    code, out, err, _ = _run(store, "crun", "sh", "-c", "echo hi; exit 3")
    if code != 3 and b"hybrid" in err:
        pytest.skip(f"crun cannot run on this host: {err.decode(errors='replace').strip()}")
    assert (code, out) == (3, b"hi\n"), err.decode(errors="replace")


def test_crun_sees_no_unified_mount_but_host_keeps_it():
    if not oci_runtime.is_hybrid_cgroup():
        pytest.skip("host cgroups are not hybrid: crun runs without a private mount namespace")
    # the private mount namespace must not leak: the host still has the unified hierarchy
    assert subprocess.run(["mountpoint", "-q", oci_runtime.UNIFIED]).returncode == 0
