"""Writing a directory tree as the entries of an OCI layer tar.

After a container ran (``commit``, a build step), its overlay upper directory already *is*
the changeset: the files it changed, overlay's whiteouts for what it deleted. Packing it is
a walk that spells deletions the OCI way: a 0/0 character device ``x`` becomes an empty file
``.wh.x``, and a directory marked ``trusted.overlay.opaque=y`` is followed by
``<dir>/.wh..wh..opq``, as Docker's overlay2 driver writes them.

The tar is reproducible, so that the same tree gives the same diffID and a build cache can
hit: names in sorted order, owners as numbers only (user names are the host's business),
mtimes in whole seconds, no access or change times, hard links found by (device, inode).

Refused, with an error naming the path:

* device nodes, which :mod:`pyker.fs.unpack` would refuse (the runtime makes ``/dev``);
* overlay's renamed directories (``trusted.overlay.redirect``) and metadata-only copies
  (``trusted.overlay.metacopy``): the upper directory then lacks content that still lives in
  a lower layer. pyker mounts with ``redirect_dir=off,metacopy=off`` so that never happens,
  as Docker does when it uses this "native diff".

Sockets are skipped, as GNU tar skips them: a tar cannot hold one, and a socket means
nothing without the process that listened on it.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyker.fs.unpack import IdShift
from pyker.errors import ArchiveError
from pyker.fs import safepath, whiteout
from pyker.fs.unpack import PAX_XATTR

_INCOMPLETE = {"trusted.overlay.redirect": "was renamed by overlay (redirect_dir)",
               "trusted.overlay.metacopy": "is a metadata-only copy (overlay metacopy)"}
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class _Node:
    """One directory entry met by the walk, named relative to its directory's descriptor."""

    dir_fd: int
    name: str
    rel: str  # the path in the tar
    st: os.stat_result

    @property
    def proc(self) -> str:
        """A path to the entry itself, for calls without an ``*at`` form (never followed)."""
        return safepath.proc_path(self.dir_fd, self.name)


class Packer:
    """Adds the entries of tree ``src`` to an open tar, depth first, names sorted."""

    def __init__(self, src: Path, *, root_is_upper: bool,
                 exclude: Callable[[str], bool] | None, shift: IdShift | None = None) -> None:
        self.src = src
        self.shift = shift
        self.root_is_upper = root_is_upper
        self.exclude = exclude
        self.content_size = 0
        self._links: dict[tuple[int, int], str] = {}

    def _header(self, name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
        info = _header(name, st, kind)
        if self.shift is not None:  # a remapped store: owners back to the container's ids
            info.uid = self.shift.container_uid(st.st_uid)
            info.gid = self.shift.container_gid(st.st_gid)
        return info

    def pack(self, tar: tarfile.TarFile) -> None:
        # A stack of open directories with the names left to visit in each: the walk goes by
        # descriptors, so a tree changing under it (a running container) cannot swap a
        # directory for a symlink and lead it out; and a deep tree needs no deep recursion.
        root = os.open(self.src, _DIR_FLAGS & ~os.O_NOFOLLOW)
        stack = [(root, "", self._names(root, ""))]
        try:
            while stack:
                dir_fd, rel_dir, names = stack[-1]
                if not names:
                    os.close(dir_fd)
                    stack.pop()
                    continue
                name = names.pop()
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                self._add(tar, _Node(dir_fd, name, rel_dir + name, st))
                if stat.S_ISDIR(st.st_mode):
                    child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
                    rel_child = f"{rel_dir}{name}/"
                    stack.append((child, rel_child, self._names(child, rel_child)))
        finally:
            for dir_fd, _, _ in stack:
                os.close(dir_fd)

    def _names(self, dir_fd: int, rel_dir: str) -> list[str]:
        """The names in a directory not excluded, last first (the walk pops them)."""
        names = sorted(os.listdir(dir_fd), reverse=True)
        return [n for n in names if self.exclude is None or not self.exclude(rel_dir + n)]

    def _add(self, tar: tarfile.TarFile, node: _Node) -> None:
        mode = node.st.st_mode
        if stat.S_ISSOCK(mode):
            return
        if self.root_is_upper and whiteout.is_whiteout_device(node.st):
            head, _, leaf = node.rel.rpartition("/")
            name = whiteout.whiteout_name(leaf)
            tar.addfile(self._header(f"{head}/{name}" if head else name, node.st, tarfile.REGTYPE))
            return
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            raise ArchiveError(str(self.src),
                               f'"{node.rel}" is a device node: a layer cannot carry one')
        if not stat.S_ISDIR(mode) and node.st.st_nlink > 1:
            first = self._links.setdefault((node.st.st_dev, node.st.st_ino), node.rel)
            if first != node.rel:
                link = self._header(node.rel, node.st, tarfile.LNKTYPE)
                link.linkname = first
                tar.addfile(link)
                return
        self._add_inode(tar, node)

    def _add_inode(self, tar: tarfile.TarFile, node: _Node) -> None:
        """A directory, file, symlink or FIFO, with its xattrs: the first name of an inode."""
        mode = node.st.st_mode
        info = self._header(node.rel, node.st, _TYPES[stat.S_IFMT(mode)])
        info.pax_headers = self._xattrs(node)
        if stat.S_ISLNK(mode):
            info.linkname = os.readlink(node.name, dir_fd=node.dir_fd)
        if not stat.S_ISREG(mode):
            tar.addfile(info)
            if stat.S_ISDIR(mode) and self.root_is_upper and whiteout.is_opaque(node.proc):
                marker = f"{node.rel}/{whiteout.OPAQUE_MARKER}"
                tar.addfile(self._header(marker, node.st, tarfile.REGTYPE))
            return
        info.size = node.st.st_size
        # O_NONBLOCK: should a FIFO have taken the file's place, open must not hang on it.
        fd = os.open(node.name, _FILE_FLAGS, dir_fd=node.dir_fd)
        with open(fd, "rb") as data:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (node.st.st_dev, node.st.st_ino):
                raise ArchiveError(str(self.src), f'"{node.rel}" changed while being written')
            tar.addfile(info, data)
        self.content_size += node.st.st_size

    def _xattrs(self, node: _Node) -> dict[str, str]:
        """PAX records of the entry's xattrs; an incomplete overlay copy-up is refused."""
        names = _xattr_names(node.proc, follow=False)
        incomplete = sorted(_INCOMPLETE.keys() & set(names)) if self.root_is_upper else []
        if incomplete:
            raise ArchiveError(str(self.src), f'"{node.rel}" {_INCOMPLETE[incomplete[0]]}: '
                               "mount with redirect_dir=off,metacopy=off to commit it")
        return _records(node.proc, names, follow=False)


def xattr_records(target: str | int) -> dict[str, str]:
    """PAX records (``SCHILY.xattr.NAME``) of the xattrs of ``target``, sorted by name.

    ``target`` is a descriptor, or a path whose last component is not followed (a symlink's
    own xattrs). Overlay's ``trusted.overlay.*`` are left out: they are a mount's bookkeeping,
    not the file's. The single-file copies (``pyker cp``, a build's COPY) use this too, so a
    file keeps its ``security.capability`` (setcap) and ``user.*`` as it does in a tree.
    """
    follow = isinstance(target, int)  # a descriptor is the file itself: no follow flag
    return _records(target, _xattr_names(target, follow=follow), follow=follow)


def _xattr_names(target: str | int, *, follow: bool) -> list[str]:
    try:
        return os.listxattr(target, follow_symlinks=follow)
    except OSError as err:
        if err.errno == errno.ENOTSUP:  # a filesystem without xattrs
            return []
        raise


def _records(target: str | int, names: list[str], *, follow: bool) -> dict[str, str]:
    records: dict[str, str] = {}
    for attr in sorted(names):
        if attr.startswith(whiteout.OVERLAY_XATTR_PREFIX):
            continue
        value = os.getxattr(target, attr, follow_symlinks=follow)
        # Binary values (security.capability) survive: tarfile writes them back as
        # bytes, with a PAX hdrcharset=BINARY record.
        records[PAX_XATTR + attr] = value.decode("utf-8", "surrogateescape")
    return records


_TYPES = {
    stat.S_IFDIR: tarfile.DIRTYPE,
    stat.S_IFREG: tarfile.REGTYPE,
    stat.S_IFLNK: tarfile.SYMTYPE,
    stat.S_IFIFO: tarfile.FIFOTYPE,
}


def _header(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    """A tar header carrying ``st``'s permissions, owner numbers and mtime (whole seconds)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    return info
