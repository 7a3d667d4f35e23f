"""Blob downloads that survive being killed: ``<data-root>/distribution/downloads/``.

A blob is received into ``<hex>.partial`` while hashing it. A pull killed with SIGKILL leaves
that file, outside the image store (``system check`` never sees it); the next pull of the
same blob asks the registry for the rest (``Range: bytes=<size>-``), hashing what it already
has first, or starts over if the registry answers with the whole blob. Only a blob whose
bytes hash to its digest and count its size is renamed to ``<hex>``, which the pull then
unpacks into the store under the store's lock, and deletes.

Two pulls of one blob at once take turns on ``<hex>.lock`` (flock, released by the kernel if
its holder dies, removed by its holder when done); the second finds the first's finished
file. Files untouched for a week are
swept, so abandoned pulls do not pile up.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from pathlib import Path

from pyker.errors import DigestMismatch, RegistryError
from pyker.registry.api import Repository
from pyker.registry.progress import (
    DOWNLOAD_COMPLETE, DOWNLOADING, VERIFYING, Event, Progress, Throttle,
)
from pyker.spec.digest import CHUNK, hex_of
from pyker.spec.image import Descriptor

MAX_AGE = 7 * 24 * 3600
BLOCK = 1 << 16


class Downloads:
    def __init__(self, root: Path) -> None:
        self.dir = root / "downloads"

    def _sweep(self) -> None:
        cutoff = time.time() - MAX_AGE
        for entry in self.dir.iterdir():
            try:
                if entry.stat().st_mtime >= cutoff:
                    continue
                if entry.suffix == ".lock":
                    with open(entry, "rb") as f:  # a lock still held is someone's current pull
                        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        entry.unlink()
                else:
                    entry.unlink()
            except (BlockingIOError, FileNotFoundError):
                continue

    def path(self, digest: str) -> Path:
        return self.dir / hex_of(digest)

    def discard(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)
        (self.dir / f"{hex_of(digest)}.partial").unlink(missing_ok=True)

    def fetch(self, repo: Repository, desc: Descriptor, ident: str,
              progress: Progress) -> Path:
        """The verified blob ``desc`` from ``repo``, as a file of this directory.

        Raises:
            DigestMismatch: the bytes received hash to another digest or another size;
                nothing of them is kept.
            RegistryError: the registry failed (what was received is kept, to resume).
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        self._sweep()
        done = self.path(desc.digest)
        lock_path = self.dir / f"{hex_of(desc.digest)}.lock"
        lock_fd = self._lock(lock_path)
        try:
            if not (done.is_file() and done.stat().st_size == desc.size):
                self._receive(repo, desc, ident, progress)
            else:
                progress(Event(ident, DOWNLOAD_COMPLETE))
            return done
        finally:
            lock_path.unlink(missing_ok=True)  # still held: a waiter sees it went (_lock)
            os.close(lock_fd)

    @staticmethod
    def _lock(path: Path) -> int:
        """flock ``path``; if its holder removed it meanwhile, lock the new one instead."""
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)

    def _receive(self, repo: Repository, desc: Descriptor, ident: str,
                 progress: Progress) -> None:
        partial = self.dir / f"{hex_of(desc.digest)}.partial"
        what = f"{repo.where}: layer {desc.digest}"
        with open(partial, "a+b") as out:
            h = hashlib.sha256()
            offset = out.tell()
            if offset > desc.size:
                out.truncate(0)
                offset = 0
            out.seek(0)
            while chunk := out.read(CHUNK):  # what an earlier, killed pull received
                h.update(chunk)
            resp, resumed = repo.open_blob(desc.digest, offset)
            if not resumed and offset:
                out.truncate(0)  # the registry sent it all again: start over
                h, offset = hashlib.sha256(), 0
            out.seek(offset)
            report = Throttle(progress, ident, DOWNLOADING, desc.size)
            report(offset)
            size = offset
            try:
                while chunk := resp.read(BLOCK):
                    size += len(chunk)
                    if size > desc.size:
                        break
                    h.update(chunk)
                    out.write(chunk)
                    report(size)
            except OSError as err:
                raise RegistryError(f"{what}: download interrupted at {size} of {desc.size} "
                                    f"bytes: {err.strerror or err}",
                                    registry=repo.transport.registry) from err
            finally:
                resp.raw.close()
            out.flush()
            progress(Event(ident, VERIFYING))
            actual = "sha256:" + h.hexdigest()
            if size < desc.size and size > offset:
                # The answer ended early (a registry restarted): keep it, to resume.
                raise RegistryError(f"{what}: the registry sent {size} of {desc.size} bytes",
                                    registry=repo.transport.registry)
            if size != desc.size or actual != desc.digest:
                partial.unlink()
                if size != desc.size:
                    raise DigestMismatch(f"{what}: size {desc.size} expected, got "
                                         f"{size if size <= desc.size else 'more'}; digest",
                                         desc.digest, actual)
                raise DigestMismatch(what, desc.digest, actual)
            os.fsync(out.fileno())
        os.rename(partial, self.path(desc.digest))
        progress(Event(ident, DOWNLOAD_COMPLETE))
