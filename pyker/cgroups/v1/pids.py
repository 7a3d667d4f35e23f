"""v1 ``pids`` controller: a cap on the number of tasks (processes and threads).

Once ``pids.current`` reaches ``pids.max``, fork(2) and clone(2) fail with EAGAIN — the
``bash: fork: Resource temporarily unavailable`` of the fork-bomb lab. The same files exist
on v2. See Documentation/admin-guide/cgroup-v1/pids.rst.
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources, pids_max
from pyker.cgroups.stats import limit_or_none

NAME = "pids"


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    """Write ``pids.max`` (``max`` for Docker's 0 and -1)."""
    if res.pids_limit is not None:
        files.write(cgroup / "pids.max", pids_max(res.pids_limit))
    return []


def current(files: CgroupFiles, cgroup: Path) -> tuple[int, int | None]:
    """``(pids.current, pids.max or None for max)``."""
    return (int(files.read(cgroup / "pids.current")),
            limit_or_none(files.read(cgroup / "pids.max")))
