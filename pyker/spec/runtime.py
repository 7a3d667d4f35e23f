"""The OCI runtime spec (a bundle's ``config.json``) as typed, frozen values.

This is the seam between "what to run" (images, build, compose, CLI) and "how to run it"
(pyker.runtime, or runc/crun): everything above writes a :class:`Spec`, the runtime reads one.
As in runc, a document goes through three stages: it is parsed once (``from_dict``, which
checks types and names the field it could not read), then checked by :func:`validate` (a
list of small named checks, runc's ``configs/validate``), then used. ``to_dict`` writes the
spec's own key names with the omissions of its Go bindings, so ``runc spec`` output reads
back and writes out unchanged for every field modelled here; unknown fields are ignored.

The subset is what a Docker-like runtime needs: hooks, Windows/Solaris/VM sections, Intel
RDT, hugetlb, network classes, RDMA and time offsets are left out.
See https://github.com/opencontainers/runtime-spec (config.md, config-linux.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyker.errors import SpecError
from pyker.spec._fields import (
    Doc, _compact, _get, _object, _objects, _require, _str_list, _str_map,
)
from pyker.spec.runtime_linux import (
    IdMapping, Linux, LinuxDevice, LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, Namespace,
)
from pyker.spec.runtime_process import Capabilities, ConsoleSize, Process, Rlimit, User
from pyker.spec.runtime_resources import (
    DeviceCgroup, LinuxBlockIO, LinuxCPU, LinuxMemory, LinuxPids, LinuxResources,
)
from pyker.spec.runtime_validate import (
    CHECKS, NAMESPACE_TYPES, RLIMIT_TYPES, ROOTFS_PROPAGATIONS, SECCOMP_ACTIONS, validate,
)

__all__ = [
    "CHECKS", "NAMESPACE_TYPES", "OCI_VERSION", "RLIMIT_TYPES", "ROOTFS_PROPAGATIONS",
    "SECCOMP_ACTIONS", "Capabilities", "ConsoleSize", "DeviceCgroup", "IdMapping", "Linux",
    "LinuxBlockIO", "LinuxCPU", "LinuxDevice", "LinuxMemory", "LinuxPids", "LinuxResources",
    "LinuxSeccomp", "LinuxSeccompArg", "LinuxSyscall", "Mount", "Namespace", "Process",
    "Rlimit", "Root", "Spec", "User", "validate",
]

OCI_VERSION = "1.0.2"


@dataclass(frozen=True, slots=True, kw_only=True)
class Root:
    """The container's root filesystem; a relative ``path`` is relative to the bundle."""

    path: str
    readonly: bool = False

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "config.json: root") -> Root:
        return cls(path=_get(doc, "path", str, what, ""),
                   readonly=_get(doc, "readonly", bool, what, False))

    def to_dict(self) -> dict[str, object]:
        return _compact([("path", self.path), ("readonly", self.readonly or None)])


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    """One mount(2) under the root, in order; ``options`` mixes flags and filesystem data
    (see pyker.kernel.mount_options). A bind mount has ``type`` "bind" or a ``bind`` option."""

    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "mount") -> Mount:
        _require(doc, "destination", what)
        return cls(destination=_get(doc, "destination", str, what),
                   type=_get(doc, "type", str, what, ""),
                   source=_get(doc, "source", str, what, ""),
                   options=_str_list(doc, "options", what) or ())

    def to_dict(self) -> dict[str, object]:
        return _compact([("destination", self.destination), ("type", self.type),
                         ("source", self.source), ("options", list(self.options))])


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    process: Process
    root: Root
    linux: Linux
    oci_version: str = OCI_VERSION
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "config.json") -> Spec:
        """Parse a config.json document; types are checked here, meaning by :func:`validate`.

        Raises:
            SpecError: a field has the wrong type, or ``process``/``root`` is missing.
        """
        if not isinstance(doc, Mapping):
            raise SpecError(f"{what}: must be a JSON object")
        for key in ("ociVersion", "process", "root"):
            _require(doc, key, what)
        return cls(
            oci_version=_get(doc, "ociVersion", str, what),
            process=_object(doc, "process", what, Process.from_dict),
            root=_object(doc, "root", what, Root.from_dict),
            hostname=_get(doc, "hostname", str, what, ""),
            domainname=_get(doc, "domainname", str, what, ""),
            mounts=_objects(doc, "mounts", what, Mount.from_dict),
            # No "linux" object: every namespace is inherited from the runtime's.
            linux=_object(doc, "linux", what, Linux.from_dict) or Linux(namespaces=()),
            annotations=_str_map(doc, "annotations", what),
        )

    def to_dict(self) -> dict[str, object]:
        return _compact([
            ("ociVersion", self.oci_version),
            ("process", self.process.to_dict()),
            ("root", self.root.to_dict()),
            ("hostname", self.hostname),
            ("domainname", self.domainname),
            ("mounts", [m.to_dict() for m in self.mounts]),
            ("annotations", dict(self.annotations) or None),
            ("linux", self.linux.to_dict()),
        ])

    def to_json(self) -> bytes:
        # Compact, as containerd writes bundles: the indented form goes through json's
        # pure-Python encoder, five times slower, a few ms of every start (`python -m
        # json.tool config.json` shows it indented).
        return json.dumps(self.to_dict(), separators=(",", ":")).encode() + b"\n"

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Spec:
        """Read and parse a bundle's ``config.json`` (not validated: call :func:`validate`).

        Raises:
            SpecError: the file is not JSON or a field has the wrong type; errors start
                with the file's path.
            OSError: the file cannot be read.
        """
        path = Path(path)
        try:
            doc = json.loads(path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SpecError(f"{path}: not valid JSON: {err}") from err
        return cls.from_dict(doc, str(path))

    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write ``config.json`` so a reader sees the old file or the new one, never half.

        A temporary file in the same directory is renamed over ``path`` (rename(2) is atomic
        within a filesystem). The spec layer does not fsync: a caller that must survive a
        power cut writes ``to_json()`` with pyker.fs.atomic.atomic_write instead.
        """
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.to_json())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
