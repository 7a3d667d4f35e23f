"""The ``process`` of an OCI runtime spec: what the container runs, as whom, with what rights.

``user`` is applied with setgroups(2)/setgid(2)/setuid(2), ``capabilities`` with capset(2)
and prctl(2) (capabilities(7)), ``rlimits`` with setrlimit(2), ``noNewPrivileges`` with
``prctl(PR_SET_NO_NEW_PRIVS)`` and ``oomScoreAdj`` through ``/proc/self/oom_score_adj``.
See https://github.com/opencontainers/runtime-spec/blob/main/config.md#process.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyker.spec._fields import (
    Doc, _compact, _get, _object, _objects, _require, _str_list, _uint, _uint_list,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSize:
    """The size of the terminal (``terminal: true``), in characters."""

    height: int
    width: int

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "consoleSize") -> ConsoleSize:
        return cls(height=_uint(doc, "height", what, 0), width=_uint(doc, "width", what, 0))

    def to_dict(self) -> dict[str, object]:
        return {"height": self.height, "width": self.width}


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """Numeric ids only: the name in an image's ``User`` is resolved before the spec is written."""

    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "user") -> User:
        return cls(uid=_uint(doc, "uid", what, 0), gid=_uint(doc, "gid", what, 0),
                   umask=_uint(doc, "umask", what),
                   additional_gids=_uint_list(doc, "additionalGids", what))

    def to_dict(self) -> dict[str, object]:
        return _compact([("uid", self.uid), ("gid", self.gid), ("umask", self.umask),
                         ("additionalGids", list(self.additional_gids))])


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """The five capability sets of capabilities(7), by name (``CAP_CHOWN``)."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "capabilities") -> Capabilities:
        return cls(**{name: _str_list(doc, name, what) or () for name in _CAP_SETS})

    def to_dict(self) -> dict[str, object]:
        return _compact((name, list(getattr(self, name))) for name in _CAP_SETS)


_CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rlimit:
    """One setrlimit(2) call: ``type`` is the resource's C name (``RLIMIT_NOFILE``)."""

    type: str
    hard: int
    soft: int

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "rlimit") -> Rlimit:
        _require(doc, "type", what)
        return cls(type=_get(doc, "type", str, what), hard=_uint(doc, "hard", what, 0),
                   soft=_uint(doc, "soft", what, 0))

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "hard": self.hard, "soft": self.soft}


@dataclass(frozen=True, slots=True, kw_only=True)
class Process:
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    cwd: str = "/"
    user: User = User()
    terminal: bool = False
    console_size: ConsoleSize | None = None
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "config.json: process") -> Process:
        return cls(
            args=_str_list(doc, "args", what) or (),
            env=_str_list(doc, "env", what) or (),
            cwd=_get(doc, "cwd", str, what, ""),
            user=_object(doc, "user", what, User.from_dict) or User(),
            terminal=_get(doc, "terminal", bool, what, False),
            console_size=_object(doc, "consoleSize", what, ConsoleSize.from_dict),
            capabilities=_object(doc, "capabilities", what, Capabilities.from_dict),
            rlimits=_objects(doc, "rlimits", what, Rlimit.from_dict),
            no_new_privileges=_get(doc, "noNewPrivileges", bool, what, False),
            oom_score_adj=_get(doc, "oomScoreAdj", int, what),
        )

    def to_dict(self) -> dict[str, object]:
        """The Go bindings' order and omissions: ``user`` and ``cwd`` are always written."""
        return _compact([
            ("terminal", self.terminal or None),
            ("consoleSize", self.console_size.to_dict() if self.console_size else None),
            ("user", self.user.to_dict()),
            ("args", list(self.args)),
            ("env", list(self.env)),
            ("cwd", self.cwd),
            ("capabilities", self.capabilities.to_dict() if self.capabilities else None),
            ("rlimits", [r.to_dict() for r in self.rlimits]),
            ("noNewPrivileges", self.no_new_privileges or None),
            ("oomScoreAdj", self.oom_score_adj),
        ])
