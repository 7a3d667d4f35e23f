"""v1 ``memory`` controller: hard limit, memory+swap limit, soft limit, OOM killer switch.

The kernel keeps ``memory.memsw.limit_in_bytes`` (memory *plus* swap, Docker's
``--memory-swap``) at or above ``memory.limit_in_bytes`` at all times, and refuses with
EINVAL any single write that would break that. So raising both limits writes memsw first,
lowering writes the memory limit first (runc's ``setMemoryAndSwap``). A limit below the
current usage is refused with EBUSY once reclaim fails. memsw files exist only with swap
accounting (``swapaccount=1``); without them Docker warns and drops the swap limit, and so
does pyker. See Documentation/admin-guide/cgroup-v1/memory.rst.
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources
from pyker.cgroups.stats import flat_keyed, limit_or_none

NAME = "memory"
LIMIT = "memory.limit_in_bytes"
MEMSW = "memory.memsw.limit_in_bytes"
NO_SWAP_WARNING = ("Your kernel does not support swap limit capabilities or the cgroup is "
                   "not mounted. Memory limited without swap.")


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    """Write the limits in an order the kernel accepts, then the soft limit and OOM switch."""
    warnings: list[str] = []
    memory, swap = res.memory, res.memory_swap
    has_memsw = files.exists(cgroup / MEMSW)
    if memory == -1 and swap is None and has_memsw:
        swap = -1  # "unlimited memory" means unlimited memory+swap too, or the write fails
    if swap is not None and not has_memsw:
        warnings.append(NO_SWAP_WARNING)
        swap = None
    if memory is not None and swap is not None and _raising(files, cgroup, swap):
        files.write(cgroup / MEMSW, str(swap))
        files.write(cgroup / LIMIT, str(memory))
    else:
        if memory is not None:
            files.write(cgroup / LIMIT, str(memory))
        if swap is not None:
            files.write(cgroup / MEMSW, str(swap))
    if res.memory_reservation is not None:
        files.write(cgroup / "memory.soft_limit_in_bytes", str(res.memory_reservation))
    if res.oom_kill_disable:
        files.write(cgroup / "memory.oom_control", "1")
    return warnings


def _raising(files: CgroupFiles, cgroup: Path, swap: int) -> bool:
    """True when the new memsw limit is above the current memory limit: memsw goes first."""
    return swap == -1 or int(files.read(cgroup / LIMIT)) < swap


def oom_control(files: CgroupFiles, cgroup: Path) -> dict[str, int]:
    """``memory.oom_control``: ``oom_kill_disable``, ``under_oom``, ``oom_kill`` (4.13+)."""
    return flat_keyed(files.read(cgroup / "memory.oom_control"))


def usage(files: CgroupFiles, cgroup: Path) -> tuple[int, int | None, int]:
    """``(usage, limit or None, total_inactive_file)`` in bytes."""
    stat = flat_keyed(files.read(cgroup / "memory.stat"))
    return (int(files.read(cgroup / "memory.usage_in_bytes")),
            limit_or_none(files.read(cgroup / LIMIT)),
            stat.get("total_inactive_file", 0))
