"""A running container's cgroup, observed (``stats``, ``top``) and adjusted (``pause``, ``update``).

Everything here acts through the container's cgroup, the way Docker does: ``top`` lists the
pids in it, ``pause`` freezes it (cgroup freezer: every task stopped at once, without a
signal it could see or catch), ``update`` rewrites its limits live, and ``stats`` reads its
counters, plus what no cgroup counts — network bytes, from the container's own network
namespace (``/proc/<pid>/net/dev``) — and the host's CPU time, to put the container's in
proportion.

The arithmetic is Docker's CLI's (cli/command/container/stats_helpers.go) and is kept in pure
functions over the kernel's texts, testable anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyker.cgroups import Resources, manager_for
from pyker.errors import ContainerStateError
from pyker.runtime.cgroup_bridge import path_of
from pyker.runtime.state import ContainerStore, Record, alive

#: /proc/stat counts in USER_HZ, which is 100 on every Linux ABI (proc(5)); Docker uses 100 too.
CLOCK_TICKS = 100
NANOS = 1_000_000_000


class StateConflict(ContainerStateError):
    """A pause/unpause the container's state forbids; Docker's CLI exits 1 for these."""

    exit_code = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One reading of a container's counters (zeros for a container that is not running)."""

    cpu_ns: int = 0           # the cgroup's CPU time
    system_ns: int = 0        # the host's CPU time (all CPUs), /proc/stat
    online_cpus: int = 0
    memory: int = 0           # usage minus inactive page cache, as Docker prints it
    memory_limit: int = 0
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0


# ---- pure arithmetic over the kernel's texts -------------------------------------------


def cpu_percent(previous: Sample, current: Sample) -> float:
    """Docker's calculateCPUPercentUnix: the container's share of all CPUs × online CPUs."""
    cpu_delta = current.cpu_ns - previous.cpu_ns
    system_delta = current.system_ns - previous.system_ns
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * current.online_cpus * 100.0
    return 0.0


def memory_percent(sample: Sample) -> float:
    return sample.memory / sample.memory_limit * 100.0 if sample.memory_limit else 0.0


def usage_without_cache(usage: int, inactive_file: int | None) -> int:
    """Docker's calculateMemUsageUnixNoCache: the inactive file cache can be reclaimed."""
    if inactive_file is not None and inactive_file < usage:
        return usage - inactive_file
    return usage


def system_cpu(proc_stat: str) -> tuple[int, int]:
    """``(host CPU time in ns, online CPUs)`` from /proc/stat, as moby's getSystemCPUUsage.

    The ``cpu`` line's first seven fields (user … softirq) are summed; each ``cpuN`` line is
    one online CPU.
    """
    total, online = 0, 0
    for line in proc_stat.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "cpu":
            total = sum(int(v) for v in fields[1:8]) * NANOS // CLOCK_TICKS
        elif fields[0].startswith("cpu") and fields[0][3:].isdigit():
            online += 1
    return total, online


def net_bytes(net_dev: str) -> tuple[int, int]:
    """Summed ``(received, transmitted)`` bytes over the interfaces of ``net/dev``, but lo."""
    rx = tx = 0
    for line in net_dev.splitlines()[2:]:
        name, _, counters = line.partition(":")
        values = counters.split()
        if name.strip() == "lo" or len(values) < 9:
            continue
        rx += int(values[0])
        tx += int(values[8])
    return rx, tx


def host_memory(meminfo: str) -> int:
    """``MemTotal`` in bytes: the limit Docker shows for a container without one."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


# ---- the live container ------------------------------------------------------------------


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def manager_of(record: Record):
    return manager_for(path_of(record.id))


def is_running(record: Record) -> bool:
    s = record.state
    return s.status in ("running", "paused") and alive(s.pid, s.pid_start)


def sample(record: Record) -> Sample:
    """Read the container's counters now; a container that does not run reads all zeros."""
    system_ns, online = system_cpu(_read("/proc/stat"))
    if not is_running(record):
        return Sample(system_ns=system_ns, online_cpus=online)
    stats = manager_of(record).stats()
    try:
        rx, tx = net_bytes(_read(f"/proc/{record.state.pid}/net/dev"))
    except OSError:  # exited between the check and the read
        rx = tx = 0
    return Sample(
        cpu_ns=stats.cpu_usage_ns or 0, system_ns=system_ns, online_cpus=online,
        memory=usage_without_cache(stats.memory_usage or 0, stats.memory_inactive_file),
        memory_limit=stats.memory_limit or host_memory(_read("/proc/meminfo")),
        net_rx=rx, net_tx=tx, block_read=stats.blkio_read_bytes or 0,
        block_write=stats.blkio_write_bytes or 0, pids=stats.pids_current or 0)


def container_pids(record: Record) -> list[int]:
    """Host PIDs of the container's processes (its cgroup's ``cgroup.procs``).

    Raises:
        StateConflict: the container is not running.
    """
    if not is_running(record):
        raise StateConflict(f"Container {record.id} is not running")
    return manager_of(record).pids()


def pause(store: ContainerStore, record: Record) -> None:
    """Freeze every process of the container and record it "paused" (``docker pause``).

    Raises:
        StateConflict: not running, or already paused (Docker's messages).
    """
    if record.state.status == "paused":
        raise StateConflict(f"Container {record.id} is already paused")
    if not is_running(record):
        raise StateConflict(f"Container {record.id} is not running")
    manager_of(record).freeze()
    store.update_state(record.id, status="paused")
    from pyker import events

    events.container(store.root.parent, "pause", record)


def unpause(store: ContainerStore, record: Record) -> None:
    """Thaw the container's processes and record it "running" again.

    Raises:
        StateConflict: the container is not paused.
    """
    if record.state.status != "paused":
        raise StateConflict(f"Container {record.id} is not paused")
    manager_of(record).thaw()
    store.update_state(record.id, status="running")
    from pyker import events

    events.container(store.root.parent, "unpause", record)


def thaw_if_paused(store: ContainerStore, record: Record) -> None:
    """Thaw a paused container, so that a signal already sent to it is delivered.

    A task frozen by the v1 freezer does not act on any signal, SIGKILL included, until
    thawed; runc thaws after sending SIGKILL for that reason. ``stop``/``kill`` call this
    after signalling.
    """
    if record.state.status == "paused":
        manager_of(record).thaw()
        store.update_state(record.id, status="running")


def update(store: ContainerStore, record: Record, changes: dict[str, object],
           restart: tuple[str, int] | None = None) -> tuple[str, ...]:
    """``docker update``: new limits in the live cgroup and in the stored options.

    ``changes`` holds :class:`Resources` fields by name. The stored limits are merged and
    validated first, so a request the merged whole refuses changes nothing. The next start
    builds its spec from the stored options, so the change outlives a restart. Returns the
    driver's warnings.

    Raises:
        CgroupError: the merged limits are inconsistent, or the kernel refused a value.
    """
    stored = dict(record.options.get("limits", {}))
    merged = {**stored, **changes}
    merged.pop("devices", None)
    Resources(**merged)  # validation of the whole, before anything is written
    live = dict(changes)
    if "memory" in changes or "memory_swap" in changes:
        # v1 orders the two limits against each other: write them as a pair.
        live.update(memory=merged.get("memory"), memory_swap=merged.get("memory_swap"))
    warnings: tuple[str, ...] = ()
    if is_running(record):
        warnings = manager_of(record).update(Resources(**live))
    def change(options: dict) -> dict:
        options["limits"] = {**stored, **changes}
        if restart is not None:
            options.update(restart=restart[0], max_retries=restart[1])
        return options

    store.update_options(record.id, change)
    return warnings
