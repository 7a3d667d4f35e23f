"""v2 ``io`` controller: proportional weight and the bytes a cgroup read and wrote.

Docker's ``--blkio-weight`` (10..1000) goes to ``io.bfq.weight`` unchanged when the BFQ
scheduler offers it, else to ``io.weight`` (1..10000) scaled as runc does:
``1 + (weight - 10) * 9999 / 990``. Counters come from ``io.stat``. See
Documentation/admin-guide/cgroup-v2.rst, "IO Interface Files".
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources
from pyker.cgroups.stats import io_stat_bytes

NAME = "io"


def blkio_to_io_weight(weight: int) -> int:
    return 1 + (weight - 10) * 9999 // 990


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    if not res.blkio_weight:
        return []
    if files.exists(cgroup / "io.bfq.weight"):
        files.write(cgroup / "io.bfq.weight", str(res.blkio_weight))
    elif files.exists(cgroup / "io.weight"):
        files.write(cgroup / "io.weight", f"default {blkio_to_io_weight(res.blkio_weight)}")
    else:
        return ["Your kernel does not support Block I/O weight or the cgroup is not mounted. "
                "Weight discarded."]
    return []


def io_bytes(files: CgroupFiles, cgroup: Path) -> tuple[int, int]:
    return io_stat_bytes(files.read(cgroup / "io.stat"))
