"""Durations and sizes as compose files write them, as numbers as Docker's API takes them.

* A duration is Go's ``time.ParseDuration`` syntax (``1m30s``, ``10s``, ``500ms``, ``1h``,
  ``1.5s``; units ns, us/µs, ms, s, m, h) → nanoseconds; a bare number counts seconds.
  :func:`format_duration` is Go's ``Duration.String()``, which ``compose config`` prints.
* A size is go-units' ``RAMInBytes`` (``512m``, ``1g``, ``1gb``, ``1GiB``, ``100 k``: binary
  units, case-insensitive) → bytes; a bare integer is bytes.

Both return None for text they refuse, so the caller names the service and key.
"""

from __future__ import annotations

import re

_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
       "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kmgtp])?i?b?", re.IGNORECASE)
_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_duration(value: str | int | float) -> int | None:
    """Nanoseconds, or None when ``value`` is not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value * _NS["s"]) if value >= 0 else None
    text = value.strip()
    if text == "0":
        return 0
    total, pos = 0.0, 0
    for part in _DURATION_PART.finditer(text):
        if part.start() != pos:
            return None
        total += float(part.group(1)) * _NS[part.group(2)]
        pos = part.end()
    return round(total) if text and pos == len(text) else None


def format_duration(ns: int) -> str:
    """Go's ``time.Duration.String()``: ``1m30s``, ``10s``, ``500ms``, ``1h0m0s``."""
    if ns == 0:
        return "0s"
    if ns < _NS["us"]:
        return f"{ns}ns"
    if ns < _NS["ms"]:
        return f"{_decimal(ns, _NS['us'])}µs"
    if ns < _NS["s"]:
        return f"{_decimal(ns, _NS['ms'])}ms"
    hours, rest = divmod(ns, _NS["h"])
    minutes, rest = divmod(rest, _NS["m"])
    seconds = f"{_decimal(rest, _NS['s'])}s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    return f"{minutes}m{seconds}" if minutes else seconds


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def parse_size(value: str | int) -> int | None:
    """Bytes, or None when ``value`` is not a size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    match = _SIZE.fullmatch(value.strip())
    if not match:
        return None
    return int(float(match.group(1)) * _BINARY[(match.group(2) or "").lower()])
