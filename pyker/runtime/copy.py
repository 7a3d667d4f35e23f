"""``pyker cp``: files between a container's root filesystem and the host, or a tar stream.

As Docker does it (moby ``daemon/archive.go`` and ``pkg/archive/copy.go``), a copy is a tar
archive written on one side and extracted on the other; ``-`` just leaves one side to the
user. The archive's top entry is named after the source as the user wrote it (``etc``, or
``.`` for ``dir/.``: "the content of"), then renamed when the destination says so:

* a source *directory* copied to an existing directory lands inside it (``dest/etc``), its
  *content* (``src/.``) merges into it; to a path that does not exist, it becomes that path;
* a source *file* replaces an existing file, lands inside an existing directory, or becomes
  a new file; ``dest/`` asserts a directory, which must then exist.

A container's tree is untrusted: a symlink ``/evil -> /etc`` in it means the container's
``/etc``, never the host's. Every container path is resolved with
:func:`~pyker.fs.safepath.resolve_in_root` (symlinks followed as if its root were ``/``), then
opened component by component with ``O_NOFOLLOW`` (:func:`~pyker.fs.safepath.open_dir`), and
the archive is extracted by the layer unpacker, which creates nothing through a symlink: a
tree swapped under the copy makes it fail, never leak. The last component of a source is
copied as it is (a symlink stays a symlink) unless ``-L`` follows it or a trailing ``/`` asks
for the directory it names.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pyker.errors import ArchiveError, PykerError
from pyker.fs import safepath
from pyker.fs.pack import Packer, xattr_records
from pyker.fs.unpack import Unpacker
from pyker.image.store import ImageStore
from pyker.runtime.container import Paths, mount_rootfs, unmount_rootfs
from pyker.runtime.state import ContainerStore, Record

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LIVE = ("running", "paused", "restarting")


@dataclass(frozen=True, slots=True, kw_only=True)
class Side:
    """One end of a copy: a path inside ``root`` (a container's rootfs, or ``/``)."""

    root: Path
    path: str            # as the user wrote it, made absolute
    container: str = ""  # the container's name as the user gave it; "" for the host

    def missing(self, path: str) -> PykerError:
        if self.container:
            return PykerError(f"Could not find the file {path} in container {self.container}")
        return PykerError(f"lstat {path}: no such file or directory")

    def label(self) -> str:
        return f"{self.container}:{self.path}" if self.container else self.path


@dataclass(frozen=True, slots=True, kw_only=True)
class _Found:
    parts: tuple[str, ...]   # the resolved path below root, no symlink left in it
    st: os.stat_result | None


def _asserts_dir(path: str) -> bool:
    return path.endswith(("/", "/.")) or path in (".", "")


def _rebase_name(path: str) -> str:
    if path.endswith("/.") or path in ("/", "."):
        return "."
    return path.rstrip("/").rsplit("/", 1)[-1]


def _find(side: Side, *, follow_final: bool) -> _Found:
    host = safepath.resolve_in_root(side.root, side.path, follow_final=follow_final)
    parts = host.relative_to(side.root).parts
    try:
        st = os.lstat(host)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    return _Found(parts=parts, st=st)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    parts: tuple[str, ...]
    is_dir: bool
    rebase: str   # the name of the archive's top entry


def stat_source(side: Side, *, follow: bool) -> Source:
    """What ``side.path`` names, as a copy source.

    Raises:
        PykerError: it does not exist (Docker's message), or ``x/`` names a non-directory.
    """
    found = _find(side, follow_final=follow or _asserts_dir(side.path))
    if found.st is None:
        raise side.missing(side.path)
    is_dir = stat.S_ISDIR(found.st.st_mode)
    if _asserts_dir(side.path) and not is_dir:
        raise PykerError(f"{side.label()}: not a directory")
    return Source(parts=found.parts, is_dir=is_dir, rebase=_rebase_name(side.path))


class _Rebased:
    """A tar writer that puts the entries a :class:`Packer` makes under ``prefix``."""

    def __init__(self, tar: tarfile.TarFile, prefix: str) -> None:
        self.tar, self.prefix = tar, prefix

    def addfile(self, info: tarfile.TarInfo, fileobj: BinaryIO | None = None) -> None:
        info.name = f"{self.prefix}/{info.name}"
        if info.islnk():
            info.linkname = f"{self.prefix}/{info.linkname}"
        self.tar.addfile(info, fileobj)


def _header(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, stat.S_IMODE(st.st_mode)
    info.uid, info.gid, info.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
    return info


def write_archive(side: Side, src: Source, out: BinaryIO) -> None:
    """Write ``src`` (found by :func:`stat_source`) to ``out`` as a tar stream."""
    root_fd = safepath.open_root(side.root)
    try:
        parent = safepath.open_dir(root_fd, src.parts[:-1])
    finally:
        os.close(root_fd)
    leaf = src.parts[-1] if src.parts else "."
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _add_top(tar, parent, leaf, src.rebase, side)
    finally:
        os.close(parent)


def _add_top(tar: tarfile.TarFile, parent: int, leaf: str, name: str, side: Side) -> None:
    """The top entry, with its xattrs as the Packer writes those below it (a file keeps its
    ``security.capability``, as Docker's tar does), then a directory's tree."""
    st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
    here = safepath.proc_path(parent, leaf)  # its last component is never followed
    if stat.S_ISDIR(st.st_mode):
        fd = os.open(leaf, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=parent)
        try:
            info = _header(name, st, tarfile.DIRTYPE)
            info.pax_headers = xattr_records(safepath.proc_path(fd, "."))
            tar.addfile(info)
            packer = Packer(Path(safepath.proc_path(fd)), root_is_upper=False, exclude=None)
            packer.pack(_Rebased(tar, name))  # type: ignore[arg-type]
        finally:
            os.close(fd)
    elif stat.S_ISREG(st.st_mode):
        with open(os.open(leaf, _FILE_FLAGS, dir_fd=parent), "rb") as data:
            now = os.fstat(data.fileno())
            info = _header(name, now, tarfile.REGTYPE)
            info.size = now.st_size
            info.pax_headers = xattr_records(data.fileno())  # the very inode being read
            tar.addfile(info, data)
    elif stat.S_ISLNK(st.st_mode):
        info = _header(name, st, tarfile.SYMTYPE)
        info.linkname = os.readlink(leaf, dir_fd=parent)
        info.pax_headers = xattr_records(here)
        tar.addfile(info)
    elif stat.S_ISFIFO(st.st_mode):
        info = _header(name, st, tarfile.FIFOTYPE)
        info.pax_headers = xattr_records(here)
        tar.addfile(info)
    else:
        raise ArchiveError(side.label(), "a device node or socket cannot be copied")


class _CopyUnpacker(Unpacker):
    """The layer unpacker with Docker's ``cp`` rules instead of a layer's.

    Names are plain (``.wh.x`` is a file here, not a deletion), absolute names are read from
    the destination, a symlink may point anywhere (it is data: nothing here follows it), and
    a directory never silently replaces a file or the reverse (Docker's NoOverwriteDirNonDir).
    """

    def __init__(self, root_fd: int, label: str) -> None:
        super().__init__(root_fd, label)
        self.label = label  # errors name the copy's destination, not a layer

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        self.entries += 1
        member.name = member.name.lstrip("/") or "."
        parts = self._parts(member)
        if not parts:
            return  # the destination directory keeps its own owner and mode
        self._refuse_type_change(parts, member)
        xattrs = self._xattrs(member)
        self._check(member, parts)
        with self._opened_dir(parts[:-1], member) as parent:
            self._create(parent, parts, member, tar, xattrs)

    def _check(self, member: tarfile.TarInfo, parts: tuple[str, ...]) -> None:
        if member.issym():
            if not member.linkname:
                raise ArchiveError(self.label, f'entry "{member.name}" is a symlink to nothing')
            return
        super()._check(member, parts)

    def _refuse_type_change(self, parts: tuple[str, ...], member: tarfile.TarInfo) -> None:
        try:
            parent = safepath.open_dir(self.root_fd, parts[:-1])
        except OSError:
            return  # missing parents are made; a symlink one is refused when opened
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        finally:
            os.close(parent)
        where = "/".join(parts)
        if stat.S_ISDIR(st.st_mode) and not member.isdir():
            raise ArchiveError(self.label, f'cannot overwrite directory "{where}" with '
                               "non-directory")
        if not stat.S_ISDIR(st.st_mode) and member.isdir():
            raise ArchiveError(self.label, f'cannot overwrite non-directory "{where}" with '
                               "directory")


def _renamed(name: str, old: str, new: str) -> str:
    name = name.lstrip("/")
    if name == old or name.startswith(old + "/"):
        return new + name[len(old):]
    return name


def extract(side: Side, parts: tuple[str, ...], stream: BinaryIO, *,
            rename: tuple[str, str] | None = None,
            owner: tuple[int, int] | None = None) -> None:
    """Extract tar ``stream`` into directory ``parts`` of ``side``, which must exist.

    ``rename`` (old, new) renames the top entry; ``owner`` (uid, gid) replaces the archive's.
    """
    root_fd = safepath.open_root(side.root)
    try:
        dest = safepath.open_dir(root_fd, parts)
    except FileNotFoundError:
        raise side.missing("/" + "/".join(parts)) from None
    except OSError as err:
        if err.errno in (errno.ENOTDIR, errno.ELOOP):
            raise PykerError(f"{side.label()}: extraction point is not a directory") from None
        raise
    finally:
        os.close(root_fd)
    try:
        unpacker = _CopyUnpacker(dest, side.label())
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                if rename:
                    member.name = _renamed(member.name, *rename)
                    if member.islnk():
                        member.linkname = _renamed(member.linkname, *rename)
                if owner:
                    member.uid, member.gid = owner
                unpacker.apply(member, tar)
        unpacker.finish()
    finally:
        os.close(dest)


def plan_destination(src: Source, dst: Side) -> tuple[tuple[str, ...], tuple[str, str] | None]:
    """Docker's PrepareArchiveCopy: the directory to extract into, and the rename to apply.

    Raises:
        PykerError: a directory onto a file, a file onto ``missing/``, a missing parent.
    """
    found = _find(dst, follow_final=True)
    if found.st is not None and stat.S_ISDIR(found.st.st_mode):
        return found.parts, None
    if found.st is not None and src.is_dir:
        raise PykerError(f"cannot copy a directory to a file: {dst.label()}")
    if found.st is None and not src.is_dir and _asserts_dir(dst.path):
        raise PykerError(f"no such directory: {dst.label()}")
    if not found.parts:
        raise PykerError(f"{dst.label()}: invalid destination")
    return found.parts[:-1], (src.rebase, found.parts[-1])


def destination_dir(dst: Side) -> tuple[str, ...]:
    """For a tar from stdin: the destination must be an existing directory."""
    found = _find(dst, follow_final=True)
    if found.st is None or not stat.S_ISDIR(found.st.st_mode):
        raise PykerError(f'destination "{dst.label()}" must be a directory')
    return found.parts


def copy(src_side: Side, dst_side: Side, *, follow: bool,
         owner: tuple[int, int] | None) -> None:
    """Copy ``src_side`` to ``dst_side`` through a pipe: one thread writes, this one reads."""
    src = stat_source(src_side, follow=follow)
    into, rename = plan_destination(src, dst_side)
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with open(write_fd, "wb") as out:
                write_archive(src_side, src, out)
        except BaseException as err:  # handed to the reading thread below
            failure.append(err)

    writer = threading.Thread(target=produce, name="pyker-cp-writer")
    writer.start()
    try:
        with open(read_fd, "rb") as stream:
            extract(dst_side, into, stream, rename=rename, owner=owner)
    except BaseException:
        writer.join()
        if failure and not isinstance(failure[0], BrokenPipeError):
            raise failure[0] from None
        raise
    writer.join()
    if failure:
        raise failure[0]


@contextmanager
def container_root(images: ImageStore, containers: ContainerStore,
                   record: Record) -> Iterator[Path]:
    """The container's root filesystem on the host, mounted for the copy if it is not."""
    paths = Paths(root=containers.dir(record.id))
    if os.path.ismount(paths.rootfs):
        yield paths.rootfs
        return
    mount_rootfs(images, images.get(record.image_id), paths)
    try:
        yield paths.rootfs
    finally:
        # Started meanwhile, the container now runs on this very mount: leave it to it.
        if containers.load(record.id).state.status not in _LIVE:
            unmount_rootfs(paths)
