"""What a cgroup has used, as both drivers report it, and the parsers of the kernel's formats.

Counters come from different files per version (``cpuacct.usage`` in ns on v1, ``usage_usec``
of ``cpu.stat`` on v2; ``blkio.throttle.io_service_bytes_recursive`` or ``io.stat``...), and
a field is None when its controller is not there for this cgroup (a v2 cgroup on a hybrid
host has ``cpu.stat`` but no memory controller). The formats are the kernel's "flat keyed"
(``key value`` per line) and "nested keyed" (``8:0 rbytes=1 wbytes=2``) files of
Documentation/admin-guide/cgroup-v2.rst, "Interface Files".
"""

from __future__ import annotations

from dataclasses import dataclass

#: v1 reports "no limit" as the largest page-aligned signed 64-bit number.
V1_UNLIMITED = 9223372036854771712


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """A snapshot of one cgroup's usage; None where the controller is absent.

    Attributes:
        cpu_usage_ns: total CPU time consumed by the cgroup's tasks.
        memory_usage: bytes charged now (page cache included, as the kernel counts it).
        memory_limit: the hard limit in bytes, None when unlimited or unknown.
        memory_inactive_file: inactive page cache, which ``docker stats`` subtracts.
        pids_current: tasks in the cgroup.
        pids_limit: ``pids.max``, None for ``max``.
        blkio_read_bytes: bytes read from block devices.
        blkio_write_bytes: bytes written to block devices.
        oom_kills: processes the OOM killer chose in this cgroup.
    """

    cpu_usage_ns: int | None = None
    memory_usage: int | None = None
    memory_limit: int | None = None
    memory_inactive_file: int | None = None
    pids_current: int | None = None
    pids_limit: int | None = None
    blkio_read_bytes: int | None = None
    blkio_write_bytes: int | None = None
    oom_kills: int | None = None


def flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (``memory.stat``, ``cpu.stat``, ``memory.events``) as a dict."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def limit_or_none(text: str) -> int | None:
    """A limit file's value: None for ``max`` (v2) or v1's "unlimited" number."""
    text = text.strip()
    if text == "max":
        return None
    value = int(text)
    return None if value >= V1_UNLIMITED else value


def io_stat_bytes(text: str) -> tuple[int, int]:
    """Summed ``(rbytes, wbytes)`` over the devices of a v2 ``io.stat``."""
    read = write = 0
    for line in text.splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                write += int(value)
    return read, write


def blkio_bytes(text: str) -> tuple[int, int]:
    """Summed ``(Read, Write)`` over the devices of a v1 ``blkio.*io_service_bytes*`` file."""
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "Read":
            read += int(parts[2])
        elif len(parts) == 3 and parts[1] == "Write":
            write += int(parts[2])
    return read, write
