"""v2 ``memory`` controller: ``memory.max``, ``memory.swap.max``, ``memory.low``.

v2 counts swap apart from memory, while Docker's ``--memory-swap`` is memory *plus* swap: so
``memory.swap.max`` gets ``memory_swap - memory`` (runc's
``ConvertMemorySwapToCgroupV2Value``), and ``--memory-swap`` equal to ``--memory`` writes 0,
no swap at all. The two files are independent, so unlike v1 the order does not matter; a
``memory.max`` below the usage makes the kernel reclaim, then OOM-kill, instead of EBUSY.
There is no way to disable the OOM killer on v2: Docker warns and ignores it, pyker too.
See Documentation/admin-guide/cgroup-v2.rst, "Memory Interface Files".
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources
from pyker.cgroups.stats import flat_keyed, limit_or_none
from pyker.errors import CgroupError

NAME = "memory"
NO_OOM_DISABLE_WARNING = ("Your kernel does not support OomKillDisable. "
                          "OomKillDisable discarded.")
NO_SWAP_WARNING = ("Your kernel does not support swap limit capabilities or the cgroup is "
                   "not mounted. Memory limited without swap.")


def _num(value: int) -> str:
    return "max" if value == -1 else str(value)


def swap_max(memory: int | None, memory_swap: int | None) -> int | None:
    """``memory.swap.max`` for Docker's (memory, memory+swap); -1 is ``max``, None unset.

    Raises:
        CgroupError: a swap limit without a memory limit, or below it.
    """
    if memory == -1 and memory_swap is None:
        return -1  # unlimited memory means unlimited swap, as v1 behaves
    if memory_swap is None or memory_swap == -1:
        return memory_swap
    if memory is None or memory <= 0:
        raise CgroupError(f"memory_swap {memory_swap}: cannot set a swap limit without a "
                          "memory limit")
    if memory_swap < memory:
        raise CgroupError(f"memory_swap {memory_swap} is below memory {memory}: "
                          "memory+swap limit should be >= memory limit")
    return memory_swap - memory


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    """Write ``memory.swap.max``, ``memory.max`` then ``memory.low``."""
    warnings: list[str] = []
    swap = swap_max(res.memory, res.memory_swap)
    if swap is not None:
        if files.exists(cgroup / "memory.swap.max"):
            files.write(cgroup / "memory.swap.max", _num(swap))
        elif res.memory_swap is not None:
            warnings.append(NO_SWAP_WARNING)  # kernel built without swap accounting
    if res.memory is not None:
        files.write(cgroup / "memory.max", _num(res.memory))
    if res.memory_reservation is not None:
        files.write(cgroup / "memory.low", _num(res.memory_reservation))
    if res.oom_kill_disable:
        warnings.append(NO_OOM_DISABLE_WARNING)
    return warnings


def events(files: CgroupFiles, cgroup: Path) -> dict[str, int]:
    """``memory.events``: ``low``, ``high``, ``max``, ``oom``, ``oom_kill``..."""
    return flat_keyed(files.read(cgroup / "memory.events"))


def usage(files: CgroupFiles, cgroup: Path) -> tuple[int, int | None, int]:
    """``(memory.current, memory.max or None, inactive_file)``."""
    stat = flat_keyed(files.read(cgroup / "memory.stat"))
    return (int(files.read(cgroup / "memory.current")),
            limit_or_none(files.read(cgroup / "memory.max")), stat.get("inactive_file", 0))
