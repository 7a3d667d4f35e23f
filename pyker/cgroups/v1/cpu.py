"""v1 ``cpu`` controller: CFS weight (``cpu.shares``) and bandwidth (``cfs_quota_us``/``period``).

``cpu.shares`` is a relative weight between siblings that only matters under contention (two
busy containers with 768 and 256 shares on one core get 75% and 25%); the quota caps the
CPU time a cgroup may use per period, whatever the load. The kernel clamps shares to
2..262144, so pyker clamps first and warns as Docker does. See
Documentation/scheduler/sched-bwc.rst and cgroup-v1 "cpu" in sched-design-CFS.rst.
"""

from __future__ import annotations

import errno
from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import MAX_CPU_SHARES, MIN_CPU_SHARES, Resources
from pyker.errors import CgroupError

NAME = "cpu"


def clamp_shares(shares: int) -> tuple[int, list[str]]:
    """Shares within the kernel's bounds, with Docker's warning when they were moved."""
    if shares < MIN_CPU_SHARES:
        return MIN_CPU_SHARES, [f"Changing requested CPUShares of {shares} to minimum "
                                f"allowed of {MIN_CPU_SHARES}"]
    if shares > MAX_CPU_SHARES:
        return MAX_CPU_SHARES, [f"Changing requested CPUShares of {shares} to maximum "
                                f"allowed of {MAX_CPU_SHARES}"]
    return shares, []


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    """Write ``cpu.shares``, then the CFS period and quota, to the cgroup directory."""
    warnings: list[str] = []
    if res.cpu_shares:  # 0 is Docker's "default" (1024, the kernel's own)
        shares, warnings = clamp_shares(res.cpu_shares)
        files.write(cgroup / "cpu.shares", str(shares))
    quota, period = res.cfs()
    _write_cfs(files, cgroup, quota, period)
    return warnings


def _write_cfs(files: CgroupFiles, cgroup: Path, quota: int | None, period: int | None) -> None:
    period_pending = False
    if period:
        try:
            files.write(cgroup / "cpu.cfs_period_us", str(period))
        except CgroupError as err:
            # A period shorter than the current one can be refused (EINVAL) because the
            # *old* quota over the *new* period would exceed the parent's bandwidth. When a
            # quota comes too, write it and retry the period after it, as runc does.
            if err.errno != errno.EINVAL or not quota:
                raise
            period_pending = True
    if quota:
        files.write(cgroup / "cpu.cfs_quota_us", str(quota))
        if period_pending:
            files.write(cgroup / "cpu.cfs_period_us", str(period))


def usage_ns(files: CgroupFiles, cpuacct: Path) -> int:
    """CPU time used by the cgroup's tasks, from ``cpuacct.usage`` (nanoseconds)."""
    return int(files.read(cpuacct / "cpuacct.usage"))
