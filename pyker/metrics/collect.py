"""One scrape: every running container's counters under cAdvisor's names, plus the engine's.

The names, types, help texts and labels are cAdvisor's (``metrics/prometheus.go``), so the
course's PromQL and Grafana dashboards written for cAdvisor work unchanged:
``rate(container_cpu_usage_seconds_total{name="web"}[1m])`` is the cores a container uses.
Each container series carries cAdvisor's base labels:

* ``id``: the container's cgroup path, ``/pyker/<full id>`` — what cAdvisor shows as
  ``/docker/<id>`` for a Docker container on the cgroupfs driver;
* ``name``: the container's name; ``image``: the image as the user named it at ``run``;
* ``container_label_<key>``: each label of the container (``--label``), key sanitized.

``container_start_time_seconds`` is when the container last started (its record's
``StartedAt``), which is when its cgroup was made: cAdvisor reads the cgroup's creation.

cAdvisor's choices kept on purpose: ``container_cpu_usage_seconds_total`` has ``cpu="total"``
(its per-CPU series are off by default); an unlimited memory limit reads 0; the CFS metrics
and ``container_spec_cpu_quota`` appear only for a container with a quota. Only running (or
paused) containers have series, as a stopped container has no cgroup; the engine-level
``pyker_containers{state=…}`` counts them all.

Engine-level metrics are pyker's own: containers by state, images in the store, build cache
hits and misses (counted by the builder, :func:`pyker.build.cache.lookup_counts`).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path

from pyker.cgroups.layout import Layout, detect
from pyker.metrics import cgroup_usage, proc_usage
from pyker.metrics.cgroup_usage import CgroupUsage
from pyker.metrics.exposition import Exposition, Family, sanitize_label_name
from pyker.metrics.proc_usage import PROC, SYS, Interface
from pyker.runtime.cgroup_bridge import path_of
from pyker.runtime.state import STATUSES, Record
from pyker.runtime.stats import is_running

NANOS = 1e9


def _f(name: str, kind: str, help: str) -> Family:
    return Family(name, kind, help)


# cAdvisor's families, in its order (metrics/prometheus.go), with its help texts.
LAST_SEEN = _f("container_last_seen", "gauge", "Last time a container was seen by the exporter")
START_TIME = _f("container_start_time_seconds", "gauge",
                "Start time of the container since unix epoch in seconds.")
CPU_USER = _f("container_cpu_user_seconds_total", "counter",
              "Cumulative user cpu time consumed in seconds.")
CPU_SYSTEM = _f("container_cpu_system_seconds_total", "counter",
                "Cumulative system cpu time consumed in seconds.")
CPU_USAGE = _f("container_cpu_usage_seconds_total", "counter",
               "Cumulative cpu time consumed in seconds.")
CFS_PERIODS = _f("container_cpu_cfs_periods_total", "counter",
                 "Number of elapsed enforcement period intervals.")
CFS_THROTTLED = _f("container_cpu_cfs_throttled_periods_total", "counter",
                   "Number of throttled period intervals.")
CFS_THROTTLED_TIME = _f("container_cpu_cfs_throttled_seconds_total", "counter",
                        "Total time duration the container has been throttled.")
SPEC_CPU_PERIOD = _f("container_spec_cpu_period", "gauge", "CPU period of the container.")
SPEC_CPU_QUOTA = _f("container_spec_cpu_quota", "gauge", "CPU quota of the container.")
SPEC_CPU_SHARES = _f("container_spec_cpu_shares", "gauge", "CPU share of the container.")
SPEC_MEMORY = _f("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container.")
MEM_CACHE = _f("container_memory_cache", "gauge", "Number of bytes of page cache memory.")
MEM_RSS = _f("container_memory_rss", "gauge", "Size of RSS in bytes.")
MEM_MAPPED = _f("container_memory_mapped_file", "gauge", "Size of memory mapped files in bytes.")
MEM_SWAP = _f("container_memory_swap", "gauge", "Container swap usage in bytes.")
MEM_FAILCNT = _f("container_memory_failcnt", "counter", "Number of memory usage hits limits")
MEM_USAGE = _f("container_memory_usage_bytes", "gauge",
               "Current memory usage in bytes, including all memory regardless of when it was "
               "accessed")
MEM_MAX = _f("container_memory_max_usage_bytes", "gauge",
             "Maximum memory usage recorded in bytes")
MEM_WORKING_SET = _f("container_memory_working_set_bytes", "gauge",
                     "Current working set in bytes.")
OOM_EVENTS = _f("container_oom_events_total", "counter",
                "Count of out of memory events observed for the container")
FS_READ_BYTES = _f("container_fs_reads_bytes_total", "counter", "Cumulative count of bytes read")
FS_READS = _f("container_fs_reads_total", "counter", "Cumulative count of reads completed")
FS_WRITE_BYTES = _f("container_fs_writes_bytes_total", "counter",
                    "Cumulative count of bytes written")
FS_WRITES = _f("container_fs_writes_total", "counter", "Cumulative count of writes completed")
PROCESSES = _f("container_processes", "gauge",
               "Number of processes running inside the container.")
THREADS = _f("container_threads", "gauge", "Number of threads running inside the container")
THREADS_MAX = _f("container_threads_max", "gauge", "Maximum number of threads allowed inside "
                 "the container, infinity if value is zero")
FDS = _f("container_file_descriptors", "gauge",
         "Number of open file descriptors for the container.")
SOCKETS = _f("container_sockets", "gauge", "Number of open sockets for the container.")
TASKS_STATE = _f("container_tasks_state", "gauge", "Number of tasks in given state")
# (attribute of Interface, family) for the per-interface network counters
NETWORK = tuple((attr, _f(f"container_network_{name}_total", "counter", help))
                for attr, name, help in (
    ("rx_bytes", "receive_bytes", "Cumulative count of bytes received"),
    ("rx_packets", "receive_packets", "Cumulative count of packets received"),
    ("rx_dropped", "receive_packets_dropped",
     "Cumulative count of packets dropped while receiving"),
    ("rx_errors", "receive_errors", "Cumulative count of errors encountered while receiving"),
    ("tx_bytes", "transmit_bytes", "Cumulative count of bytes transmitted"),
    ("tx_packets", "transmit_packets", "Cumulative count of packets transmitted"),
    ("tx_dropped", "transmit_packets_dropped",
     "Cumulative count of packets dropped while transmitting"),
    ("tx_errors", "transmit_errors",
     "Cumulative count of errors encountered while transmitting"),
))
SCRAPE_ERROR = _f("container_scrape_error", "gauge",
                  "1 if there was an error while getting container metrics, 0 otherwise")
MACHINE_CORES = _f("machine_cpu_cores", "gauge", "Number of CPU cores on the machine.")
MACHINE_MEMORY = _f("machine_memory_bytes", "gauge", "Amount of memory installed on the machine.")
# pyker's own
CONTAINERS = _f("pyker_containers", "gauge", "Number of containers in each state.")
IMAGES = _f("pyker_images", "gauge",
            "Number of images in the store, the intermediate images of builds included.")
CACHE_HITS = _f("pyker_build_cache_hits_total", "counter",
                "Build steps whose image the build cache had.")
CACHE_MISSES = _f("pyker_build_cache_misses_total", "counter",
                  "Build steps the build cache did not have, run anew.")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerReading:
    """Everything measured of one running container at one instant."""

    labels: dict[str, str]
    started: float | None            # unix seconds, None when the record has no start
    usage: CgroupUsage
    interfaces: tuple[Interface, ...] = ()
    task_states: dict[str, int] | None = None
    descriptors: tuple[int, int] | None = None
    seen: float = 0.0


def base_labels(record: Record) -> dict[str, str]:
    labels = {"id": "/" + path_of(record.id), "name": record.name, "image": record.image_ref}
    user_labels = record.options.get("labels") or {}
    if isinstance(user_labels, dict):
        for key, value in user_labels.items():
            labels["container_label_" + sanitize_label_name(str(key))] = str(value)
    return labels


def started_at(text: str) -> float | None:
    """Unix seconds of an RFC 3339 stamp (``0001-01-01T00:00:00Z``: never started)."""
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if stamp.year <= 1 else stamp.timestamp()


def read_container(record: Record, layout: Layout, *, proc: Path = PROC) -> ContainerReading:
    """Read the cgroup and ``/proc`` counters of a running container, now."""
    usage = cgroup_usage.read(layout, path_of(record.id))
    pid = record.state.pid
    return ContainerReading(
        labels=base_labels(record), started=started_at(record.state.started_at), usage=usage,
        interfaces=proc_usage.container_interfaces(pid, proc),
        task_states=None if usage.tasks is None else proc_usage.task_states(usage.tasks, proc),
        descriptors=None if usage.procs is None else proc_usage.descriptors(usage.procs, proc),
        seen=time.time())


def _some(out: Exposition, family: Family, value: float | int | None,
          labels: dict[str, str]) -> None:
    if value is not None:
        out.add(family, value, labels)


def add_container(out: Exposition, c: ContainerReading, *, sys: Path = SYS) -> None:
    """The series of one container, cAdvisor's way (see the module docstring)."""
    u, labels = c.usage, c.labels
    out.add(LAST_SEEN, int(c.seen), labels)
    _some(out, START_TIME, c.started, labels)
    _some(out, CPU_USER, None if u.cpu_user_ns is None else u.cpu_user_ns / NANOS, labels)
    _some(out, CPU_SYSTEM, None if u.cpu_system_ns is None else u.cpu_system_ns / NANOS, labels)
    if u.cpu_usage_ns is not None:
        out.add(CPU_USAGE, u.cpu_usage_ns / NANOS, {**labels, "cpu": "total"})
    if u.cpu_quota_us is not None:
        _some(out, CFS_PERIODS, u.cfs_periods, labels)
        _some(out, CFS_THROTTLED, u.cfs_throttled_periods, labels)
        _some(out, CFS_THROTTLED_TIME,
              None if u.cfs_throttled_ns is None else u.cfs_throttled_ns / NANOS, labels)
    _some(out, SPEC_CPU_PERIOD, u.cpu_period_us, labels)
    _some(out, SPEC_CPU_QUOTA, u.cpu_quota_us, labels)
    _some(out, SPEC_CPU_SHARES, u.cpu_shares, labels)
    if u.memory_usage is not None:
        out.add(SPEC_MEMORY, u.memory_limit or 0, labels)
    _some(out, MEM_CACHE, u.memory_cache, labels)
    _some(out, MEM_RSS, u.memory_rss, labels)
    _some(out, MEM_MAPPED, u.memory_mapped_file, labels)
    _some(out, MEM_SWAP, u.memory_swap, labels)
    _some(out, MEM_FAILCNT, u.memory_failcnt, labels)
    _some(out, MEM_USAGE, u.memory_usage, labels)
    _some(out, MEM_MAX, u.memory_max_usage, labels)
    _some(out, MEM_WORKING_SET, u.working_set, labels)
    _some(out, OOM_EVENTS, u.oom_kills, labels)
    for dev in u.io:
        at = {**labels, "device": proc_usage.device_name(dev.major, dev.minor, sys)}
        out.add(FS_READ_BYTES, dev.read_bytes, at)
        out.add(FS_READS, dev.reads, at)
        out.add(FS_WRITE_BYTES, dev.write_bytes, at)
        out.add(FS_WRITES, dev.writes, at)
    for iface in c.interfaces:
        for attr, family in NETWORK:
            out.add(family, getattr(iface, attr), {**labels, "interface": iface.name})
    _some(out, PROCESSES, None if u.procs is None else len(u.procs), labels)
    _some(out, THREADS, u.pids_current, labels)
    if u.pids_current is not None:
        out.add(THREADS_MAX, u.pids_limit or 0, labels)
    if c.descriptors is not None:
        out.add(FDS, c.descriptors[0], labels)
        out.add(SOCKETS, c.descriptors[1], labels)
    for state, count in (c.task_states or {}).items():
        out.add(TASKS_STATE, count, {**labels, "state": state})


def add_engine(out: Exposition, engine, records: list[Record]) -> None:
    """Containers by state, images, build cache hits and misses."""
    from pyker.build.cache import lookup_counts

    by_state = dict.fromkeys(STATUSES, 0)
    for record in records:
        by_state[record.state.status] = by_state.get(record.state.status, 0) + 1
    for state, count in by_state.items():
        out.add(CONTAINERS, count, {"state": state})
    out.add(IMAGES, len(engine.images.images()))
    hits, misses = lookup_counts(engine.data_root)
    out.add(CACHE_HITS, hits)
    out.add(CACHE_MISSES, misses)


def collect(engine, *, layout: Layout | None = None, proc: Path = PROC,
            sys: Path = SYS) -> Exposition:
    """Read everything now: machine, containers, engine."""
    out = Exposition()
    cores, memory = proc_usage.machine(proc)
    out.add(MACHINE_CORES, cores)
    out.add(MACHINE_MEMORY, memory)
    records = list(engine.containers.all())
    running = [r for r in records if is_running(r)]
    error = 0
    if running:
        layout = layout or detect()
    for record in running:
        try:
            reading = read_container(record, layout, proc=proc)
        except OSError:
            error = 1  # unreadable (permissions): reported, not guessed
            continue
        if reading.usage.cpu_usage_ns is None and reading.usage.procs is None:
            continue  # its cgroup went away between the check and the read: it just exited
        add_container(out, reading, sys=sys)
    out.add(SCRAPE_ERROR, error)
    add_engine(out, engine, records)
    return out


def render(engine=None) -> str:
    """The metrics of ``engine`` (default: ``Engine()``) in the text exposition format."""
    if engine is None:
        from pyker.engine import Engine

        engine = Engine()
    return collect(engine).render()
