"""Folding a list of device rules into the state the v1 devices controller would reach.

The v1 controller keeps a default (allow-all or deny-all, set by writing ``a`` to
``devices.allow`` or ``devices.deny``) and a list of exceptions; later rules add to or
subtract from earlier ones. cgroup v2 has no such state machine, only a program that
answers each access, so both drivers first fold the rules into ``(default_allow, exceptions)``
— the same emulation runc does (``devices_emulator.go``), so that a rule list means the same
thing on v1 and v2. Like runc, a rule that would punch a hole in a wildcard exception is
refused: v1 would ignore it silently, which is worse than an error.
See Documentation/admin-guide/cgroup-v1/devices.rst.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyker.cgroups.resources import DeviceRule
from pyker.errors import CgroupError

_ORDER = "rwm"


@dataclass(frozen=True, slots=True)
class DeviceState:
    """Where a rule list leads: the default answer, and the exceptions to it, sorted."""

    default_allow: bool
    exceptions: tuple[DeviceRule, ...]


def _union(a: str, b: str) -> str:
    return "".join(c for c in _ORDER if c in a or c in b)


def _minus(a: str, b: str) -> str:
    return "".join(c for c in _ORDER if c in a and c not in b)


def fold(rules: tuple[DeviceRule, ...] | list[DeviceRule]) -> DeviceState:
    """Fold ``rules`` applied in order, starting from deny-all.

    Starting from deny-all, as runc's emulator does, means a list that does not open with an
    ``a`` rule still denies what it does not name: forgetting the reset cannot open every
    device. (A fresh v1 cgroup would start from its parent's list, usually allow-all.)

    Exceptions are sorted by (major, minor, type) with ``*`` first, as runc orders them,
    so the v2 program and its test bytes are stable whatever the input order.

    Raises:
        CgroupError: a rule would punch a hole in a wildcard exception.
    """
    default_allow = False
    table: dict[tuple[str, int, int], str] = {}
    for rule in rules:
        if rule.type == "a":
            default_allow, table = rule.allow, {}
            continue
        key = (rule.type, rule.major, rule.minor)
        if rule.allow != default_allow:
            # An exception to the default: access adds up.
            table[key] = _union(table.get(key, ""), rule.access)
            continue
        _refuse_partial_hole(table, rule)
        left = _minus(table.get(key, ""), rule.access)
        if left:
            table[key] = left
        else:
            table.pop(key, None)
    ordered = sorted(table.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))
    exceptions = tuple(DeviceRule(allow=not default_allow, type=t, major=ma, minor=mi,  # type: ignore[arg-type]
                                  access=acc) for (t, ma, mi), acc in ordered)
    return DeviceState(default_allow, exceptions)


def _refuse_partial_hole(table: dict[tuple[str, int, int], str], rule: DeviceRule) -> None:
    key = (rule.type, rule.major, rule.minor)
    for wider in ((rule.type, -1, rule.minor), (rule.type, rule.major, -1),
                  (rule.type, -1, -1)):
        if wider == key:
            continue
        overlap = set(table.get(wider, "")) & set(rule.access)
        if overlap:
            shown = DeviceRule(allow=True, type=wider[0], major=wider[1],  # type: ignore[arg-type]
                               minor=wider[2], access=table[wider])
            raise CgroupError(f'device rule "{rule.line()}" cannot punch a hole in the '
                              f'wildcard rule "{shown.line()}"')
