"""A log file that rotates as Docker's ``json-file`` and ``local`` drivers rotate theirs
(moby's ``loggerutils.LogFile``).

The rule, entry by entry: *before* an entry is written, if the current file has already
reached ``max-size``, it is rotated. So a file may pass ``max-size`` by at most one entry (a
line, or a 16 KiB piece of a long one), and is never cut inside one. Rotating renames
``x.log`` to ``x.log.1`` after shifting ``x.log.1`` → ``x.log.2``… and dropping the oldest:
``max-file`` files in all, the current one included. With ``max-file=1`` the current file
is unlinked and started afresh (a reader holding it open reads it to its end). With
``compress`` the rotated ``x.log.1`` is gzipped to ``x.log.1.gz`` and removed.

Docker compresses in a goroutine; the monitor has no threads (it made a PID namespace for
its children, and clone(2) refuses threads after that), so here it is done at once, at
gzip level 1: 2.5-6 ms per MB of json-file log on the course VM (50 ms for local's 20 MB),
paid once per rotation while the container's writes wait in the pipe.
"""

from __future__ import annotations

import os
from pathlib import Path

COMPRESS_LEVEL = 1


class RotatingFile:
    """Appends whole records to ``path``; ``max_size`` < 0 means never rotate."""

    def __init__(self, path: Path, *, max_size: int = -1, max_file: int = 1,
                 compress: bool = False, perms: int = 0o640) -> None:
        self.path, self.max_size, self.max_file = path, max_size, max_file
        self.compress = compress and max_file > 1
        self.perms = perms
        self.fd = self._open(os.O_APPEND)
        self.size = os.fstat(self.fd).st_size

    def _open(self, flags: int) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | flags, self.perms)

    def append(self, records: list[bytes]) -> None:
        if self.max_size < 0:  # the default: one write, no bookkeeping on the hot path
            os.write(self.fd, b"".join(records))
            return
        batch: list[bytes] = []
        size = self.size
        for record in records:
            if size >= self.max_size:
                if batch:
                    os.write(self.fd, b"".join(batch))
                    batch = []
                self.rotate()
                size = 0
            batch.append(record)
            size += len(record)
        if batch:
            os.write(self.fd, b"".join(batch))
        self.size = size

    def rotate(self) -> None:
        os.close(self.fd)
        if self.max_file < 2:
            self.path.unlink(missing_ok=True)
        else:
            ext = ".gz" if self.compress else ""
            self._name(self.max_file - 1, ext).unlink(missing_ok=True)
            for index in range(self.max_file - 1, 1, -1):
                try:
                    os.rename(self._name(index - 1, ext), self._name(index, ext))
                except FileNotFoundError:
                    pass
            os.rename(self.path, self._name(1, ""))
            if self.compress:
                gzip_file(self._name(1, ""))
        self.fd = self._open(os.O_APPEND | os.O_TRUNC)
        self.size = 0

    def _name(self, index: int, ext: str) -> Path:
        return self.path.with_name(f"{self.path.name}.{index}{ext}")

    def close(self) -> None:
        os.close(self.fd)


def gzip_file(path: Path) -> None:
    """``path`` → ``path.gz``, written whole before ``path`` goes: a reader finds one of the
    two complete at any moment (it tries the plain one first)."""
    import gzip

    packed = path.with_name(path.name + ".gz")
    tmp = path.with_name(path.name + ".gz.tmp")
    with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=COMPRESS_LEVEL) as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.chmod(tmp, 0o640)
    os.rename(tmp, packed)
    path.unlink()
