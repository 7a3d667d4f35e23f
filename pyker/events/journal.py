"""The event journal: ``<data-root>/events/``, one JSON line per event, bounded.

pyker has no daemon to keep Docker's ring of recent events in memory, so every command and
every container monitor appends its events to a file that ``pyker events`` reads and follows.

**Appending** takes the journal's lock (``flock(2)`` on ``events/lock``), reads the clock,
writes the line with a single ``write(2)`` to a file opened ``O_APPEND`` and lets the lock
go. The clock is read under the lock, so the order of the lines is the order of the times:
``--since`` replays events in the order they happened, whichever process wrote them. There
is no fsync: an event is a log line, not state a crash could leave inconsistent, and a
``run`` must not wait for the disk (an append costs some tens of microseconds).

**Bounded.** When the current generation (``events.jsonl``) reaches :data:`MAX_BYTES`, the
appender that crossed the bound renames it, still under the lock, to ``events.1.jsonl``
(replacing the generation before it): at most two generations, ~1 MiB in all (Docker keeps
256 events; here a few thousand). Readers open both generations under the lock in shared
mode, so they never see one renamed between the two opens.

**Following** polls the current file (a stat every :data:`POLL` seconds: inotify would save
the polls but not the code to follow a rename). A rotation shows as a new inode at the
path; the old generation is read to its end first — once renamed, no appender writes to it,
as appenders open the path under the lock — then the new one from its start. Two rotations
between two polls leave the generation in between as ``events.1.jsonl``, read whole before
the new current one; only a burst of three or more generations (thousands of events in one
poll) loses the middle ones, as a bounded journal must.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pyker.events.wire import document, encode

if TYPE_CHECKING:
    from pyker.events.message import Event

CURRENT = "events.jsonl"
PREVIOUS = "events.1.jsonl"
LOCK = "lock"
MAX_BYTES = 512 << 10   # per generation: two generations, at most ~1 MiB
POLL = 0.1              # seconds between two looks at a followed journal

Clock = Callable[[], int]


def _open(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _read_to_end(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(lines: list[bytes]) -> Iterator[Event]:
    from pyker.events.message import BadEvent, Event

    for line in lines:
        if line.strip():
            try:
                yield Event.from_json(line)
            except BadEvent:
                continue  # a line torn by a crash mid-write: the next ones are whole


class Journal:
    """The event journal of one data root (``Journal.of(data_root)``)."""

    def __init__(self, directory: str | os.PathLike[str], *,
                 max_bytes: int = MAX_BYTES) -> None:
        # Plain strings: an append is on the hot path of ``run``, where building Path
        # objects cost as much as the system calls.
        self.dir = os.fspath(directory)
        self.path = os.path.join(self.dir, CURRENT)
        self.previous = os.path.join(self.dir, PREVIOUS)
        self.lock_path = os.path.join(self.dir, LOCK)
        self.max_bytes = max_bytes

    @classmethod
    def of(cls, data_root: str | os.PathLike[str]) -> Journal:
        return cls(os.path.join(os.fspath(data_root), "events"))

    # -- writing ---------------------------------------------------------------------------

    def append(self, event_type: str, action: str, actor_id: str,
               attributes: dict[str, str] | None = None, *,
               clock: Clock = time.time_ns) -> dict[str, object]:
        """Record one event now: its Docker JSON document. The journal is rotated when it
        passes ``max_bytes``.

        Raises:
            OSError: the journal cannot be written (``open …/events/events.jsonl``).
        """
        try:
            lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            os.makedirs(self.dir, exist_ok=True)
            lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            doc = document(event_type, action, actor_id, dict(attributes or {}), clock())
            data = (encode(doc) + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                         0o644)
            try:
                written = os.write(fd, data)
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            if written != len(data):  # a full disk: a torn line, which readers skip
                raise OSError(f"write {self.path}: short write ({written} of {len(data)})")
            if size >= self.max_bytes:
                os.replace(self.path, self.previous)
        finally:
            os.close(lock_fd)  # releases the lock
        return doc

    # -- reading ---------------------------------------------------------------------------

    @contextmanager
    def _shared(self) -> Iterator[None]:
        """The lock in shared mode: no append, hence no rotation, while it is held. A reader
        that cannot open the lock (no journal yet, a read-only store) reads without it."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def read(self, *, since: int | None = None, until: int | None = None) -> list[Event]:
        """The events of both generations, oldest first, with ``since <= timeNano <= until``
        (nanoseconds since the epoch; None: no bound)."""
        with self._shared():
            fds = [fd for fd in (_open(self.previous), _open(self.path)) if fd is not None]
        data = b""
        try:
            for fd in fds:
                data += _read_to_end(fd)
        finally:
            for fd in fds:
                os.close(fd)
        return [e for e in _parse(data.split(b"\n")) if _within(e, since, until)]

    def stream(self, *, since: int | None = None, until: int | None = None,
               poll: float = POLL, clock: Clock = time.time_ns,
               sleep: Callable[[float], None] = time.sleep) -> Iterator[Event]:
        """Docker's event stream: with ``since`` or ``until``, the recorded events between
        them first (all of them up to ``until`` without ``since``); then, unless ``until``
        has passed, the events as they are appended, until ``until`` (forever without it).
        """
        replay = since is not None or until is not None
        with self._shared():
            old = _open(self.previous)
            fd = _open(self.path)
            if fd is not None and not replay:
                os.lseek(fd, 0, os.SEEK_END)
        replayed = _read_to_end(old).split(b"\n") if old is not None and replay else []
        if fd is None and old is not None:
            # No current generation yet: follow the previous one, read to its end and held
            # open, so that its inode, which tells the generations apart, stays its own.
            os.lseek(old, 0, os.SEEK_END)
            fd, old = old, None
        if old is not None:
            os.close(old)
        tail = _Tail(fd)
        try:
            yield from self._matching(replayed, since, until)
            while True:
                if until is not None and clock() > until:
                    # Under the lock: an append timed before now has been written.
                    yield from self._matching(self._catch_up(tail), since, until)
                    return
                yield from self._matching(tail.lines(), since, until)
                inode = _inode(self.path)
                if inode is not None and inode != tail.inode:
                    yield from self._matching(self._catch_up(tail), since, until)
                sleep(poll)
        finally:
            tail.close()

    def _catch_up(self, tail: _Tail) -> list[bytes]:
        """Under the lock, what was appended and ``tail`` has not read: the end of its
        generation and, if the journal was rotated (or created) since, a whole generation
        it missed (two rotations between two polls) and the new current one, which ``tail``
        follows from then on."""
        with self._shared():
            lines = tail.lines()
            inode = _inode(self.path)
            if inode is None or inode == tail.inode:
                return lines
            missed = _open(self.previous)
            if missed is not None:
                # The file tail reads is open, so no other file has its inode: a previous
                # generation that is another file came after it, and is unread.
                if os.fstat(missed).st_ino != tail.inode:
                    lines += _read_to_end(missed).split(b"\n")
                os.close(missed)
            current = _open(self.path)
            if current is not None:
                tail.reopen(current)
                lines += tail.lines()
        return lines

    @staticmethod
    def _matching(lines: list[bytes], since: int | None,
                  until: int | None) -> Iterator[Event]:
        return (e for e in _parse(lines) if _within(e, since, until))


def _within(event: Event, since: int | None, until: int | None) -> bool:
    return ((since is None or event.time_nano >= since)
            and (until is None or event.time_nano <= until))


class _Tail:
    """The generation of the journal being followed: its open file, a line not yet whole."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.inode = os.fstat(fd).st_ino if fd is not None else None
        self.carry = b""

    def lines(self) -> list[bytes]:
        if self.fd is None:
            return []
        *whole, self.carry = (self.carry + _read_to_end(self.fd)).split(b"\n")
        return whole

    def reopen(self, fd: int) -> None:
        self.close()
        self.fd, self.carry, self.inode = fd, b"", os.fstat(fd).st_ino

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
