"""``--since`` and ``--until`` as the Docker CLI reads them (api/types/time/timestamp.go).

A value is one of:

* a Go duration back from now: ``10m``, ``1h30m``, ``1.5s``, ``300ms`` (``0`` is not one: it
  is the Unix time 0). Docker keeps whole seconds of ``now - duration``, and so does this;
* a Unix time, ``1700000000`` or ``1700000000.123456789``;
* an RFC 3339 date, whole or cut short: ``2026-11-28``, ``2026-11-28T05``,
  ``2026-11-28T05:00``, ``2026-11-28T05:00:00.5``, each with an optional ``Z`` or
  ``±hh:mm``; without one, the local time zone, as Docker reads it on the client.

The result is nanoseconds since the epoch, the unit of an event's ``timeNano``.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from pyker.errors import UsageError

NANOS = 1_000_000_000
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": NANOS,
          "m": 60 * NANOS, "h": 3600 * NANOS}
_DURATION = re.compile(r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)")
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIX = re.compile(r"(-?\d+)(?:\.(\d+))?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})"
                   r"(?:[Tt](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?"
                   r"([Zz]|[+-]\d{2}:\d{2})?")


def _duration_ns(text: str) -> int | None:
    """Go's time.ParseDuration, in nanoseconds; None when ``text`` is not a duration."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    total = 0.0
    for number, unit in _PART.findall(match.group(2)):
        total += float(number) * _UNITS[unit]
    return -int(total) if match.group(1) == "-" else int(total)


def _date_ns(match: re.Match[str]) -> int:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if zone is None:
        tz = datetime.now().astimezone().tzinfo  # the client's zone, as Docker's CLI
    elif zone in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    stamp = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                     int(second or 0), tzinfo=tz)
    nanos = int((fraction or "0").ljust(9, "0"))
    return int(stamp.timestamp()) * NANOS + nanos


def parse(text: str, flag: str = "--since", *, now_ns: int | None = None) -> int:
    """Nanoseconds since the epoch that ``text`` names.

    Raises:
        UsageError: ``failed to parse value as time or duration: "xyz"`` (Docker's words),
            or a date whose fields are out of range.
    """
    text = text.strip()
    duration = _duration_ns(text) if text != "0" else None
    if duration is not None:
        now = time.time_ns() if now_ns is None else now_ns
        return (now - duration) // NANOS * NANOS
    date = _DATE.fullmatch(text)
    if date is not None:
        try:
            return _date_ns(date)
        except (ValueError, OverflowError) as err:
            raise UsageError(f'invalid value "{text}" for {flag}: {err}') from None
    unix = _UNIX.fullmatch(text)
    if unix is not None:
        seconds, fraction = unix.groups()
        nanos = int(fraction.ljust(9, "0")[:9]) if fraction else 0
        return int(seconds) * NANOS + nanos
    raise UsageError(f'failed to parse value as time or duration: "{text}"')
