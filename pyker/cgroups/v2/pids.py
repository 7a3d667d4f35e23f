"""v2 ``pids`` controller: ``pids.max``, as on v1 (fork fails with EAGAIN at the limit).

See Documentation/admin-guide/cgroup-v2.rst, "PID Interface Files".
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources, pids_max
from pyker.cgroups.stats import limit_or_none

NAME = "pids"


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    if res.pids_limit is not None:
        files.write(cgroup / "pids.max", pids_max(res.pids_limit))
    return []


def current(files: CgroupFiles, cgroup: Path) -> tuple[int, int | None]:
    return (int(files.read(cgroup / "pids.current")),
            limit_or_none(files.read(cgroup / "pids.max")))
