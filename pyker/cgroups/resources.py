"""What a runtime asks of a cgroup, in Docker's units and with Docker's meanings.

``Resources`` is the request, independent of the cgroup version: bytes for memory, CFS
microseconds for CPU quota, Docker's 2..262144 "shares" for CPU weight, a pids count, and
device rules written the way ``devices.allow`` reads them (``c 1:3 rwm``). The v1 and v2
drivers translate it to their own files (``memory.limit_in_bytes`` or ``memory.max``...).
Every field left ``None`` is left alone by both drivers: the kernel's value stays.

Docker's conventions kept here, so that ``pyker run --memory-swap`` means what the course
says: ``memory_swap`` is memory *plus* swap (``-1`` unlimited), ``--cpus 1.5`` is a CFS quota of
150000 µs per 100000 µs period, ``--pids-limit 0`` or ``-1`` means unlimited.
See Documentation/admin-guide/cgroup-v1/*.rst and cgroup-v2.rst in the kernel tree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from pyker.errors import CgroupError

DeviceType = Literal["a", "b", "c"]

#: Docker's CFS period for ``--cpus`` (100 ms), and its unit (``NanoCPUs``: 1e9 per CPU).
DEFAULT_CPU_PERIOD_US = 100_000
NANO_CPUS_PER_CPU = 1_000_000_000

#: The kernel's bounds for v1 ``cpu.shares`` (kernel/sched/sched.h MIN/MAX_SHARES).
MIN_CPU_SHARES = 2
MAX_CPU_SHARES = 262_144


@dataclass(frozen=True, slots=True)
class DeviceRule:
    """One line of the v1 devices controller: ``<type> <major>:<minor> <access>``.

    ``major``/``minor`` of -1 stand for ``*``; type ``a`` means every device (and then both
    numbers are ``*``). ``access`` is a subset of ``rwm`` (read, write, mknod).
    """

    allow: bool
    type: DeviceType = "a"
    major: int = -1
    minor: int = -1
    access: str = "rwm"

    def __post_init__(self) -> None:
        if self.type not in ("a", "b", "c"):
            raise CgroupError(f'invalid device rule type "{self.type}": want a, b or c')
        if not self.access or set(self.access) - set("rwm"):
            raise CgroupError(f'invalid device access "{self.access}": want a subset of rwm')
        for number in (self.major, self.minor):
            if number < -1 or number > 0xFFFFFFFF:
                raise CgroupError(f"invalid device number {number} in rule {self.line()!r}")

    def line(self) -> str:
        """The rule as ``devices.allow``/``devices.deny`` want it: ``c 1:3 rwm``, ``a *:* rwm``."""
        if self.type == "a":
            return f"a *:* {self.access}"
        major = "*" if self.major < 0 else str(self.major)
        minor = "*" if self.minor < 0 else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"


def _allow(type_: DeviceType, major: int, minor: int, access: str = "rwm") -> DeviceRule:
    return DeviceRule(allow=True, type=type_, major=major, minor=minor, access=access)


# What a `docker run` container gets, in the order the kernel receives it: moby's
# oci.DefaultLinuxSpec() rules (deny all; null, zero, urandom, random, tty, console; deny
# fuse 10:229), then the list runc's specconv appends to every container ("AllowedDevices":
# mknod of anything, null, random, full, tty, zero, urandom, /dev/pts/*, ptmx, tun). The
# duplicates are harmless: the rules are folded by pyker.cgroups.devrules before use.
DOCKER_DEFAULT_DEVICE_RULES: tuple[DeviceRule, ...] = (
    DeviceRule(allow=False, type="a", access="rwm"),
    _allow("c", 1, 5), _allow("c", 1, 3), _allow("c", 1, 9), _allow("c", 1, 8),
    _allow("c", 5, 0), _allow("c", 5, 1),
    DeviceRule(allow=False, type="c", major=10, minor=229, access="rwm"),
    _allow("c", -1, -1, "m"), _allow("b", -1, -1, "m"),
    _allow("c", 1, 3), _allow("c", 1, 8), _allow("c", 1, 7), _allow("c", 5, 0),
    _allow("c", 1, 5), _allow("c", 1, 9), _allow("c", 136, -1), _allow("c", 5, 2),
    _allow("c", 10, 200),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """A cgroup resource request (Docker's ``HostConfig.Resources``); None means "leave as is".

    Attributes:
        memory: hard limit in bytes (``--memory``); -1 for unlimited.
        memory_swap: memory *plus* swap in bytes (``--memory-swap``); -1 for unlimited swap.
        memory_reservation: soft limit in bytes (``--memory-reservation``).
        oom_kill_disable: True disables the OOM killer (v1 only, as Docker).
        cpu_shares: relative weight, 1024 being the default (``--cpu-shares``).
        cpu_quota: CFS quota in µs per period (``--cpu-quota``); -1 for unlimited.
        cpu_period: CFS period in µs (``--cpu-period``).
        nano_cpus: CPUs in units of 1e-9 (``--cpus 1.5`` is 1_500_000_000).
        cpuset_cpus: CPUs allowed, ``0-3`` or ``0,2`` (``--cpuset-cpus``).
        cpuset_mems: memory nodes allowed (``--cpuset-mems``).
        pids_limit: max tasks (``--pids-limit``); 0 or -1 for unlimited.
        devices: device rules applied in order; an empty tuple leaves devices alone.
        blkio_weight: block I/O weight 10..1000 (``--blkio-weight``).
    """

    memory: int | None = None
    memory_swap: int | None = None
    memory_reservation: int | None = None
    oom_kill_disable: bool = False
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    nano_cpus: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    devices: tuple[DeviceRule, ...] = ()
    blkio_weight: int | None = None

    def __post_init__(self) -> None:
        for check in _CHECKS:
            check(self)

    def cfs(self) -> tuple[int | None, int | None]:
        """The CFS ``(quota, period)`` in µs to write, ``--cpus`` converted as Docker does.

        ``--cpus 1.5`` becomes ``(150000, 100000)``: Docker fixes the period at 100 ms and
        scales the quota, so the container may run 1.5 CPUs' worth of time per period.
        """
        if self.nano_cpus:
            quota = self.nano_cpus * DEFAULT_CPU_PERIOD_US // NANO_CPUS_PER_CPU
            return quota, DEFAULT_CPU_PERIOD_US
        return self.cpu_quota, self.cpu_period

    def with_docker_defaults(self) -> Resources:
        """The request as the Docker daemon completes it: swap defaults to twice the memory.

        ``docker run --memory 10m`` without ``--memory-swap`` lets the container use as much
        swap as memory (daemon_unix.go ``adaptContainerSettings``).
        """
        if self.memory and self.memory > 0 and self.memory_swap is None:
            return dataclasses.replace(self, memory_swap=2 * self.memory)
        return self


def pids_max(limit: int) -> str:
    """``pids.max`` for Docker's ``--pids-limit``: 0 and -1 (and below) mean ``max``."""
    return str(limit) if limit > 0 else "max"


def _check_memory(r: Resources) -> None:
    for name in ("memory", "memory_swap", "memory_reservation"):
        value = getattr(r, name)
        if value is not None and value < -1:
            raise CgroupError(f"invalid {name} {value}: want bytes, or -1 for unlimited")
    if r.memory_swap is not None and r.memory_swap > 0:
        if r.memory is None or r.memory <= 0:
            # Docker: "You should always set the Memory limit when using Memoryswap limit"
            raise CgroupError(f"memory_swap {r.memory_swap} needs a memory limit: "
                              "memory_swap is memory plus swap")
        if r.memory_swap < r.memory:
            raise CgroupError(f"memory_swap {r.memory_swap} is below memory {r.memory}: "
                              "memory_swap is memory plus swap, so it must be >= memory")


def _check_cpu(r: Resources) -> None:
    if r.nano_cpus is not None:
        if r.nano_cpus < 0:
            raise CgroupError(f"invalid nano_cpus {r.nano_cpus}: want >= 0")
        if r.nano_cpus and (r.cpu_quota or r.cpu_period):
            # Docker's own message (daemon_unix.go verifyPlatformContainerResources).
            raise CgroupError("Conflicting options: Nano CPUs and CPU Period/Quota "
                              "cannot both be set")
    if r.cpu_shares is not None and r.cpu_shares < 0:
        raise CgroupError(f"invalid cpu_shares {r.cpu_shares}: want >= 0")
    if r.cpu_period is not None and r.cpu_period != 0 and not 1000 <= r.cpu_period <= 1_000_000:
        raise CgroupError(f"invalid cpu_period {r.cpu_period}: CPU cfs period can not be "
                          "less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if r.cpu_quota is not None and 0 < r.cpu_quota < 1000:
        raise CgroupError(f"invalid cpu_quota {r.cpu_quota}: CPU cfs quota can not be "
                          "less than 1ms (i.e. 1000)")


def _check_blkio(r: Resources) -> None:
    if r.blkio_weight and not 10 <= r.blkio_weight <= 1000:
        raise CgroupError(f"invalid blkio_weight {r.blkio_weight}: "
                          "Range of blkio weight is from 10 to 1000")


_CHECKS = (_check_memory, _check_cpu, _check_blkio)


def requested(r: Resources) -> set[str]:
    """The v1 controller names ``r`` asks something of (v2 calls ``blkio`` ``io``)."""
    wants = {
        "cpuset": bool(r.cpuset_cpus or r.cpuset_mems),
        "devices": bool(r.devices),
        "memory": r.memory is not None or r.memory_swap is not None
        or r.memory_reservation is not None or r.oom_kill_disable,
        "cpu": bool(r.cpu_shares or r.cpu_quota or r.cpu_period or r.nano_cpus),
        "pids": r.pids_limit is not None,
        "blkio": bool(r.blkio_weight),
    }
    return {name for name, wanted in wants.items() if wanted}
