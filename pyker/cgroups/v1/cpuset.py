"""v1 ``cpuset`` controller: the CPUs and memory nodes a cgroup's tasks may run on.

A new v1 cpuset cgroup starts with *empty* ``cpuset.cpus`` and ``cpuset.mems``, and the
kernel refuses to add a task to it (ENOSPC, "No space left on device") until both are set.
So every level created under the hierarchy root is filled from its parent first, as runc's
``ensureParent`` does (the alternative, ``cgroup.clone_children``, would change the
parent's behaviour for everyone). See Documentation/admin-guide/cgroup-v1/cpusets.rst.
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources

NAME = "cpuset"
_FILES = ("cpuset.cpus", "cpuset.mems")


def inherit(files: CgroupFiles, mount: Path, cgroup: Path) -> None:
    """Copy the parent's cpus and mems into every empty level from ``mount`` down to ``cgroup``."""
    parent = mount
    for part in cgroup.relative_to(mount).parts:
        level = parent / part
        for name in _FILES:
            if not files.read(level / name).strip():
                files.write(level / name, files.read(parent / name))
        parent = level


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    """Write ``cpuset.cpus`` then ``cpuset.mems`` when requested."""
    if res.cpuset_cpus:
        files.write(cgroup / "cpuset.cpus", res.cpuset_cpus)
    if res.cpuset_mems:
        files.write(cgroup / "cpuset.mems", res.cpuset_mems)
    return []
