"""Typed reads of raw compose values, each failing with the file, line, owner and key at fault.

Every normaliser receives a value and an :class:`At`: where the value was written (its
:data:`~pyker.compose.yamlsrc.Mark`), what owns it (``service "web"``) and its key path
(``ports[1]``, ``healthcheck.interval``). The readers below accept what Compose accepts for
a type, including strings that interpolation produced (``replicas: "${N}"`` is read as an
integer, ``privileged: "${P:-false}"`` as a boolean), and refuse the rest with one line:
``compose.yaml:7: service "web": ports must be a list``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pyker.errors import ComposeError
from pyker.compose.units import parse_duration, parse_size
from pyker.compose.yamlsrc import NOWHERE, Mark, located, mark_of

# compose-go's toBoolean: YAML 1.1's words stay accepted where a boolean is expected.
_BOOLEANS = {"true": True, "yes": True, "y": True, "on": True,
             "false": False, "no": False, "n": False, "off": False}
_INTEGER = re.compile(r"[-+]?[0-9]+")

Pair = tuple[str, "str | None", "At"]  # (key, value or None when only named, where)


@dataclass(frozen=True, slots=True)
class Context:
    """What a service's normalisers know of the project around it."""

    project_dir: str                 # absolute: relative paths are resolved against it
    environ: Mapping[str, str]       # ``.env`` under the process's environment
    services: frozenset[str]         # every service defined, active profile or not
    networks: frozenset[str]         # keys of the top-level networks
    volumes: frozenset[str]          # keys of the top-level volumes
    home: str                        # what ``~/`` means in a bind source


@dataclass(frozen=True, slots=True)
class At:
    """Where a raw value sits: its mark, its owner (``service "web"``) and its key path."""

    mark: Mark = NOWHERE
    key: str = ""
    owner: str = ""

    def _prefix(self) -> str:
        return f"{self.owner}: " if self.owner else ""

    def fail(self, problem: str) -> ComposeError:
        """``service "web": ports[1]: invalid port "abc"``."""
        key = f"{self.key}: " if self.key else ""
        return located(f"{self._prefix()}{key}{problem}", self.mark)

    def must_be(self, kind: str) -> ComposeError:
        """``service "web": ports must be a list``; ``service "web" must be a mapping``."""
        if not self.key:
            return located(f"{self.owner or 'value'} must be {kind}", self.mark)
        return located(f"{self._prefix()}{self.key} must be {kind}", self.mark)

    def error(self, reason: str) -> ComposeError:
        """A message of its own, located here: ``service "web" refers to undefined …``."""
        return located(reason, self.mark)

    def child(self, node: Any, key: str) -> At:
        mark = mark_of(node, key)
        return At(mark if mark[1] else self.mark, f"{self.key}.{key}" if self.key else key,
                  self.owner)

    def item(self, node: Any, index: int) -> At:
        mark = mark_of(node, index)
        return At(mark if mark[1] else self.mark, f"{self.key}[{index}]", self.owner)


def check_keys(node: Mapping[str, Any], at: At, allowed: Collection[str]) -> None:
    """Refuse a key outside ``allowed``; ``x-`` extension keys are always allowed."""
    for key in node:
        if key not in allowed and not key.startswith("x-"):
            where = at.child(node, key)
            raise where.error(f'{at._prefix()}unknown key "{where.key}"')


def string(value: Any, at: At) -> str:
    # go-yaml reads a plain 1000 into a string field as "1000": `user: 1000` is common.
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise at.must_be("a string")


def integer(value: Any, at: At) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    raise at.must_be("an integer")


def number(value: Any, at: At) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise at.must_be("a number")


def duration(value: Any, at: At) -> int:
    """Go's ``1m30s`` (or a number of seconds) → nanoseconds."""
    found = parse_duration(value) if isinstance(value, (str, int, float)) else None
    if found is None:
        raise at.fail(f'invalid duration "{value}"')
    return found


def size(value: Any, at: At) -> int:
    """``512m``, ``1g``, ``1gb`` (binary units) or a number of bytes → bytes."""
    found = parse_size(value) if isinstance(value, (str, int)) else None
    if found is None:
        raise at.fail(f'invalid size "{value}"')
    return found


def boolean(value: Any, at: At) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise at.must_be("a boolean")


def sequence(value: Any, at: At) -> list[Any]:
    if isinstance(value, list):
        return value
    raise at.must_be("a list")


def mapping(value: Any, at: At) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise at.must_be("a mapping")


def optional_mapping(value: Any, at: At) -> dict[str, Any]:
    """A mapping, or null for an empty one (``networks: {front: }``)."""
    return {} if value is None else mapping(value, at)


def strings(value: Any, at: At, *, single: bool = False) -> tuple[str, ...]:
    """A list of strings; with ``single``, one string alone stands for a list of one."""
    if single and isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise at.must_be("a string or a list" if single else "a list")
    return tuple(string(item, at.item(value, i)) for i, item in enumerate(value))


def scalar_text(value: Any, at: At) -> str | None:
    """A map value written as a scalar, as Compose stringifies it (``true``, ``5``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return string(value, at)


def pairs(value: Any, at: At, *, sep: str = "=") -> list[Pair]:
    """``["K=V", "K"]`` or ``{K: V, K: null}`` as (key, value or None, where), in order."""
    if isinstance(value, dict):
        return [(key, scalar_text(item, at.child(value, key)), at.child(value, key))
                for key, item in value.items()]
    if not isinstance(value, list):
        raise at.must_be("a list or a mapping")
    found: list[Pair] = []
    for i, item in enumerate(value):
        where = at.item(value, i)
        text = string(item, where)
        key, has_value, text_value = text.partition(sep)
        if not key:
            raise where.fail(f'invalid entry "{text}": empty name')
        found.append((key, text_value if has_value else None, where))
    return found


def last_wins(items: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Later values win and keep the first position (how Compose merges a key twice)."""
    merged: dict[str, str] = {}
    for key, value in items:
        merged[key] = value
    return tuple(merged.items())
