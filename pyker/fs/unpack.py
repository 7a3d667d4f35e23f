"""Unpacking one layer tar's entries below a directory, refusing whatever would leave it.

A layer tar is untrusted input, and unpacking it must never write outside its directory.
The rules, each checked before the entry touches the disk:

* Every entry is created with ``*at`` calls relative to a descriptor of its parent directory,
  reached by :func:`pyker.fs.safepath.open_dir`: each component is opened with
  ``O_NOFOLLOW``, so a symlink planted by an earlier entry (``a -> /tmp``, then ``a/file``)
  is refused by the kernel itself, and nothing can be swapped between a check and a write.
* Names: ``./x`` is ``x``; a ``..`` that climbs above the layer is refused; so is an absolute
  name. GNU tar and Docker silently strip the leading ``/``, but no honest layer writer
  produces one (the spec's paths are relative), so it is treated as what it looks like.
* Hard links must name a file of this layer already unpacked: a link is made with ``linkat``
  between two descriptors, never through a path that could leave the layer.
* Symlink targets are data, stored as they are; pyker never follows a layer's symlink on the
  host (unpacking walks with ``O_NOFOLLOW``, ``cp`` and ``COPY`` use
  :func:`~pyker.fs.safepath.resolve_in_root`, and the kernel resolves the rest inside the
  container, after pivot_root). An absolute target (``/bin/sh -> /bin/busybox``) is normal
  and means the container's own root. A *relative* target that climbs above the layer's root
  (``evil -> ../../../..``) is refused as a sign of a crafted layer: inside the container it
  would stop at ``/``, so no honest tool writes one; its only use is to trap a host tool
  that follows it.
* Device nodes are refused: a container gets its ``/dev`` from the runtime (as Docker's),
  so an image needs none, and a ``dev/sda`` in a layer is a door to the host's disk.
* ``trusted.overlay.*`` attributes are refused: they are overlay's private metadata, and a
  forged ``redirect`` or ``metacopy`` would make overlay look into other layers.

On any error the caller discards the directory: nothing has been written outside it.

With an :class:`IdShift` (the store of a daemon with ``userns-remap``), every owner is moved
into the subordinate range as the layer is unpacked (Docker's remapped layer store): root's
files become the files of the container's root, an unprivileged uid on the host. A layer
owner outside the range cannot be represented and is refused, as Docker does.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyker.errors import ArchiveError, LayerEscape
from pyker.fs import safepath, whiteout
from pyker.fs.whiteout import Kind
from pyker.spec.runtime import IdMapping

CHUNK = 1 << 20
PAX_XATTR = "SCHILY.xattr."  # how GNU tar, Docker and tarfile carry xattrs in PAX headers

Xattrs = dict[str, bytes]


OVERFLOW_ID = 65534  # /proc/sys/kernel/overflowuid: how an unmapped owner shows in a namespace


@dataclass(frozen=True, slots=True, kw_only=True)
class IdShift:
    """Container ids to host ids through a user namespace's mappings (uid_map lines)."""

    uid_maps: tuple[IdMapping, ...]
    gid_maps: tuple[IdMapping, ...]

    @staticmethod
    def _host(maps: tuple[IdMapping, ...], value: int) -> int | None:
        for m in maps:
            if m.container_id <= value < m.container_id + m.size:
                return m.host_id + value - m.container_id
        return None

    def host_uid(self, uid: int) -> int | None:
        return self._host(self.uid_maps, uid)

    def host_gid(self, gid: int) -> int | None:
        return self._host(self.gid_maps, gid)

    @staticmethod
    def _container(maps: tuple[IdMapping, ...], value: int) -> int:
        for m in maps:
            if m.host_id <= value < m.host_id + m.size:
                return m.container_id + value - m.host_id
        return OVERFLOW_ID

    def container_uid(self, uid: int) -> int:
        """The way back, for packing a layer; an unmapped owner is the kernel's overflow id."""
        return self._container(self.uid_maps, uid)

    def container_gid(self, gid: int) -> int:
        return self._container(self.gid_maps, gid)


class Unpacker:
    """Unpacks tar members one by one below the descriptor of a layer directory.

    Call :meth:`apply` for each member in archive order, then :meth:`finish`; ``size`` and
    ``entries`` count what was unpacked.
    """

    def __init__(self, root_fd: int, name: str, shift: IdShift | None = None) -> None:
        self.root_fd, self.name, self.label = root_fd, name, f"layer {name}"
        self.shift = shift
        self.size = 0
        self.entries = 0
        # Directory metadata waits for the end: adding children changes a directory's mtime,
        # and a read-only mode would stop its children from being written. The last entry
        # for a directory wins.
        self._dirs: dict[tuple[str, ...], tuple[tarfile.TarInfo, Xattrs]] = {}
        self._chown = os.geteuid() == 0  # as tar: only root can give files away

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        self.entries += 1
        parts = self._parts(member)
        kind = whiteout.classify(parts[-1]) if parts else Kind.PLAIN
        if kind is Kind.META:
            return
        if kind is Kind.INVALID:
            raise ArchiveError(self.label, f'entry "{member.name}" is a malformed whiteout')
        if kind is Kind.OPAQUE:
            with self._opened_dir(parts[:-1], member) as fd:
                whiteout.mark_opaque(safepath.proc_path(fd))
            return
        if kind is Kind.WHITEOUT:
            self._whiteout(parts[:-1] + (whiteout.deleted_name(parts[-1]),), member)
            return
        xattrs = self._xattrs(member)
        self._check(member, parts)
        if not parts:  # "./": the layer root's own metadata
            self._dirs[()] = (member, xattrs)
            return
        with self._opened_dir(parts[:-1], member) as parent:
            self._create(parent, parts, member, tar, xattrs)

    def finish(self) -> None:
        """Give directories their metadata, once nothing more is written into them."""
        # Deepest first: a parent's mode may forbid the walk down to its children.
        for parts in sorted(self._dirs, key=len, reverse=True):
            member, xattrs = self._dirs[parts]
            try:
                fd = safepath.open_dir(self.root_fd, parts)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue  # a later entry replaced it; that entry's metadata stands
                raise
            try:
                self._set_meta(safepath.proc_path(fd), member, xattrs)
            finally:
                os.close(fd)
        if self.shift is not None and self._chown:
            self._shift_implicit_dirs()

    def _shift_implicit_dirs(self) -> None:
        """Directories made for an entry whose parent the tar does not list are the host
        root's: give them to the container's root, as the layer's own directories are."""
        uid, gid = self.shift.host_uid(0), self.shift.host_gid(0)
        if uid is None or gid is None:
            return
        for _, dirs, _, fd in os.fwalk(".", dir_fd=self.root_fd):
            for entry in (".", *dirs):
                st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
                if (st.st_uid, st.st_gid) == (0, 0) and stat.S_ISDIR(st.st_mode):
                    os.chown(entry, uid, gid, dir_fd=fd, follow_symlinks=False)

    # -- checks: all before the entry touches the disk ----------------------------------------

    def _escape(self, member: tarfile.TarInfo, reason: str = "escapes the layer") -> LayerEscape:
        return LayerEscape(self.name, member.name, reason)

    def _parts(self, member: tarfile.TarInfo) -> tuple[str, ...]:
        if member.name.startswith("/"):
            raise self._escape(member, "escapes the layer (absolute path)")
        try:
            return safepath.clean_parts(member.name)
        except ValueError:
            raise self._escape(member) from None

    def _link_parts(self, member: tarfile.TarInfo) -> tuple[str, ...]:
        reason = f'escapes the layer (hard link to "{member.linkname}")'
        if member.linkname.startswith("/"):
            raise self._escape(member, reason)
        try:
            parts = safepath.clean_parts(member.linkname)
        except ValueError:
            raise self._escape(member, reason) from None
        if not parts:
            raise self._escape(member, "is a hard link to the layer root")
        return parts

    def _check(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        if member.ischr() or member.isblk():
            raise self._escape(member, "is a device node")
        if not parts and not member.isdir():
            raise self._escape(member, "replaces the layer root")
        if member.issym():
            target = member.linkname
            if not target:
                raise ArchiveError(self.label, f'entry "{member.name}" is a symlink to nothing')
            if not target.startswith("/") and safepath.climbs_out(parts[:-1], target):
                raise self._escape(member, f'escapes the layer (symlink to "{target}")')
        elif member.islnk():
            self._link_parts(member)
        elif not (member.isdir() or member.isreg() or member.isfifo()):
            raise ArchiveError(self.label,
                               f'entry "{member.name}" has unsupported type {member.type!r}')

    def _xattrs(self, member: tarfile.TarInfo) -> Xattrs:
        found: Xattrs = {}
        for key, value in member.pax_headers.items():
            if not key.startswith(PAX_XATTR):
                continue
            attr = key[len(PAX_XATTR):]
            if attr.startswith(whiteout.OVERLAY_XATTR_PREFIX):
                raise self._escape(member, f'carries overlay metadata "{attr}"')
            # tarfile decodes PAX values with surrogateescape: this gives back the raw bytes
            # of binary values such as security.capability.
            found[attr] = value.encode("utf-8", "surrogateescape")
        return found

    # -- writes ---------------------------------------------------------------------------------

    @contextmanager
    def _opened_dir(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> Iterator[int]:
        """Directory ``parts`` (made when missing), or the entry refused if it cannot be."""
        try:
            fd = safepath.open_dir(self.root_fd, parts, create=True)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise self._escape(
                    member, f'escapes the layer (its parent "{err.filename}" is a symlink)'
                ) from err
            if err.errno == errno.ENOTDIR:
                raise ArchiveError(self.label, f'entry "{member.name}": parent '
                                   f'"{err.filename}" is not a directory') from err
            raise
        try:
            yield fd
        finally:
            os.close(fd)

    def _create(self, parent: int, parts: tuple[str, ...], member: tarfile.TarInfo,
                tar: tarfile.TarFile, xattrs: Xattrs) -> None:
        leaf = parts[-1]
        if member.isdir():
            if not _clear(parent, leaf, keep_dir=True):
                os.mkdir(leaf, 0o700, dir_fd=parent)  # private until finish() sets its mode
            self._dirs[parts] = (member, xattrs)
            return
        _clear(parent, leaf)
        if member.isreg():
            self._file(parent, leaf, member, tar, xattrs)
        elif member.issym():
            os.symlink(member.linkname, leaf, dir_fd=parent)
            self._set_link_meta(parent, leaf, member, xattrs)
        elif member.islnk():
            self._hardlink(parent, leaf, member)
        else:
            os.mkfifo(leaf, 0o600, dir_fd=parent)
            self._set_leaf_meta(parent, leaf, member, xattrs)

    def _file(self, parent: int, leaf: str, member: tarfile.TarInfo, tar: tarfile.TarFile,
              xattrs: Xattrs) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with open(os.open(leaf, flags, 0o600, dir_fd=parent), "wb") as out:
            src = tar.extractfile(member)
            assert src is not None  # a regular member always has a data stream
            shutil.copyfileobj(src, out, CHUNK)
            # Metadata after the data: a write clears setuid bits and security.capability.
            out.flush()
            self._set_meta(out.fileno(), member, xattrs)
        self.size += member.size

    def _hardlink(self, parent: int, leaf: str, member: tarfile.TarInfo) -> None:
        target = self._link_parts(member)
        missing = f'escapes the layer (hard link to "{member.linkname}", not in the layer)'
        try:
            tdir = safepath.open_dir(self.root_fd, target[:-1])
        except OSError as err:
            raise self._escape(member, missing) from err
        try:
            os.link(target[-1], leaf, src_dir_fd=tdir, dst_dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError as err:
            raise self._escape(member, missing) from err
        except PermissionError as err:  # linkat(2) answers EPERM for a directory
            raise ArchiveError(self.label, f'entry "{member.name}" is a hard link to '
                               f'directory "{member.linkname}"') from err
        finally:
            os.close(tdir)

    def _whiteout(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        with self._opened_dir(parts[:-1], member) as parent:
            _clear(parent, parts[-1])
            whiteout.make_whiteout(parts[-1], dir_fd=parent)
            self._set_leaf_meta(parent, parts[-1], member, {})

    # -- metadata: owner, then mode (chown clears setuid), then xattrs, then times ------------

    def _owner(self, member: tarfile.TarInfo) -> tuple[int, int]:
        if self.shift is None:
            return member.uid, member.gid
        uid, gid = self.shift.host_uid(member.uid), self.shift.host_gid(member.gid)
        if uid is None or gid is None:
            raise ArchiveError(self.label, f'entry "{member.name}": owner {member.uid}:'
                               f"{member.gid} is outside the remapped range")
        return uid, gid

    def _set_meta(self, target: int | str, member: tarfile.TarInfo, xattrs: Xattrs) -> None:
        """Metadata through a descriptor or a /proc/self/fd path: never a symlink's."""
        if self._chown:
            os.chown(target, *self._owner(member))
        os.chmod(target, member.mode & 0o7777)  # some writers include the type bits
        for attr, value in xattrs.items():
            os.setxattr(target, attr, value)
        os.utime(target, (member.mtime, member.mtime))

    def _set_leaf_meta(self, parent: int, leaf: str, member: tarfile.TarInfo,
                       xattrs: Xattrs) -> None:
        """For a FIFO or a whiteout: opened with O_PATH, since opening a FIFO would block."""
        fd = os.open(leaf, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            self._set_meta(safepath.proc_path(fd), member, xattrs)
        finally:
            os.close(fd)

    def _set_link_meta(self, parent: int, leaf: str, member: tarfile.TarInfo,
                       xattrs: Xattrs) -> None:
        """A symlink's own metadata (its mode means nothing on Linux)."""
        if self._chown:
            os.chown(leaf, *self._owner(member), dir_fd=parent, follow_symlinks=False)
        for attr, value in xattrs.items():
            os.setxattr(safepath.proc_path(parent, leaf), attr, value, follow_symlinks=False)
        os.utime(leaf, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)


def _clear(parent: int, leaf: str, *, keep_dir: bool = False) -> bool:
    """Remove what ``leaf`` is (a later tar entry replaces an earlier one, as tar does).

    Returns whether a directory was kept (with ``keep_dir``: a directory entry over a
    directory merges, as tar does).
    """
    try:
        st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return True
        shutil.rmtree(leaf, dir_fd=parent)  # fd-based: does not follow symlinks inside
    else:
        os.unlink(leaf, dir_fd=parent)
    return False
