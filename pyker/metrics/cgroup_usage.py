"""What a container's cgroup counted, read the way cAdvisor reads it, for both versions.

:class:`pyker.cgroups.Stats` has what ``docker stats`` prints; cAdvisor's metrics want a few
counters more, each from a file the kernel already keeps (cgroups(7),
Documentation/admin-guide/cgroup-v1/*.rst and cgroup-v2.rst):

================  ===========================================  ============================
what              v1 (hybrid hosts too)                        v2
================  ===========================================  ============================
CPU time          ``cpuacct.usage`` (ns)                       ``cpu.stat`` usage_usec
user, system      ``cpuacct.stat`` (USER_HZ ticks)             ``cpu.stat`` user/system_usec
CFS throttling    ``cpu.stat`` (throttled_time in ns)          ``cpu.stat`` throttled_usec
CPU limits        ``cpu.cfs_quota_us``, ``…period_us``, shares  ``cpu.max``, ``cpu.weight``
memory            ``memory.usage_in_bytes``, ``max_usage…``    ``memory.current``, ``.peak``
rss, cache…       ``memory.stat`` total_rss, total_cache…      ``memory.stat`` anon, file…
OOM kills         ``memory.oom_control`` oom_kill              ``memory.events`` oom_kill
block I/O         ``blkio.*io_service_bytes_recursive``        ``io.stat``
tasks             ``pids.current``, ``tasks``                  ``cgroup.threads``
================  ===========================================  ============================

A file that is missing (a controller not mounted, a kernel without ``memory.peak``) gives
None, never an invented zero: the collector then leaves that metric out. Paths are injected
(a :class:`~pyker.cgroups.Layout`), so the tests read a fake tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyker.cgroups.layout import Layout
from pyker.cgroups.stats import flat_keyed, limit_or_none

NANOS_PER_TICK = 10_000_000  # cpuacct.stat counts USER_HZ = 100 ticks a second


@dataclass(frozen=True, slots=True)
class DeviceIO:
    """Block I/O of the cgroup on one device, ``major:minor`` as the kernel names it."""

    major: int
    minor: int
    read_bytes: int = 0
    write_bytes: int = 0
    reads: int = 0
    writes: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupUsage:
    """One reading of a cgroup's counters; None where the kernel has no such file.

    ``memory_limit``, ``cpu_quota_us`` and ``pids_limit`` are None when unlimited;
    ``tasks`` are the thread ids (what ``pids.current`` counts), ``procs`` the process ids.
    """

    cpu_usage_ns: int | None = None
    cpu_user_ns: int | None = None
    cpu_system_ns: int | None = None
    cfs_periods: int | None = None
    cfs_throttled_periods: int | None = None
    cfs_throttled_ns: int | None = None
    cpu_quota_us: int | None = None
    cpu_period_us: int | None = None
    cpu_shares: int | None = None
    memory_usage: int | None = None
    memory_max_usage: int | None = None
    memory_limit: int | None = None
    memory_rss: int | None = None
    memory_cache: int | None = None
    memory_mapped_file: int | None = None
    memory_inactive_file: int | None = None
    memory_swap: int | None = None
    memory_failcnt: int | None = None
    oom_kills: int | None = None
    pids_current: int | None = None
    pids_limit: int | None = None
    tasks: tuple[int, ...] | None = None
    procs: tuple[int, ...] | None = None
    io: tuple[DeviceIO, ...] = ()

    @property
    def working_set(self) -> int | None:
        """cAdvisor's working set: usage minus the inactive file cache, never below 0."""
        if self.memory_usage is None:
            return None
        return max(0, self.memory_usage - (self.memory_inactive_file or 0))


def _read(path: Path) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError):
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return None if text is None else int(text.strip())
    except ValueError:
        return None


def _ids(path: Path) -> tuple[int, ...] | None:
    text = _read(path)
    return None if text is None else tuple(int(x) for x in text.split())


def _stat(path: Path) -> dict[str, int]:
    text = _read(path)
    return {} if text is None else flat_keyed(text)


def _limit(path: Path) -> int | None:
    text = _read(path)
    return None if text is None or not text.strip() else limit_or_none(text)


# ---- per-device block I/O ------------------------------------------------------------------


def blkio_devices(service_bytes: str, serviced: str = "") -> tuple[DeviceIO, ...]:
    """Per-device I/O from v1 ``blkio.*io_service_bytes*`` and ``*io_serviced*`` texts
    (``8:0 Read 4096`` lines; the ``Total`` lines are skipped)."""
    table: dict[tuple[int, int], dict[str, int]] = {}
    for text, suffix in ((service_bytes, "_bytes"), (serviced, "s")):
        for line in text.splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[1] not in ("Read", "Write") or ":" not in parts[0]:
                continue
            major, _, minor = parts[0].partition(":")
            key = "read" if parts[1] == "Read" else "write"
            table.setdefault((int(major), int(minor)), {})[key + suffix] = int(parts[2])
    return tuple(DeviceIO(major, minor, **counts)
                 for (major, minor), counts in sorted(table.items()))


def io_stat_devices(text: str) -> tuple[DeviceIO, ...]:
    """Per-device I/O from v2 ``io.stat`` (``8:0 rbytes=1 wbytes=2 rios=3 wios=4 …``)."""
    names = {"rbytes": "read_bytes", "wbytes": "write_bytes", "rios": "reads",
             "wios": "writes"}
    out = []
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        counts = {}
        for field in parts[1:]:
            key, _, value = field.partition("=")
            if key in names:
                counts[names[key]] = int(value)
        out.append(DeviceIO(int(major), int(minor), **counts))
    return tuple(sorted(out, key=lambda d: (d.major, d.minor)))


def _first_blkio(d: Path) -> tuple[DeviceIO, ...]:
    # The CFQ/BFQ files count what the scheduler saw, the throttle ones what the cgroup
    # layer saw; runc and cAdvisor take the first that has data, in this order.
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        text = _read(d / f"{prefix}io_service_bytes_recursive")
        if text and any(len(line.split()) == 3 for line in text.splitlines()):
            return blkio_devices(text, _read(d / f"{prefix}io_serviced_recursive") or "")
    return ()


# ---- v1 --------------------------------------------------------------------------------


def read_v1(mounts: dict[str, Path], path: str) -> CgroupUsage:
    """The counters of cgroup ``path`` (``pyker/<id>``) across the v1 hierarchies."""

    def where(controller: str) -> Path | None:
        mount = mounts.get(controller)
        return None if mount is None else Path(mount) / path

    values: dict[str, object] = {}
    if (d := where("cpuacct")) is not None:
        stat = _stat(d / "cpuacct.stat")
        values.update(cpu_usage_ns=_int(d / "cpuacct.usage"))
        if stat:
            values.update(cpu_user_ns=stat.get("user", 0) * NANOS_PER_TICK,
                          cpu_system_ns=stat.get("system", 0) * NANOS_PER_TICK)
    if (d := where("cpu")) is not None:
        stat = _stat(d / "cpu.stat")
        quota = _int(d / "cpu.cfs_quota_us")
        values.update(cfs_periods=stat.get("nr_periods"),
                      cfs_throttled_periods=stat.get("nr_throttled"),
                      cfs_throttled_ns=stat.get("throttled_time"),
                      cpu_quota_us=quota if quota is not None and quota > 0 else None,
                      cpu_period_us=_int(d / "cpu.cfs_period_us"),
                      cpu_shares=_int(d / "cpu.shares"))
    if (d := where("memory")) is not None:
        stat = _stat(d / "memory.stat")
        usage = _int(d / "memory.usage_in_bytes")
        memsw = _int(d / "memory.memsw.usage_in_bytes")
        values.update(memory_usage=usage, memory_max_usage=_int(d / "memory.max_usage_in_bytes"),
                      memory_limit=_limit(d / "memory.limit_in_bytes"),
                      memory_rss=stat.get("total_rss"), memory_cache=stat.get("total_cache"),
                      memory_mapped_file=stat.get("total_mapped_file"),
                      memory_inactive_file=stat.get("total_inactive_file"),
                      memory_swap=None if memsw is None or usage is None else memsw - usage,
                      memory_failcnt=_int(d / "memory.failcnt"),
                      oom_kills=_stat(d / "memory.oom_control").get("oom_kill"))
    if (d := where("pids")) is not None:
        values.update(pids_current=_int(d / "pids.current"), pids_limit=_limit(d / "pids.max"))
    for controller in ("pids", "cpu", "memory", *mounts):
        if (d := where(controller)) is not None and (procs := _ids(d / "cgroup.procs")) is not None:
            values.update(procs=procs, tasks=_ids(d / "tasks"))
            break
    if (d := where("blkio")) is not None:
        values.update(io=_first_blkio(d))
    return CgroupUsage(**values)


# ---- v2 --------------------------------------------------------------------------------


def weight_to_shares(weight: int) -> int:
    """``cpu.weight`` (1-10000) back to v1 shares (2-262144), the inverse of runc's
    ``ConvertCPUSharesToCgroupV2Value``, as cAdvisor reports v2 shares."""
    return 2 + (weight - 1) * 262142 // 9999


def read_v2(root: Path, path: str) -> CgroupUsage:
    """The counters of cgroup ``path`` under the cgroup2 mount ``root``."""
    d = Path(root) / path
    cpu = _stat(d / "cpu.stat")
    memory = _stat(d / "memory.stat")
    events = _stat(d / "memory.events")
    quota = period = None
    if (cpu_max := _read(d / "cpu.max")) is not None:
        fields = cpu_max.split()
        quota = None if fields[0] == "max" else int(fields[0])
        period = int(fields[1]) if len(fields) > 1 else None
    weight = _int(d / "cpu.weight")
    io = _read(d / "io.stat")

    def usec(key: str) -> int | None:
        return None if key not in cpu else cpu[key] * 1000

    return CgroupUsage(
        cpu_usage_ns=usec("usage_usec"), cpu_user_ns=usec("user_usec"),
        cpu_system_ns=usec("system_usec"), cfs_periods=cpu.get("nr_periods"),
        cfs_throttled_periods=cpu.get("nr_throttled"), cfs_throttled_ns=usec("throttled_usec"),
        cpu_quota_us=quota, cpu_period_us=period,
        cpu_shares=None if weight is None else weight_to_shares(weight),
        memory_usage=_int(d / "memory.current"), memory_max_usage=_int(d / "memory.peak"),
        memory_limit=_limit(d / "memory.max"), memory_rss=memory.get("anon"),
        memory_cache=memory.get("file"), memory_mapped_file=memory.get("file_mapped"),
        memory_inactive_file=memory.get("inactive_file"),
        memory_swap=_int(d / "memory.swap.current"),
        memory_failcnt=events.get("max"), oom_kills=events.get("oom_kill"),
        pids_current=_int(d / "pids.current"), pids_limit=_limit(d / "pids.max"),
        procs=_ids(d / "cgroup.procs"), tasks=_ids(d / "cgroup.threads"),
        io=() if io is None else io_stat_devices(io))


def read(layout: Layout, path: str) -> CgroupUsage:
    """``path``'s counters, with the driver pyker uses on this layout (v1 unless pure v2)."""
    if layout.mode == "v2" and layout.unified is not None:
        return read_v2(layout.unified, path)
    return read_v1(dict(layout.v1), path)
