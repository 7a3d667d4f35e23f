"""Docker's human-readable sizes and durations (the go-units package's rules, exactly).

``human_size`` is go-units' HumanSizeWithPrecision(size, 3) (decimal units: ``4.14MB``, ``0B``,
``kB`` with a small k); ``bytes_size`` its BytesSize (binary: ``23.47GiB``); ``human_duration``
its HumanDuration, that ``docker images`` prints as ``5 weeks ago``.
"""

from __future__ import annotations

import datetime

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _go_g(value: float, precision: int) -> str:
    """Go's ``%.*g``: like C's, which Python's ``g`` format follows."""
    return f"{value:.{precision}g}"


def human_size(size: float, precision: int = 3) -> str:
    i = 0
    while size >= 1000.0 and i < len(_DECIMAL) - 1:
        size /= 1000.0
        i += 1
    return f"{_go_g(size, precision)}{_DECIMAL[i]}"


def bytes_size(size: float) -> str:
    i = 0
    while size >= 1024.0 and i < len(_BINARY) - 1:
        size /= 1024.0
        i += 1
    return f"{size:.4g}{_BINARY[i]}"


def human_duration(seconds: float) -> str:
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(round(seconds / 3600))
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600 / 24 / 365)} years"


def parse_rfc3339(text: str) -> datetime.datetime | None:
    """Python 3.11's fromisoformat reads RFC 3339, 'Z' and 9 fractional digits included."""
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except (ValueError, TypeError):
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


def since(text: str, now: datetime.datetime | None = None) -> str:
    """``5 weeks ago`` for an RFC 3339 time; ``N/A`` when there is none."""
    stamp = parse_rfc3339(text)
    if stamp is None:
        return "N/A"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return human_duration((now - stamp).total_seconds()) + " ago"


def go_time(text: str) -> str:
    """Go's ``time.Time.String()`` in local time: ``2023-07-18 23:19:33 +0200 CEST``."""
    stamp = parse_rfc3339(text)
    if stamp is None:
        return ""
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S %z %Z")
