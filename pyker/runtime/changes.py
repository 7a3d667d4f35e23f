"""``pyker diff``: what a container changed in its root filesystem, read from its upper dir.

Overlay already keeps the answer (``Documentation/filesystems/overlayfs.rst``): the upper
directory holds every file the container wrote, a 0/0 character device for each file it
deleted, and the mark ``trusted.overlay.opaque=y`` on a directory it removed and made again.
Whether a written file is *added* (``A``) or *changed* (``C``) depends on whether the image
had it, so each path is looked up in the image's layers, top-most first, as overlay would:
a whiteout ends the search, a non-directory hides all below it, an opaque directory hides
the layers under the one that marks it.

The rules are those of Docker's overlay driver (moby ``pkg/archive/changes.go``):

* a directory copied up only because something under it was written, whose mode, size and
  mtime still equal the image's, is not a change itself; a directory that gained or lost an
  entry is ``C`` (its mtime moved), and the parent of an ``A`` or ``D`` is always listed;
* lines come in walk order: entries of a directory sorted by name, each directory before its
  contents (the layer01 lab: ``C /autre-fichier``, ``C /root``, ``A /root/.ash_history``).

For an opaque directory Docker's overlay driver prints ``D /dir`` even though the directory
exists; pyker prints what the naive diff means: ``C /dir``, ``D`` for each entry of the image's
directory that is gone, then the directory's current entries.

The runtime's own mount points (``/etc/hosts``… as Docker's "init layer") are not changes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyker.fs import whiteout

# What the runtime itself creates as mount points in the upper dir (Docker keeps these in the
# container's "-init" layer, under its read-write layer): never the container's own change.
INIT_PATHS = frozenset({"etc/hosts", "etc/hostname", "etc/resolv.conf", "dev", "proc", "sys"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    kind: str  # "A" added, "C" changed, "D" deleted
    path: str  # absolute inside the container: "/root/.ash_history"

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def is_init_path(rel: str) -> bool:
    """Whether ``rel`` (``etc/hosts``, ``dev/pts``) is one of the runtime's mount points."""
    return any(rel == p or rel.startswith(p + "/") for p in INIT_PATHS)


def lower_stat(lowers: Sequence[Path], parts: tuple[str, ...]) -> os.stat_result | None:
    """``lstat`` of ``parts`` as the image shows it (lowers top-most first), or None.

    The walk is overlay's lookup: in each layer, every ancestor must be a directory; a 0/0
    character device at any level deletes the path; an opaque ancestor hides deeper layers.
    """
    for layer in lowers:
        hides_below = False
        here = layer
        for depth, comp in enumerate(parts):
            here = here / comp
            try:
                st = os.lstat(here)
            except (FileNotFoundError, NotADirectoryError):
                break
            if whiteout.is_whiteout_device(st):
                return None
            if depth == len(parts) - 1:
                return st
            if not stat.S_ISDIR(st.st_mode):
                return None  # a file or symlink in this layer hides everything beneath it
            if whiteout.is_opaque(str(here)):
                hides_below = True
        if hides_below:
            return None
    return None


def _names(lowers: Sequence[Path], parts: tuple[str, ...]) -> set[str]:
    """The names directory ``parts`` holds in the image (the merged view of the lowers)."""
    names: set[str] = set()
    gone: set[str] = set()
    for i, layer in enumerate(lowers):
        if parts and lower_stat(lowers[i:], parts) is None:
            break  # deleted (a whiteout) from this layer down: nothing deeper shows
        d = layer.joinpath(*parts)
        try:
            entries = list(os.scandir(d))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            if e.name in names or e.name in gone:
                continue
            st = e.stat(follow_symlinks=False)
            (gone if whiteout.is_whiteout_device(st) else names).add(e.name)
        if whiteout.is_opaque(str(d)):
            break
    return names


def _same_dir(a: os.stat_result, b: os.stat_result) -> bool:
    # Docker's sameFsTime: a tar round trip keeps whole seconds only.
    same_time = a.st_mtime_ns == b.st_mtime_ns or (
        a.st_mtime_ns // 10**9 == b.st_mtime_ns // 10**9
        and 0 in (a.st_mtime_ns % 10**9, b.st_mtime_ns % 10**9))
    return a.st_mode == b.st_mode and a.st_size == b.st_size and same_time


class _Walk:
    def __init__(self, upper: Path, lowers: Sequence[Path]) -> None:
        self.upper, self.lowers = upper, lowers
        self.out: list[Change] = []
        self.listed: set[tuple[str, ...]] = set()  # directories already printed

    def _emit(self, kind: str, parts: tuple[str, ...]) -> None:
        parent = parts[:-1]
        if kind in "AD" and parent and parent not in self.listed:
            self.out.append(Change(kind="C", path="/" + "/".join(parent)))
            self.listed.add(parent)
        self.out.append(Change(kind=kind, path="/" + "/".join(parts)))

    def directory(self, parts: tuple[str, ...]) -> None:
        host = self.upper.joinpath(*parts)
        for name in sorted(os.listdir(host)):
            child = (*parts, name)
            if not is_init_path("/".join(child)):
                self.entry(child, os.lstat(host / name))

    def entry(self, parts: tuple[str, ...], st: os.stat_result) -> None:
        if whiteout.is_whiteout_device(st):
            if lower_stat(self.lowers, parts) is not None:
                self._emit("D", parts)
            return
        below = lower_stat(self.lowers, parts)
        is_dir = stat.S_ISDIR(st.st_mode)
        host = str(self.upper.joinpath(*parts))
        if is_dir and below is not None and stat.S_ISDIR(below.st_mode):
            if whiteout.is_opaque(host):
                self._opaque(parts)
                return
            if _same_dir(st, below) or self._only_init(parts):
                self.directory(parts)  # copied up for what it holds, unchanged itself
                return
        self._emit("A" if below is None else "C", parts)
        if is_dir:
            self.listed.add(parts)
            self.directory(parts)

    def _only_init(self, parts: tuple[str, ...]) -> bool:
        # /etc copied up by the runtime for its /etc/hosts mount point: its mtime moved, but
        # not by the container (Docker's init layer keeps it out of the diff the same way).
        names = os.listdir(self.upper.joinpath(*parts))
        return bool(names) and all(is_init_path("/".join((*parts, n))) for n in names)

    def _opaque(self, parts: tuple[str, ...]) -> None:
        self._emit("C", parts)
        self.listed.add(parts)
        host = self.upper.joinpath(*parts)
        now = set(os.listdir(host))
        for name in sorted(_names(self.lowers, parts) | now):
            child = (*parts, name)
            if name not in now:
                self.out.append(Change(kind="D", path="/" + "/".join(child)))
                continue
            st = os.lstat(host / name)
            self.out.append(Change(kind="C" if lower_stat(self.lowers, child) else "A",
                                   path="/" + "/".join(child)))
            if stat.S_ISDIR(st.st_mode):
                self.listed.add(child)
                self._fresh(child)

    def _fresh(self, parts: tuple[str, ...]) -> None:
        """Below an opaque directory, the image shows nothing: every entry is new."""
        host = self.upper.joinpath(*parts)
        for name in sorted(os.listdir(host)):
            self.out.append(Change(kind="A", path="/" + "/".join((*parts, name))))
            if stat.S_ISDIR(os.lstat(host / name).st_mode):
                self._fresh((*parts, name))


def diff(upper: Path, lowers: Sequence[Path]) -> list[Change]:
    """The changes of upper dir ``upper`` over image layers ``lowers`` (top-most first)."""
    walk = _Walk(upper, lowers)
    walk.directory(())
    return walk.out


def upper_size(upper: Path) -> int:
    """Bytes of the files a container wrote (Docker's SizeRw): hard links counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for entry in _walk_entries(upper):
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_size
    return total


def _walk_entries(root: Path) -> Iterator[os.DirEntry]:
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            yield entry
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
