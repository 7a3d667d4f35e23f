"""v2 ``cpuset`` controller: ``cpuset.cpus`` and ``cpuset.mems``.

Unlike v1, an empty v2 cpuset means "inherit the parent's" (the effective values are in
``cpuset.cpus.effective``), so nothing has to be copied down. See
Documentation/admin-guide/cgroup-v2.rst, "Cpuset Interface Files".
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources

NAME = "cpuset"


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    if res.cpuset_cpus:
        files.write(cgroup / "cpuset.cpus", res.cpuset_cpus)
    if res.cpuset_mems:
        files.write(cgroup / "cpuset.mems", res.cpuset_mems)
    return []
