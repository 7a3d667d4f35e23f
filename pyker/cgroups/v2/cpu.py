"""v2 ``cpu`` controller: ``cpu.weight`` (1..10000, default 100) and ``cpu.max``.

v2 has no shares: the weight is derived from Docker's shares with runc's linear map
``1 + (shares - 2) * 9999 / 262142``, which sends 2 → 1 and 262144 → 10000 (and Docker's
default 1024 → 39, not 100: recent runc releases switched to a logarithmic map for that
reason; pyker keeps the formula the course's Docker versions use). ``cpu.max`` is
``"<quota> <period>"`` in µs, ``max`` for no quota. See Documentation/admin-guide/cgroup-v2.rst,
"CPU Interface Files".
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources
from pyker.cgroups.stats import flat_keyed
from pyker.cgroups.v1.cpu import clamp_shares

NAME = "cpu"


def shares_to_weight(shares: int) -> int:
    """runc's ``ConvertCPUSharesToCgroupV2Value``: 0 (unset) stays 0."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """The ``cpu.max`` line for a CFS quota/period, None when neither is set."""
    if not quota and not period:
        return None
    line = str(quota) if quota and quota > 0 else "max"
    return f"{line} {period}" if period else line


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    """Write ``cpu.weight`` then ``cpu.max``."""
    warnings: list[str] = []
    if res.cpu_shares:
        shares, warnings = clamp_shares(res.cpu_shares)
        files.write(cgroup / "cpu.weight", str(shares_to_weight(shares)))
    line = cpu_max(*res.cfs())
    if line is not None:
        files.write(cgroup / "cpu.max", line)
    return warnings


def usage_ns(files: CgroupFiles, cgroup: Path) -> int | None:
    """CPU time used, from ``usage_usec`` of ``cpu.stat`` (present even without the controller)."""
    if not files.exists(cgroup / "cpu.stat"):
        return None
    usec = flat_keyed(files.read(cgroup / "cpu.stat")).get("usage_usec")
    return None if usec is None else usec * 1000
