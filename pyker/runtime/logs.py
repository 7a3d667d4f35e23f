"""Container logs in Docker's ``json-file`` format: one JSON object per line.

``{"log":"hello\\n","stream":"stdout","time":"2026-11-27T21:46:48.123456789Z"}`` — the bytes
the container wrote (a line, or a piece of a long one), which stream, and when the monitor
read them. ``pyker logs`` reads the same files back with ``--tail``, ``--since``, ``-t`` and
``-f`` (follow: poll the file for new lines until the container stops).

With ``max-size`` the file is rotated as Docker's ``json-file`` driver does it
(:mod:`pyker.runtime.logdrivers.files`): ``x-json.log`` is renamed ``x-json.log.1`` (and
gzipped to ``.1.gz`` with ``compress``), the older ones shift up by one. The readers here see
the whole set, oldest first. The framing of a record is a :class:`Codec`, so that the
``local`` driver's binary files are read by the same code.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from json import loads
from json.encoder import encode_basestring_ascii
from pathlib import Path

MAX_LINE = 16 * 1024  # Docker splits longer lines into partial messages of this size


def rfc3339_nano(t: float | None = None) -> str:
    if t is None:
        return now_stamp()
    stamp = datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc)
    nanos = int(round((t - int(t)) * 1e9)) % 1_000_000_000
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


_second = [-1, ""]  # the last second formatted: a log line costs no strftime of its own


def stamp_of_ns(ns: int) -> str:
    """RFC 3339 with nanoseconds from an integer time in nanoseconds (exact)."""
    sec, nanos = divmod(ns, 1_000_000_000)
    if sec != _second[0]:
        when = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
        _second[0], _second[1] = sec, when.strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{_second[1]}{nanos:09d}Z"


def now_stamp() -> str:
    return stamp_of_ns(time.time_ns())


class LogWriter:
    """Splits each stream into lines and hands each line (or 16 KiB piece of a long one) to
    ``encode``; the records of one read go out together through ``out``.

    ``LogWriter(path)`` appends json-file records to ``path``, as before drivers existed;
    :mod:`pyker.runtime.logdrivers` builds the others (rotation, ``local``, journald).
    """

    def __init__(self, path: Path | None = None, *,
                 encode: Callable[[str, bytes], bytes] | None = None,
                 out: Callable[[list[bytes]], None] | None = None,
                 close: Callable[[], None] | None = None) -> None:
        if out is None:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            out, close = (lambda records: os.write(fd, b"".join(records))), (lambda: os.close(fd))
        self._encode = encode or json_record
        self._out = out
        self._close = close
        self._pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._pending[stream] + data
        out = []
        while True:
            cut = buf.find(b"\n")
            if cut < 0 and len(buf) < MAX_LINE:
                break
            end = cut + 1 if 0 <= cut < MAX_LINE else MAX_LINE
            out.append(self._encode(stream, buf[:end]))
            buf = buf[end:]
        self._pending[stream] = buf
        if out:
            self._out(out)

    def flush(self) -> None:
        for stream, rest in self._pending.items():
            if rest:
                self._out([self._encode(stream, rest)])
                self._pending[stream] = b""

    def close(self) -> None:
        self.flush()
        if self._close is not None:
            self._close()


def json_record(stream: str, chunk: bytes, attrs: str = "") -> bytes:
    """One json-file line; ``attrs`` is ``"attrs":{...},`` (labels/env/tag options) or ""."""
    text = encode_basestring_ascii(chunk.decode("utf-8", errors="replace"))
    return f'{{"log":{text},"stream":"{stream}",{attrs}"time":"{now_stamp()}"}}\n'.encode()


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


class Codec:
    """How records are framed in a log file: json-lines here, ``local``'s elsewhere."""

    def split(self, buf: bytes) -> tuple[list[Entry], bytes]:
        """The complete records at the start of ``buf``, and the bytes after them."""
        *complete, rest = buf.split(b"\n")
        return [e for e in map(_parse, complete) if e is not None], rest

    def complete(self, data: bytes) -> int:
        """How many bytes at the start of ``data`` are whole records."""
        return data.rfind(b"\n") + 1

    def last(self, data: bytes, count: int) -> list[Entry]:
        """The last ``count`` complete records of a file's bytes (a record being written
        at its end is left out)."""
        lines = data.rsplit(b"\n", count + 1)[-count - 1:-1] if count else []
        return [e for e in map(_parse, lines) if e is not None]


JSON = Codec()


def _parse(line: bytes) -> Entry | None:
    try:
        doc = loads(line)
        return Entry(doc["log"], doc["stream"], doc["time"])
    except (ValueError, KeyError, TypeError):
        return None  # a line being written right now


def rotated(path: Path) -> list[Path]:
    """The rotated files of ``path`` that exist, oldest first (``.2.gz``, ``.1``…). Taken
    from the directory, not probed index by index: in the middle of a rotation an index is
    missing for an instant (``.1.gz`` already moved to ``.2.gz``, ``x.log`` not yet ``.1``)."""
    prefix = path.name + "."
    found: dict[int, Path] = {}
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    for name in names:
        index, dot, ext = name[len(prefix):].partition(".")
        if not name.startswith(prefix) or not index.isdigit() or (dot and ext != "gz"):
            continue  # not ours, or a .gz.tmp being written
        if not dot or int(index) not in found:  # the plain one while its .gz is written
            found[int(index)] = path.with_name(name)
    return [found[i] for i in sorted(found, reverse=True)]


def _contents(path: Path) -> bytes | None:
    """The bytes of a log file, uncompressed; None when it was rotated away meanwhile."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    if path.suffix == ".gz":
        import gzip

        try:
            return gzip.decompress(data)
        except (OSError, EOFError):  # being written: its plain twin is still there
            return _contents(path.with_suffix(""))
    return data


def read(path: Path, *, tail: int | None = None, since: str = "",
         codec: Codec = JSON) -> list[Entry]:
    """What the log holds: every entry (or the last ``tail``), across rotated files."""
    return read_marked(path, tail=tail, since=since, codec=codec)[0]


def read_marked(path: Path, *, tail: int | None = None, since: str = "",
                codec: Codec = JSON) -> tuple[list[Entry], tuple[int, int, str]]:
    """:func:`read`, and where it stopped: (inode, offset) in the current file and the time
    of the last entry read, to :func:`follow` from there without a line lost or shown
    twice."""
    try:
        with open(path, "rb") as f:
            current, inode = f.read(), os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        current, inode = b"", 0
    # Listed after the current file was read: a rotation in between shows that file again,
    # as .1, which is then left out (listed before, it would have been missed instead).
    files = [f for f in rotated(path) if f.suffix == ".gz" or _inode(f) != inode]
    offset = codec.complete(current)
    if tail is None:
        entries = [e for f in files for e in codec.split(_contents(f) or b"")[0]]
        entries += codec.split(current)[0]
    else:
        entries = codec.last(current, tail)
        for f in reversed(files):  # newest first, until enough
            if len(entries) >= tail:
                break
            entries = codec.last(_contents(f) or b"", tail - len(entries)) + entries
    # Gzipped by a rotation in between, the current file's entries came twice.
    entries = list(dict.fromkeys(entries))
    mark = (inode, offset, entries[-1].time if entries else "")
    return [e for e in entries if not since or e.time >= since], mark


def follow(path: Path, *, start: int, running: Callable[[], bool],
           interval: float = 0.1, codec: Codec = JSON, inode: int = 0,
           after: str = "") -> Iterator[Entry]:
    """Entries appended after byte ``start`` of the current file (of the file ``inode``
    when given, wherever rotation has moved it; ``after`` is the time of the last entry
    before that byte), until the container stops and all is read.

    A rotation is followed: the file held open is read to its end, then what was rotated
    while the reader was elsewhere (when it fell behind), then the new current file. Which
    rotated entries those are is decided by time (after the last entry given, before the
    first of the new file), not by name: the writer renames files while they are read.
    """
    # Missing for an instant between a rotation's rename and the new file's creation.
    while (f := _open_at(path, start)) is None:
        if not running() and not path.exists():
            return
        time.sleep(interval / 5)
    last, partial, last_pass = after, b"", False
    busy = True  # something came since the last pause: the next one is short
    try:
        # Rotated since it was read (or was read in that instant, and then had no inode).
        if (inode or after) and os.fstat(f.fileno()).st_ino != inode:
            moved = next((c for c in rotated(path)
                          if c.suffix != ".gz" and _inode(c) == inode), None)
            held = _open_at(moved, start) if moved else None
            if held is not None:
                f.close()
                f = held
            else:  # gzipped or dropped since: what came after it is found by time
                f.seek(0)
                last, partial = yield from _enter(f, path, last, codec)
        while True:
            data = f.read()
            if data:
                busy = True
                entries, partial = codec.split(partial + data)
                if entries:
                    last = entries[-1].time
                yield from entries
                continue
            newer = _replaced(f, path)
            if newer is not None:
                if not last:  # nothing read after the start: the held file's end is the mark
                    f.seek(0)
                    done = codec.last(f.read(), 1)
                    last = done[-1].time if done else ""
                f.close()
                f, last_pass = newer, False
                last, partial = yield from _enter(f, path, last, codec)
                continue
            if last_pass:
                return
            # One more read after the container stopped: what it wrote last is not lost.
            last_pass = not running()
            if not last_pass:
                # Polled, not watched: a container that writes fast fills a file in a few
                # tens of ms, and a reader that sleeps long finds its successors rotated out.
                time.sleep(interval / 5 if busy else interval)
                busy = False
    finally:
        f.close()


def _enter(newer, path: Path, last: str, codec: Codec):
    """Yields what was rotated away after ``last`` before the reader reached ``newer``,
    then ``newer``'s first entries; returns (time of the last entry given, partial record).
    The rotated files are read before ``newer``: if ``newer`` then has no entry yet, it had
    none when they were listed, so it was not among them."""
    missed = _rotated_after(path, last, codec)
    entries, partial = codec.split(newer.read())
    if entries:
        missed = [e for e in missed if e.time < entries[0].time]
    for entry in (*missed, *entries):
        last = entry.time
        yield entry
    return last, partial


def _rotated_after(path: Path, last: str, codec: Codec) -> list[Entry]:
    """The entries of the rotated files that come after ``last``, oldest first. A file
    renamed between listing and reading vanishes: the listing is then taken again (a file
    seen twice gives its entries once)."""
    found: dict[Entry, None] = {}
    for _ in range(10):
        vanished = False
        for candidate in reversed(rotated(path)):  # newest first, back to what was read
            data = _contents(candidate)
            if data is None:
                vanished = True
                continue
            every = codec.split(data)[0]
            found.update(dict.fromkeys(e for e in every if e.time > last))
            if every and every[0].time <= last:
                break  # this one reaches back to `last`: the older ones were read
        if not vanished:
            break
    return sorted(found, key=lambda e: e.time)


def _open_at(path: Path, offset: int):
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    f.seek(offset)
    return f


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return 0


def _replaced(f, path: Path):
    """The new file at ``path`` (opened) when the one ``f`` holds was rotated away; else None
    (also in the instant between the old one's unlink and the new one's creation)."""
    try:
        if os.stat(path).st_ino == os.fstat(f.fileno()).st_ino:
            return None
    except FileNotFoundError:
        return None
    return _open_at(path, 0)
