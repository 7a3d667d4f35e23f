"""The ``journald`` driver: each line a journal entry, sent over journald's native protocol.

The protocol (systemd's ``sd_journal_send``, what ``systemd-cat`` uses) is one datagram per
entry to ``/run/systemd/journal/socket``: ``KEY=value\\n`` per field, or, for a value holding
a newline, ``KEY\\n`` + its length as a little-endian uint64 + the value + ``\\n``. The fields
are Docker's: ``MESSAGE`` (the line without its newline), ``PRIORITY`` (6 for stdout, 3 for
stderr), ``CONTAINER_ID`` (12 hex digits), ``CONTAINER_ID_FULL``, ``CONTAINER_NAME``,
``CONTAINER_TAG`` and ``SYSLOG_IDENTIFIER`` (the ``tag`` option, ``{{.ID}}`` by default),
``IMAGE_NAME``, ``CONTAINER_PARTIAL_MESSAGE=true`` on a piece of a long line, and the
labels/env options' attributes with their keys upper-cased.

Reading goes through ``journalctl CONTAINER_ID_FULL=<id> -o json`` (Docker links
libsystemd instead; the journal's files are the same).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pyker.runtime.logs import Entry, stamp_of_ns

SOCKET = Path("/run/systemd/journal/socket")
_PRIORITY = {"stdout": b"6", "stderr": b"3"}


def field(key: str, value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    if b"\n" in data:
        return key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key.encode() + b"=" + data + b"\n"


def sanitize_key(key: str) -> str:
    """Docker's sanitizeKeyMod: journal field names are [A-Z0-9_], not starting with _."""
    out = ""
    for ch in key:
        if "a" <= ch <= "z":
            ch = ch.upper()
        elif not ("A" <= ch <= "Z" or "0" <= ch <= "9"):
            ch = "_"
        if out or ch != "_":
            out += ch
    return out


class JournalWriter:
    """Sends each record (from :class:`pyker.runtime.logs.LogWriter`) as one datagram."""

    def __init__(self, fields: dict[str, str], path: Path | None = None) -> None:
        path = path or SOCKET
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self.sock.connect(str(path))
        except OSError as err:
            self.sock.close()
            raise OSError(err.errno, f"connect {path}: {err.strerror}") from None
        self.common = b"".join(field(k, v) for k, v in sorted(fields.items()))

    def encode(self, stream: str, chunk: bytes) -> bytes:
        whole = chunk.endswith(b"\n")
        return b"".join((field("MESSAGE", chunk[:-1] if whole else chunk), b"PRIORITY=",
                         _PRIORITY[stream], b"\n",
                         b"" if whole else b"CONTAINER_PARTIAL_MESSAGE=true\n", self.common))

    def out(self, records: list[bytes]) -> None:
        for datagram in records:
            try:
                self.sock.send(datagram)
            except OSError:  # journald restarting or full: the container goes on, as Docker's
                pass

    def close(self) -> None:
        self.sock.close()


def available(path: Path | None = None) -> str | None:
    """Why entries cannot be sent here, or None."""
    path = path or SOCKET
    if not path.exists():
        return f"journald is not enabled on this host (no socket {path})"
    return None


def _entry(doc: dict) -> Entry:
    message = doc.get("MESSAGE", "")
    if isinstance(message, list):  # journalctl's form of a value that is not UTF-8 text
        message = bytes(message).decode("utf-8", errors="replace")
    partial = doc.get("CONTAINER_PARTIAL_MESSAGE") == "true"
    stream = "stderr" if doc.get("PRIORITY") == "3" else "stdout"
    micros = int(doc.get("__REALTIME_TIMESTAMP", "0"))
    return Entry(message + ("" if partial else "\n"), stream, stamp_of_ns(micros * 1000))


class JournalReader:
    def __init__(self, container_id: str) -> None:
        self.match = f"CONTAINER_ID_FULL={container_id}"
        self.binary = shutil.which("journalctl")
        self._cursor: str | None = None  # the newest entry the last read saw

    def _run(self, *args: str) -> list[dict]:
        proc = subprocess.run([self.binary, "--no-pager", "-o", "json", *args, self.match],
                              capture_output=True, timeout=60)
        return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]

    def read(self, *, tail: int | None = None, since: str = "") -> list[Entry]:
        docs = self._run("-n", "all" if tail is None else str(tail))
        self._cursor = docs[-1].get("__CURSOR", "") if docs else ""
        entries = [_entry(d) for d in docs]
        return [e for e in entries if not since or e.time >= since]

    def end(self) -> str:
        """The cursor of the newest entry (that the last ``read`` saw): ``follow`` starts
        after it."""
        if self._cursor is not None:
            return self._cursor
        docs = self._run("-n", "1")
        return docs[-1].get("__CURSOR", "") if docs else ""

    def follow(self, *, start: str, running: Callable[[], bool],
               interval: float = 0.1) -> Iterator[Entry]:
        where = [f"--after-cursor={start}"] if start else ["-n", "all"]
        proc = subprocess.Popen([self.binary, "--no-pager", "-o", "json", "-f", *where,
                                 self.match], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buf, stopped_at = b"", None
        try:
            while True:
                if sel.select(interval):
                    data = os.read(proc.stdout.fileno(), 65536)
                    if not data:
                        return
                    *lines, buf = (buf + data).split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield _entry(json.loads(line))
                    continue
                # Quiet for an interval: once the container has stopped, what journald had
                # left to show has come (one more quiet interval to be sure), and we end.
                if stopped_at is None and not running():
                    stopped_at = time.monotonic()
                elif stopped_at is not None:
                    return
        finally:
            sel.close()
            proc.terminate()
            proc.wait()
            proc.stdout.close()
