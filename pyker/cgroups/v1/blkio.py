"""v1 ``blkio`` controller: proportional I/O weight and the bytes a cgroup moved.

``blkio.weight`` only exists with the BFQ scheduler on recent kernels (then named
``blkio.bfq.weight``); when neither is there, the weight is discarded with Docker's warning.
Byte counters come from ``blkio.throttle.io_service_bytes_recursive``, which every kernel
keeps, as ``docker stats`` reads them. See Documentation/admin-guide/cgroup-v1/blkio-controller.rst.
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources
from pyker.cgroups.stats import blkio_bytes

NAME = "blkio"
_STATS = ("blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive")


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    """Write the block I/O weight to whichever weight file the kernel offers."""
    if not res.blkio_weight:
        return []
    for name in ("blkio.weight", "blkio.bfq.weight"):
        if files.exists(cgroup / name):
            files.write(cgroup / name, str(res.blkio_weight))
            return []
    return ["Your kernel does not support Block I/O weight or the cgroup is not mounted. "
            "Weight discarded."]


def io_bytes(files: CgroupFiles, cgroup: Path) -> tuple[int, int]:
    """``(read, write)`` bytes, from the first service-bytes file that has data."""
    for name in _STATS:
        if files.exists(cgroup / name):
            read, write = blkio_bytes(files.read(cgroup / name))
            if read or write:
                return read, write
    return 0, 0
