"""Docker's JSON seccomp profile, parsed once into frozen dataclasses.

A profile is a default action plus rules ("syscalls" entries): a list of syscall names, an
action, optional argument conditions (ANDed) and ``includes``/``excludes`` conditions on
the container's capabilities, the host's architecture and kernel version. The format is
moby's ``profiles/seccomp`` types (and the OCI runtime spec's ``LinuxSeccomp``); the course's
older profiles use a singular ``name`` where today's use ``names``. Unknown keys (``comment``)
are ignored, as Go's JSON decoder does.

Every malformed value raises one :class:`~pyker.errors.SeccompProfileError` naming the file
and the JSON path (``syscalls[3].action: unknown action "SCMP_ACT_FOO"``), or the line and
column of a JSON syntax error.

See seccomp(2), seccomp_rule_add(3), https://docs.docker.com/engine/security/seccomp/.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyker.errors import SeccompProfileError

ARCHES = ("SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
          "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
          "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
          "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
          "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64")
MAX_ARGS = 6
MAX_ERRNO = 4095  # the kernel returns -errno in [-4095, -1]; larger data would not be an error
U64 = (1 << 64) - 1


class Action(enum.IntEnum):
    """libseccomp's actions, valued as the ``SECCOMP_RET_*`` they compile to.

    ``SCMP_ACT_KILL`` is the historical name of ``SCMP_ACT_KILL_THREAD`` (same value).
    """

    SCMP_ACT_KILL_PROCESS = 0x80000000
    SCMP_ACT_KILL_THREAD = 0x00000000
    SCMP_ACT_KILL = 0x00000000
    SCMP_ACT_TRAP = 0x00030000
    SCMP_ACT_ERRNO = 0x00050000
    SCMP_ACT_NOTIFY = 0x7FC00000
    SCMP_ACT_TRACE = 0x7FF00000
    SCMP_ACT_LOG = 0x7FFC0000
    SCMP_ACT_ALLOW = 0x7FFF0000


class Op(enum.IntEnum):
    """Argument comparisons, numbered as libseccomp's ``enum scmp_compare``."""

    SCMP_CMP_NE = 1
    SCMP_CMP_LT = 2
    SCMP_CMP_LE = 3
    SCMP_CMP_EQ = 4
    SCMP_CMP_GE = 5
    SCMP_CMP_GT = 6
    SCMP_CMP_MASKED_EQ = 7


@dataclass(frozen=True, slots=True, kw_only=True)
class Arg:
    """A condition on argument ``index``; for MASKED_EQ, ``(arg & value) == value_two``."""

    index: int
    value: int
    value_two: int = 0
    op: Op


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """``includes``/``excludes``: Go arch names (``amd64``), capabilities, ``(major, minor)``."""

    arches: frozenset[str] = frozenset()
    caps: frozenset[str] = frozenset()
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One ``syscalls`` entry; ``errno_ret`` None means the runtime's default (EPERM)."""

    names: tuple[str, ...]
    action: Action
    errno_ret: int | None = None
    args: tuple[Arg, ...] = ()
    includes: Filter = Filter()
    excludes: Filter = Filter()
    comment: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchMap:
    architecture: str
    sub_architectures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A whole profile; ``source`` names where it came from, for error messages."""

    default_action: Action
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    arch_map: tuple[ArchMap, ...] = ()
    syscalls: tuple[Rule, ...] = ()
    source: str = "<profile>"


def load(path: str | Path) -> Profile:
    """Read and parse the profile at ``path``.

    Raises:
        SeccompProfileError: unreadable file, bad JSON (line and column) or bad value.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SeccompProfileError(str(path), "", f"cannot read: {err}") from err
    return parse(text, source=str(path))


def parse(text: str | bytes, *, source: str = "<profile>") -> Profile:
    """Parse a profile's JSON text; ``source`` is the name errors give.

    Raises:
        SeccompProfileError: bad JSON (line and column) or a bad value (its JSON path).
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}"
        raise SeccompProfileError(source, where, err.msg) from err
    except UnicodeDecodeError as err:
        raise SeccompProfileError(source, "", f"not UTF-8: {err}") from err
    return _Parser(source).profile(doc)


class _Parser:
    """Converts the decoded JSON, raising with the JSON path of the first bad value."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, reason: str) -> SeccompProfileError:
        return SeccompProfileError(self.source, where, reason)

    def typed(self, value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
        # bool is an int in Python, never in JSON.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise self.fail(where, f"expected {what}, got {json.dumps(value)}")
        return value

    def profile(self, doc: Any) -> Profile:
        self.typed(doc, dict, "", "a JSON object")
        if "defaultAction" not in doc:
            raise self.fail("defaultAction", "missing")
        archs = tuple(self.arch(a, f"architectures[{i}]")
                      for i, a in enumerate(self.array(doc, "architectures", "")))
        arch_map = tuple(self.arch_map(m, f"archMap[{i}]")
                         for i, m in enumerate(self.array(doc, "archMap", "")))
        if archs and arch_map:
            raise self.fail("archMap", "'architectures' and 'archMap' cannot both be set")
        return Profile(
            default_action=self.action(doc["defaultAction"], "defaultAction"),
            default_errno_ret=self.errno(doc.get("defaultErrnoRet"), "defaultErrnoRet"),
            architectures=archs, arch_map=arch_map,
            syscalls=tuple(self.rule(r, f"syscalls[{i}]")
                           for i, r in enumerate(self.array(doc, "syscalls", ""))),
            source=self.source)

    def array(self, obj: dict[str, Any], key: str, prefix: str) -> list[Any]:
        value = obj.get(key)
        return [] if value is None else self.typed(value, list, prefix + key, "an array")

    def arch(self, value: Any, where: str) -> str:
        self.typed(value, str, where, "an architecture name")
        if value not in ARCHES:
            raise self.fail(where, f'unknown architecture "{value}"')
        return value

    def arch_map(self, value: Any, where: str) -> ArchMap:
        self.typed(value, dict, where, "an object")
        subs = self.array(value, "subArchitectures", where + ".")
        return ArchMap(
            architecture=self.arch(value.get("architecture"), where + ".architecture"),
            sub_architectures=tuple(self.arch(a, f"{where}.subArchitectures[{i}]")
                                    for i, a in enumerate(subs)))

    def action(self, value: Any, where: str) -> Action:
        self.typed(value, str, where, "an action name")
        if value not in Action.__members__:
            raise self.fail(where, f'unknown action "{value}"')
        if value == "SCMP_ACT_NOTIFY":
            raise self.fail(where, "SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath); "
                                   "pyker does not support it")
        return Action[value]

    def errno(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        self.typed(value, int, where, "an integer")
        if not 0 <= value <= MAX_ERRNO:
            raise self.fail(where, f"errno {value} out of range 0..{MAX_ERRNO}")
        return value

    def rule(self, value: Any, where: str) -> Rule:
        self.typed(value, dict, where, "an object")
        names = [self.typed(n, str, f"{where}.names[{i}]", "a syscall name")
                 for i, n in enumerate(self.array(value, "names", where + "."))]
        if value.get("name") is not None:
            if names:
                raise self.fail(where + ".name", "use either 'name' or 'names', not both")
            names = [self.typed(value["name"], str, where + ".name", "a syscall name")]
        if "action" not in value:
            raise self.fail(where + ".action", "missing")
        args = self.array(value, "args", where + ".")
        if len(args) > MAX_ARGS:
            raise self.fail(where + ".args", f"{len(args)} conditions, at most {MAX_ARGS}")
        comment = value.get("comment")
        return Rule(names=tuple(names), action=self.action(value["action"], where + ".action"),
                    errno_ret=self.errno(value.get("errnoRet"), where + ".errnoRet"),
                    args=tuple(self.arg(a, f"{where}.args[{i}]") for i, a in enumerate(args)),
                    includes=self.filter(value.get("includes"), where + ".includes"),
                    excludes=self.filter(value.get("excludes"), where + ".excludes"),
                    comment=comment if isinstance(comment, str) else "")

    def arg(self, value: Any, where: str) -> Arg:
        self.typed(value, dict, where, "an object")
        index = self.typed(value.get("index"), int, where + ".index", "an integer")
        if not 0 <= index < MAX_ARGS:
            raise self.fail(where + ".index", f"argument index {index} out of range 0..5")
        op = self.typed(value.get("op"), str, where + ".op", "an operator name")
        if op not in Op.__members__:
            raise self.fail(where + ".op", f'unknown operator "{op}"')
        return Arg(index=index, op=Op[op], value=self.u64(value.get("value", 0), where + ".value"),
                   value_two=self.u64(value.get("valueTwo", 0), where + ".valueTwo"))

    def u64(self, value: Any, where: str) -> int:
        self.typed(value, int, where, "an integer")
        if not 0 <= value <= U64:
            raise self.fail(where, f"{value} does not fit in 64 bits")
        return value

    def filter(self, value: Any, where: str) -> Filter:
        if value is None:
            return Filter()
        self.typed(value, dict, where, "an object")
        arches = [self.typed(a, str, f"{where}.arches[{i}]", "an architecture")
                  for i, a in enumerate(self.array(value, "arches", where + "."))]
        caps = [self.typed(c, str, f"{where}.caps[{i}]", "a capability")
                for i, c in enumerate(self.array(value, "caps", where + "."))]
        return Filter(arches=frozenset(arches), caps=frozenset(caps),
                      min_kernel=self.kernel(value.get("minKernel"), where + ".minKernel"))

    def kernel(self, value: Any, where: str) -> tuple[int, int] | None:
        if value is None or value == "":
            return None
        self.typed(value, str, where, 'a kernel version ("4.8")')
        parts = value.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise self.fail(where, f'invalid kernel version "{value}", expected "major.minor"')
        return int(parts[0]), int(parts[1])
