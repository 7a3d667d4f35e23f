"""Which cgroup.procs the grace-period warm-up writes to: always the process's own cgroup.

A wrong answer here would move the process into another cgroup, so the cases where no
mount shows the process's cgroup must answer None.
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.migration import own_procs_file

HYBRID_MOUNTS = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_OWN = "4:cpu,cpuacct:/\n3:memory:/lab/user\n1:name=systemd:/user.slice\n0::/user.slice\n"

V1_MOUNTS = "\n".join(line for line in HYBRID_MOUNTS.splitlines() if "cgroup2" not in line)
V1_OWN = "\n".join(line for line in HYBRID_OWN.splitlines() if not line.startswith("0::"))

# A container's view: its cgroup namespace root bind-mounted, seen from inside.
V2_SUBTREE = "50 40 0:26 /system.slice/x /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"


def test_hybrid_host_uses_the_cgroup2_mount() -> None:
    assert own_procs_file(HYBRID_OWN, HYBRID_MOUNTS) == Path(
        "/sys/fs/cgroup/unified/user.slice/cgroup.procs")


def test_v1_host_uses_the_first_mounted_hierarchy_with_its_comounted_controllers() -> None:
    assert own_procs_file(V1_OWN, V1_MOUNTS) == Path("/sys/fs/cgroup/cpu,cpuacct/cgroup.procs")


def test_named_hierarchy_counts_as_a_v1_hierarchy() -> None:
    mounts = "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    assert own_procs_file(V1_OWN, mounts) == Path("/sys/fs/cgroup/systemd/user.slice/cgroup.procs")


def test_a_mount_of_a_subtree_is_used_only_for_a_path_inside_it() -> None:
    assert own_procs_file("0::/system.slice/x/inner\n", V2_SUBTREE) == Path(
        "/sys/fs/cgroup/inner/cgroup.procs")
    assert own_procs_file("0::/system.slice/x\n", V2_SUBTREE) == Path("/sys/fs/cgroup/cgroup.procs")
    assert own_procs_file("0::/system.slice/xy\n", V2_SUBTREE) is None
    assert own_procs_file("0::/other\n", V2_SUBTREE) is None


def test_no_hierarchy_showing_the_process_gives_none() -> None:
    assert own_procs_file("", HYBRID_MOUNTS) is None
    assert own_procs_file("0::/\n", V1_MOUNTS) is None  # cgroup2 not mounted
    assert own_procs_file("7:pids:/\n", V1_MOUNTS) is None  # pids not mounted
    assert own_procs_file(HYBRID_OWN, "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n") is None
