"""Reading and writing cgroup files: the one place that talks to cgroupfs.

A cgroup file is a kernel interface, not a file: one ``write(2)`` is one request, and the
kernel's refusal comes back as the errno of that write (``EBUSY`` when a memory limit is
below the current usage, ``EINVAL`` for a malformed value, ``ENOSPC`` when a v1 cpuset is
empty). So a value is written in a single ``os.write`` on a fresh descriptor, never through a
buffered file, and the error names the file and the value as a shell user would see them.

Every writer goes through a :class:`CgroupFiles`; tests inject :class:`RecordingFiles`, which
also keeps the ordered list of ``(path, value)`` written, since the order is part of the
contract (memory before swap when lowering, quota before period...).
"""

from __future__ import annotations

import errno as errno_
import os
from pathlib import Path

from pyker.errors import CgroupError


class CgroupFiles:
    """Reads and writes cgroup files; errors become :class:`CgroupError` naming file and value."""

    def write(self, path: Path, value: str) -> None:
        """Write ``value`` to the cgroup file ``path`` in one write(2).

        Raises:
            CgroupError: the kernel refused; ``errno``, ``path`` and ``value`` are attributes.
        """
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as err:
            raise CgroupError(f'write {path} "{value}": {os.strerror(err.errno or 0)}',
                              path=str(path), value=value, errno=err.errno) from err

    def read(self, path: Path) -> str:
        """The content of ``path`` without its final newline.

        Raises:
            CgroupError: the file cannot be read (missing controller, removed cgroup).
        """
        try:
            with open(path) as f:
                return f.read().rstrip("\n")
        except OSError as err:
            raise CgroupError(f"read {path}: {os.strerror(err.errno or 0)}",
                              path=str(path), errno=err.errno) from err

    def exists(self, path: Path) -> bool:
        return path.exists()

    def mkdir(self, path: Path) -> bool:
        """Create the cgroup directory ``path`` and its parents; True when ``path`` is new."""
        try:
            path.mkdir(parents=True)
            return True
        except FileExistsError:
            return False
        except OSError as err:
            raise CgroupError(f"mkdir {path}: {os.strerror(err.errno or 0)}",
                              path=str(path), errno=err.errno) from err

    def rmdir(self, path: Path) -> None:
        """Remove the cgroup directory ``path``; a missing one is not an error.

        Raises:
            CgroupError: with errno EBUSY while tasks or child cgroups remain.
        """
        try:
            os.rmdir(path)
        except FileNotFoundError:
            return
        except OSError as err:
            raise CgroupError(f"rmdir {path}: {os.strerror(err.errno or 0)}",
                              path=str(path), errno=err.errno) from err


class RecordingFiles(CgroupFiles):
    """Real reads and writes on a fake tree, plus the ordered list of what was written.

    A fake tree is plain files, so a write replaces the content the way a test expects to
    read it back; ``refuse`` scripts a kernel refusal (``{path: errno}``) for the next write
    to that path, which is how the tests exercise the retry paths (cpu period EINVAL...).
    """

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []
        self.refuse: dict[str, int] = {}

    def write(self, path: Path, value: str) -> None:
        err = self.refuse.pop(str(path), None)
        if err is not None:
            raise CgroupError(f'write {path} "{value}": {os.strerror(err)}',
                              path=str(path), value=value, errno=err)
        if not path.exists():
            # A fake tree has only the files a kernel would have: a missing one is ENOENT.
            raise CgroupError(f'write {path} "{value}": {os.strerror(errno_.ENOENT)}',
                              path=str(path), value=value, errno=errno_.ENOENT)
        self.writes.append((str(path), value))
        path.write_text(value)

    def relative(self, root: Path) -> list[tuple[str, str]]:
        """The writes with paths relative to ``root``, for compact assertions."""
        return [(os.path.relpath(p, root), v) for p, v in self.writes]
