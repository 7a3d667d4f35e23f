"""``linux``: the kernel features that isolate a container.

``namespaces`` are created with unshare(2)/clone(2) or joined with setns(2) when a ``path``
is given (namespaces(7)); ``uidMappings``/``gidMappings`` are written to
``/proc/<pid>/uid_map`` and ``gid_map`` (user_namespaces(7)); ``devices`` are made with
mknod(2); ``seccomp`` becomes a BPF filter loaded with seccomp(2); ``maskedPaths`` and
``readonlyPaths`` hide or freeze parts of /proc and /sys after pivot_root(2).
See https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyker.spec._fields import (
    Doc, _compact, _get, _object, _objects, _require, _str_list, _str_map, _uint,
)
from pyker.spec.runtime_resources import LinuxResources


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespace:
    """``type`` is the spec's name (``network``, not ``net``); a ``path`` joins an existing one."""

    type: str
    path: str = ""

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "namespace") -> Namespace:
        _require(doc, "type", what)
        return cls(type=_get(doc, "type", str, what), path=_get(doc, "path", str, what, ""))

    def to_dict(self) -> dict[str, object]:
        return _compact([("type", self.type), ("path", self.path)])


@dataclass(frozen=True, slots=True, kw_only=True)
class IdMapping:
    """One line of uid_map/gid_map: ``container_id host_id size``."""

    container_id: int
    host_id: int
    size: int

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "mapping") -> IdMapping:
        for key in ("containerID", "hostID", "size"):
            _require(doc, key, what)
        return cls(container_id=_uint(doc, "containerID", what),
                   host_id=_uint(doc, "hostID", what), size=_uint(doc, "size", what))

    def to_dict(self) -> dict[str, object]:
        return {"containerID": self.container_id, "hostID": self.host_id, "size": self.size}


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxDevice:
    """A device node to create: ``type`` ``c`` (``u`` unbuffered), ``b`` or ``p`` (fifo)."""

    path: str
    type: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "device") -> LinuxDevice:
        for key in ("path", "type"):
            _require(doc, key, what)
        return cls(path=_get(doc, "path", str, what), type=_get(doc, "type", str, what),
                   major=_get(doc, "major", int, what, 0),
                   minor=_get(doc, "minor", int, what, 0),
                   file_mode=_uint(doc, "fileMode", what), uid=_uint(doc, "uid", what),
                   gid=_uint(doc, "gid", what))

    def to_dict(self) -> dict[str, object]:
        return _compact([("path", self.path), ("type", self.type), ("major", self.major),
                         ("minor", self.minor), ("fileMode", self.file_mode),
                         ("uid", self.uid), ("gid", self.gid)])


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxSeccompArg:
    """A comparison on one syscall argument: ``args[index] op value`` (``SCMP_CMP_EQ``…);
    ``SCMP_CMP_MASKED_EQ`` compares ``args[index] & value`` with ``value_two``."""

    index: int
    value: int
    op: str
    value_two: int = 0

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "arg") -> LinuxSeccompArg:
        for key in ("index", "value", "op"):
            _require(doc, key, what)
        return cls(index=_uint(doc, "index", what), value=_uint(doc, "value", what),
                   value_two=_uint(doc, "valueTwo", what, 0), op=_get(doc, "op", str, what))

    def to_dict(self) -> dict[str, object]:
        return _compact([("index", self.index), ("value", self.value),
                         ("valueTwo", self.value_two or None), ("op", self.op)])


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxSyscall:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[LinuxSeccompArg, ...] = ()

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "syscall") -> LinuxSyscall:
        for key in ("names", "action"):
            _require(doc, key, what)
        return cls(names=_str_list(doc, "names", what), action=_get(doc, "action", str, what),
                   errno_ret=_uint(doc, "errnoRet", what),
                   args=_objects(doc, "args", what, LinuxSeccompArg.from_dict))

    def to_dict(self) -> dict[str, object]:
        return _compact([("names", list(self.names)), ("action", self.action),
                         ("errnoRet", self.errno_ret),
                         ("args", [a.to_dict() for a in self.args])])


@dataclass(frozen=True, slots=True, kw_only=True)
class LinuxSeccomp:
    """The filter as data; pyker.security compiles it to BPF (seccomp(2), libseccomp names)."""

    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    syscalls: tuple[LinuxSyscall, ...] = ()

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "config.json: linux.seccomp") -> LinuxSeccomp:
        _require(doc, "defaultAction", what)
        return cls(default_action=_get(doc, "defaultAction", str, what),
                   default_errno_ret=_uint(doc, "defaultErrnoRet", what),
                   architectures=_str_list(doc, "architectures", what) or (),
                   flags=_str_list(doc, "flags", what) or (),
                   syscalls=_objects(doc, "syscalls", what, LinuxSyscall.from_dict))

    def to_dict(self) -> dict[str, object]:
        return _compact([("defaultAction", self.default_action),
                         ("defaultErrnoRet", self.default_errno_ret),
                         ("architectures", list(self.architectures)),
                         ("flags", list(self.flags)),
                         ("syscalls", [s.to_dict() for s in self.syscalls])])


@dataclass(frozen=True, slots=True, kw_only=True)
class Linux:
    namespaces: tuple[Namespace, ...]
    uid_mappings: tuple[IdMapping, ...] = ()
    gid_mappings: tuple[IdMapping, ...] = ()
    sysctl: dict[str, str] = field(default_factory=dict, hash=False)
    resources: LinuxResources | None = None
    cgroups_path: str = ""
    seccomp: LinuxSeccomp | None = None
    rootfs_propagation: str = ""
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    devices: tuple[LinuxDevice, ...] = ()

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "config.json: linux") -> Linux:
        return cls(
            namespaces=_objects(doc, "namespaces", what, Namespace.from_dict),
            uid_mappings=_objects(doc, "uidMappings", what, IdMapping.from_dict),
            gid_mappings=_objects(doc, "gidMappings", what, IdMapping.from_dict),
            sysctl=_str_map(doc, "sysctl", what),
            resources=_object(doc, "resources", what, LinuxResources.from_dict),
            cgroups_path=_get(doc, "cgroupsPath", str, what, ""),
            seccomp=_object(doc, "seccomp", what, LinuxSeccomp.from_dict),
            rootfs_propagation=_get(doc, "rootfsPropagation", str, what, ""),
            masked_paths=_str_list(doc, "maskedPaths", what) or (),
            readonly_paths=_str_list(doc, "readonlyPaths", what) or (),
            devices=_objects(doc, "devices", what, LinuxDevice.from_dict),
        )

    def to_dict(self) -> dict[str, object]:
        return _compact([
            ("uidMappings", [m.to_dict() for m in self.uid_mappings]),
            ("gidMappings", [m.to_dict() for m in self.gid_mappings]),
            ("sysctl", dict(self.sysctl) or None),
            ("resources", self.resources.to_dict() if self.resources else None),
            ("cgroupsPath", self.cgroups_path),
            ("namespaces", [n.to_dict() for n in self.namespaces]),
            ("devices", [d.to_dict() for d in self.devices]),
            ("seccomp", self.seccomp.to_dict() if self.seccomp else None),
            ("rootfsPropagation", self.rootfs_propagation),
            ("maskedPaths", list(self.masked_paths)),
            ("readonlyPaths", list(self.readonly_paths)),
        ])
