"""``--rm`` containers on a volatile overlay: no sync at unmount, and remounts done right.

A ``--rm`` container's changes go with it, so its overlay is mounted ``volatile`` (its
unmount does not wait for the host's dirty pages); a kept container's is not. The kernel
marks a volatile work dir and refuses to mount it again; pyker lifts the mark in the boot
that made it (``restart`` of a ``--rm`` container, which Docker keeps), and refuses, with a
reason, a rootfs mounted volatile before the host restarted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Pyker

pytestmark = pytest.mark.requires("root", "busybox")


def _volatile(pk: Pyker, *flags: str) -> bool:
    """Whether the container's / is volatile, as its own /proc/self/mountinfo says."""
    out = pk.out("run", *flags, "busybox", "cat", "/proc/self/mountinfo")
    root = next(line for line in out.splitlines() if line.split()[4] == "/")
    options = root.split(" - ")[1].split()[2].split(",")
    # Older kernels print "volatile"; newer ones "fsync=volatile" (fsync=strict|volatile).
    return bool({"volatile", "fsync=volatile"} & set(options))


def test_only_rm_containers_are_volatile(pk: Pyker) -> None:
    assert _volatile(pk, "--rm")
    assert not _volatile(pk, "--name", "kept")
    pk("rm", "kept")


def _container_dir(pk: Pyker, name: str) -> Path:
    full = pk.out("inspect", "--format", "{{.Id}}", name).strip()
    return Path(pk.env["PYKER_DATA_ROOT"]) / "containers" / full


def test_restart_keeps_an_rm_container_and_its_changes(pk: Pyker) -> None:
    pk("run", "-d", "--rm", "--name", "again", "busybox", "sleep", "300")
    where = _container_dir(pk, "again")
    pk("exec", "again", "sh", "-c", "echo kept > /note")
    assert pk.out("restart", "-t", "0", "again") == "again\n"
    assert pk.out("exec", "again", "cat", "/note") == "kept\n"
    pk("stop", "-t", "0", "again")
    assert pk.out("ps", "-aq", "--filter", "name=^again$") == ""
    assert not where.exists()
    assert str(where) not in Path("/proc/self/mountinfo").read_text()


def test_a_volatile_rootfs_from_another_boot_is_refused(pk: Pyker) -> None:
    pk("run", "-d", "--rm", "--name", "crashed", "busybox", "sleep", "300")
    where = _container_dir(pk, "crashed")
    (where / "volatile-boot").write_text("00000000-0000-0000-0000-000000000000\n")
    proc = pk("restart", "-t", "0", "crashed", check=False)
    assert proc.returncode != 0
    assert b"host restarted since, so its changes may be lost" in proc.stderr
    assert (where / "work" / "work" / "incompat" / "volatile").is_dir()  # left for the user
    pk("rm", "crashed")
    assert not where.exists()
