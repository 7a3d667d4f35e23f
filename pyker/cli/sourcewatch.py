"""Whether pyker's source files changed: the fork server asks before every command.

A server that forks stale code would run a pyker that no longer exists on disk, so it steps
down at the first change. inotify(7) answers with one non-blocking read — no event queued,
nothing changed — where walking the ~150 files took 2 ms a command (more under load). A
watch is set on every package directory *before* the server imports anything, so that a
change during its start is seen too. Where inotify is not available (no more watches:
``fs.inotify.max_user_watches``), the newest modification time of the files is compared
instead, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyker.kernel import inotify
from pyker.kernel.inotify import Mask

PACKAGE = Path(__file__).resolve().parent.parent
#: Writes, renames, deletions, creations, attribute changes (``touch``) of the entries.
WATCHED = (Mask.IN_MODIFY | Mask.IN_ATTRIB | Mask.IN_CLOSE_WRITE | Mask.IN_MOVED_FROM
           | Mask.IN_MOVED_TO | Mask.IN_CREATE | Mask.IN_DELETE | Mask.IN_DELETE_SELF
           | Mask.IN_MOVE_SELF | Mask.IN_ONLYDIR)
#: The watched directory itself went away, or events were lost: assume a change.
_ENTRIES = Mask.IN_CREATE | Mask.IN_DELETE | Mask.IN_MOVED_FROM | Mask.IN_MOVED_TO
_ALWAYS = Mask.IN_Q_OVERFLOW | Mask.IN_DELETE_SELF | Mask.IN_MOVE_SELF


def package_dirs(top: Path = PACKAGE) -> list[str]:
    """``top`` and every directory under it but ``__pycache__``."""
    found = [str(top)]
    with os.scandir(top) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                found += package_dirs(Path(entry.path))
    return found


def source_stamp(top: Path = PACKAGE) -> float:
    """The newest mtime among the source files under ``top`` (os.scandir: no pathlib)."""
    newest = 0.0
    for directory in package_dirs(top):
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".py"):
                    newest = max(newest, entry.stat().st_mtime)
    return newest


def matters(mask: Mask, name: str) -> bool:
    """Whether an event changes what a fresh import would load."""
    if mask & _ALWAYS:
        return True
    if mask & Mask.IN_ISDIR:
        # A package added, removed or renamed. Not IN_ATTRIB: a subdirectory's link count
        # changes when its first __pycache__ is made, which changes no source.
        return name != "__pycache__" and bool(mask & _ENTRIES)
    return name.endswith(".py")


class SourceWatch:
    """Made once; :meth:`changed` says whether any source file changed since."""

    def __init__(self, top: Path = PACKAGE) -> None:
        self.top = top
        self._changed = False
        self._fd: int | None = None
        self._stamp = 0.0
        try:
            fd = inotify.init()
        except OSError:
            fd = None
        if fd is not None:
            try:
                for directory in package_dirs(top):
                    inotify.add_watch(fd, directory, WATCHED)
                self._fd = fd
            except OSError:
                os.close(fd)
        if self._fd is None:
            self._stamp = source_stamp(top)

    @property
    def uses_inotify(self) -> bool:
        return self._fd is not None

    def changed(self) -> bool:
        if not self._changed:
            if self._fd is None:
                self._changed = source_stamp(self.top) != self._stamp
            else:
                self._changed = any(matters(mask, name)
                                    for mask, name in inotify.read_events(self._fd))
        return self._changed

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
