"""Container logs in Docker's ``json-file`` format: one JSON object per line.

``{"log":"hello\\n","stream":"stdout","time":"2026-11-27T21:46:48.123456789Z"}`` — the bytes
the container wrote (a line, or a piece of a long one), which stream, and when the monitor
read them. ``pyker logs`` reads the same file back with ``--tail``, ``--since``, ``-t`` and
``-f`` (follow: poll the file for new lines until the container stops).
"""

from __future__ import annotations

import datetime
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_LINE = 16 * 1024  # Docker splits longer lines into partial messages of this size


def rfc3339_nano(t: float | None = None) -> str:
    t = time.time() if t is None else t
    stamp = datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc)
    nanos = int(round((t - int(t)) * 1e9)) % 1_000_000_000
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


class LogWriter:
    """Splits each stream into lines and appends one JSON record per line."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._pending[stream] + data
        out = []
        while True:
            cut = buf.find(b"\n")
            if cut < 0 and len(buf) < MAX_LINE:
                break
            end = cut + 1 if 0 <= cut < MAX_LINE else MAX_LINE
            out.append(self._record(stream, buf[:end]))
            buf = buf[end:]
        self._pending[stream] = buf
        if out:
            os.write(self._fd, b"".join(out))

    def flush(self) -> None:
        for stream, rest in self._pending.items():
            if rest:
                os.write(self._fd, self._record(stream, rest))
                self._pending[stream] = b""

    def close(self) -> None:
        self.flush()
        os.close(self._fd)

    @staticmethod
    def _record(stream: str, chunk: bytes) -> bytes:
        text = chunk.decode("utf-8", errors="replace")
        return (json.dumps({"log": text, "stream": stream, "time": rfc3339_nano()},
                           separators=(",", ":")) + "\n").encode()


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def since_stamp(text: str, now: float | None = None) -> str:
    """``--since``/``--until`` as Docker reads them: a Go duration back from now (``10m``,
    ``1h30m``), a Unix time (``1700000000.5``) or an RFC 3339 date; "" for none.

    Raises:
        ValueError: none of those (the caller names the flag).
    """
    import re

    if not text:
        return ""
    now = time.time() if now is None else now
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if parts and "".join(n + u for n, u in parts) == text:
        return rfc3339_nano(now - sum(float(n) * _GO_UNITS[u] for n, u in parts))
    try:
        return rfc3339_nano(float(text))
    except ValueError:
        pass
    stamp = datetime.datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return rfc3339_nano(stamp.timestamp())


@dataclass(frozen=True, slots=True)
class Entry:
    log: str
    stream: str
    time: str


def _parse(line: bytes) -> Entry | None:
    try:
        doc = json.loads(line)
        return Entry(doc["log"], doc["stream"], doc["time"])
    except (ValueError, KeyError):
        return None  # a line being written right now


def read(path: Path, *, tail: int | None = None, since: str = "") -> list[Entry]:
    try:
        with open(path, "rb") as f:
            lines = deque(f, maxlen=tail) if tail is not None else list(f)
    except FileNotFoundError:
        return []
    entries = [e for e in map(_parse, lines) if e is not None]
    return [e for e in entries if not since or e.time >= since]


def follow(path: Path, *, start: int, running: Callable[[], bool],
           interval: float = 0.1) -> Iterator[Entry]:
    """Entries appended after byte ``start``, until the container stops and all is read."""
    offset = start
    partial = b""
    last_pass = False
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return
        offset += len(data)
        partial += data
        *complete, partial = partial.split(b"\n")
        for line in complete:
            entry = _parse(line)
            if entry is not None:
                yield entry
        if not data:
            if last_pass:
                return
            # One more read after the container stopped: what it wrote last is not lost.
            last_pass = not running()
            if not last_pass:
                time.sleep(interval)
