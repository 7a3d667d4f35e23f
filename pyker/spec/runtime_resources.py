"""``linux.resources``: the cgroup limits of a container (cgroups(7)).

Each object maps to one controller: ``memory`` (memory.max, memory.swap.max on v2;
memory.limit_in_bytes… on v1), ``cpu`` (cpu.weight/cpu.max; cpu.shares/cpu.cfs_quota_us and
cpuset), ``pids`` (pids.max), ``blockIO`` (io.weight; blkio.weight) and ``devices`` (the
device allow-list: an eBPF program on v2, devices.allow/deny on v1). ``unified`` holds raw
cgroup v2 files, written as given. A limit of ``-1`` means unlimited.
See https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#control-groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyker.spec._fields import Doc, _compact, _get, _object, _objects, _require, _str_map, _uint


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceCgroup:
    """One rule of the device allow-list: unset type/major/minor mean "all" (``a *:* rwm``)."""

    allow: bool
    type: str | None = None
    major: int | None = None
    minor: int | None = None
    access: str | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "devices") -> DeviceCgroup:
        _require(doc, "allow", what)
        return cls(allow=_get(doc, "allow", bool, what), type=_get(doc, "type", str, what),
                   major=_get(doc, "major", int, what), minor=_get(doc, "minor", int, what),
                   access=_get(doc, "access", str, what))

    def to_dict(self) -> dict[str, object]:
        return _compact([("allow", self.allow), ("type", self.type), ("major", self.major),
                         ("minor", self.minor), ("access", self.access)])


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxMemory:
    """Bytes; ``swap`` is memory+swap as on v1 (Docker's ``--memory-swap``)."""

    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "memory") -> LinuxMemory:
        return cls(limit=_get(doc, "limit", int, what),
                   reservation=_get(doc, "reservation", int, what),
                   swap=_get(doc, "swap", int, what), kernel=_get(doc, "kernel", int, what),
                   swappiness=_uint(doc, "swappiness", what),
                   disable_oom_killer=_get(doc, "disableOOMKiller", bool, what))

    def to_dict(self) -> dict[str, object]:
        return _compact([("limit", self.limit), ("reservation", self.reservation),
                         ("swap", self.swap), ("kernel", self.kernel),
                         ("swappiness", self.swappiness),
                         ("disableOOMKiller", self.disable_oom_killer)])


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxCPU:
    """CFS shares and quota/period in microseconds; ``cpus``/``mems`` are cpuset lists."""

    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "cpu") -> LinuxCPU:
        return cls(shares=_uint(doc, "shares", what), quota=_get(doc, "quota", int, what),
                   period=_uint(doc, "period", what),
                   realtime_runtime=_get(doc, "realtimeRuntime", int, what),
                   realtime_period=_uint(doc, "realtimePeriod", what),
                   cpus=_get(doc, "cpus", str, what), mems=_get(doc, "mems", str, what))

    def to_dict(self) -> dict[str, object]:
        return _compact([("shares", self.shares), ("quota", self.quota),
                         ("period", self.period), ("realtimeRuntime", self.realtime_runtime),
                         ("realtimePeriod", self.realtime_period), ("cpus", self.cpus),
                         ("mems", self.mems)])


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxPids:
    limit: int

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "pids") -> LinuxPids:
        _require(doc, "limit", what)
        return cls(limit=_get(doc, "limit", int, what))

    def to_dict(self) -> dict[str, object]:
        return {"limit": self.limit}


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxBlockIO:
    weight: int | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "blockIO") -> LinuxBlockIO:
        return cls(weight=_uint(doc, "weight", what))

    def to_dict(self) -> dict[str, object]:
        return _compact([("weight", self.weight)])


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxResources:
    devices: tuple[DeviceCgroup, ...] = ()
    memory: LinuxMemory | None = None
    cpu: LinuxCPU | None = None
    pids: LinuxPids | None = None
    block_io: LinuxBlockIO | None = None
    unified: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "config.json: linux.resources") -> LinuxResources:
        return cls(devices=_objects(doc, "devices", what, DeviceCgroup.from_dict),
                   memory=_object(doc, "memory", what, LinuxMemory.from_dict),
                   cpu=_object(doc, "cpu", what, LinuxCPU.from_dict),
                   pids=_object(doc, "pids", what, LinuxPids.from_dict),
                   block_io=_object(doc, "blockIO", what, LinuxBlockIO.from_dict),
                   unified=_str_map(doc, "unified", what))

    def to_dict(self) -> dict[str, object]:
        return _compact([
            ("devices", [d.to_dict() for d in self.devices]),
            ("memory", self.memory.to_dict() if self.memory else None),
            ("cpu", self.cpu.to_dict() if self.cpu else None),
            ("pids", self.pids.to_dict() if self.pids else None),
            ("blockIO", self.block_io.to_dict() if self.block_io else None),
            ("unified", dict(self.unified) or None),
        ])
