"""COPY and ADD: host files written into a mounted image, one layer per instruction.

No process is needed: :func:`pyker.build.steps.mounted` gives the image on a scratch overlay
and the files are written through it, as one tar stream handed to the layer unpacker
(:class:`pyker.fs.unpack.Unpacker`) and its rules: nothing is created through a symlink,
nothing outside the mount, an entry with ``..`` or an absolute name is refused with its name.
Writing through the mounted image, rather than into an empty directory, lets a destination
go through the image's own symlinks (``/bin -> usr/bin``) and keeps the metadata of the
directories a copy lands in (``/tmp`` stays 1777).

Each file keeps its xattrs (``security.capability`` set by setcap, ``user.*``) as PAX records,
as Docker's tar does: the same reader as for a layer (:func:`pyker.fs.pack.xattr_records`).
"""

from __future__ import annotations

import os
import stat
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pyker.errors import BuildError, LayerEscape
from pyker.fs import safepath
from pyker.fs.compression import decompressed, sniff
from pyker.fs.pack import xattr_records
from pyker.fs.unpack import Unpacker

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyItem:
    """One host path to copy, and where: ``dest`` is a path in the image (absolute)."""

    host: Path
    dest: str
    contents: bool  # a directory whose *contents* go into dest (COPY dir /x)


# -- COPY / ADD ----------------------------------------------------------------------------

def plan_copy(sources: list[list[Path]], dest: str, rootfs: Path) -> list[CopyItem]:
    """Docker's destination rules for the resolved ``sources`` (one list per source word).

    A directory source copies its contents into ``dest``. A file goes *into* ``dest`` when
    ``dest`` ends with ``/``, is an existing directory of the image, or when there are
    several files; otherwise it *becomes* ``dest``.

    Raises:
        BuildError: several sources and a destination that is not a directory.
    """
    flat = [p for found in sources for p in found]
    into_dir = dest.endswith("/") or len(flat) > 1
    if len(flat) > 1 and not dest.endswith("/"):
        target = safepath.resolve_in_root(rootfs, dest)
        if not target.is_dir():
            raise BuildError("When using COPY with more than one source file, the "
                             "destination must be a directory and end with a /")
    existing_dir = safepath.resolve_in_root(rootfs, dest).is_dir()
    items = []
    for host in flat:
        if host.is_dir() and not host.is_symlink():
            items.append(CopyItem(host=host, dest=dest, contents=True))
        elif into_dir or existing_dir:
            items.append(CopyItem(host=host, dest=dest.rstrip("/") + "/" + host.name,
                                  contents=False))
        else:
            items.append(CopyItem(host=host, dest=dest, contents=False))
    return items


@dataclass(frozen=True, slots=True, kw_only=True)
class Owner:
    uid: int = 0
    gid: int = 0
    mode: int | None = None  # --chmod, for every entry copied


def owner(rootfs: Path, chown: str, chmod: str) -> Owner:
    """``--chown`` resolved in the image's passwd/group; a user alone gives its uid as the
    gid too (Docker's rule); ``--chmod`` as octal.

    Raises:
        BuildError: an unknown user or group, a malformed mode.
    """
    from pyker.errors import UsageError
    from pyker.runtime.users import resolve

    mode = None
    if chmod:
        try:
            mode = int(chmod, 8)
        except ValueError:
            raise BuildError(f'invalid --chmod "{chmod}": want an octal mode') from None
    if not chown:
        return Owner(mode=mode)
    try:
        found = resolve(rootfs, chown)
    except UsageError as err:
        raise BuildError(f"--chown={chown}: {err}") from err
    gid = found.gid if ":" in chown else found.uid
    return Owner(uid=found.uid, gid=gid, mode=mode)


def copy_into(rootfs: Path, found: list[list[Path]], dest: str, walk, owner: Owner, *,
              extract: bool) -> None:
    """COPY (or ADD, ``extract``: local archives are unpacked into ``dest``)."""
    if extract:
        archives = [p for paths in found for p in paths if is_archive(p)]
        found = [[p for p in paths if p not in archives] for paths in found]
        for archive in archives:
            extract_archive(rootfs, archive, dest, owner if owner.uid or owner.gid else None)
        found = [paths for paths in found if paths]
        if not found:
            return
    write_items(rootfs, plan_copy(found, dest, rootfs), walk, owner)


def write_items(rootfs: Path, items: list[CopyItem], walk, owner: Owner) -> None:
    """Copy ``items`` below the mounted ``rootfs``; ``walk(path)`` lists a source tree (the
    context's own walk, which honours .dockerignore and never enters a symlink)."""
    made: set[tuple[str, ...]] = set()
    with tempfile.TemporaryFile() as spool:
        with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for item in items:
                base = _dest_parts(rootfs, item.dest, follow_final=item.contents)
                if owner.uid or owner.gid:
                    _add_missing_dirs(tar, rootfs, base if item.contents else base[:-1],
                                      owner, made)
                if item.contents:
                    for path in walk(item.host):
                        rel = path.relative_to(item.host).as_posix()
                        if rel != ".":
                            _add_entry(tar, path, "/".join((*base, rel)), owner)
                else:
                    _add_entry(tar, item.host, "/".join(base), owner)
        spool.seek(0)
        _unpack_into(rootfs, spool, "COPY")


def _dest_parts(rootfs: Path, dest: str, *, follow_final: bool) -> tuple[str, ...]:
    """``dest`` with the image's symlinks resolved inside the image, as components (its last
    one too for a directory to copy into; a file being replaced is not followed)."""
    if follow_final:
        return safepath.resolve_in_root(rootfs, dest).relative_to(rootfs).parts
    parent, _, leaf = dest.rstrip("/").rpartition("/")
    resolved = safepath.resolve_in_root(rootfs, parent or "/")
    parts = resolved.relative_to(rootfs).parts
    return (*parts, leaf) if leaf else tuple(parts)


def _add_missing_dirs(tar: tarfile.TarFile, rootfs: Path, parts: tuple[str, ...],
                      owner: Owner, made: set[tuple[str, ...]]) -> None:
    """The directories a COPY creates to reach its destination, owned by --chown, mode 0755
    (``COPY --chown=1000 dir /srv/new``: /srv/new is 1000's), as BuildKit and buildah do,
    and the classic builder for a file's parents (moby's MkdirAllAndChownNew). Existing
    ones keep their owner. ``parts`` is resolved already: a plain lstat is enough."""
    for depth in range(1, len(parts) + 1):
        prefix = parts[:depth]
        if prefix in made:
            continue
        try:
            os.lstat(rootfs.joinpath(*prefix))
            continue  # exists: its owner is the image's, and the unpacker's checks apply
        except FileNotFoundError:
            pass
        made.add(prefix)
        info = tarfile.TarInfo("/".join(prefix))
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        info.uid, info.gid, info.mtime = owner.uid, owner.gid, int(time.time())
        tar.addfile(info)


def _add_entry(tar: tarfile.TarFile, path: Path, name: str, owner: Owner) -> None:
    st = os.lstat(path)
    info = tarfile.TarInfo(name)
    info.uid, info.gid, info.mtime = owner.uid, owner.gid, int(st.st_mtime)
    info.mode = owner.mode if owner.mode is not None else stat.S_IMODE(st.st_mode)
    if stat.S_ISSOCK(st.st_mode):
        return  # sockets are skipped, as tar skips them
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise BuildError(f"cannot copy {path}: a device node")
    if stat.S_ISREG(st.st_mode):
        # O_NOFOLLOW: a file swapped for a symlink since the walk is refused, not followed.
        with open(os.open(path, _FILE_FLAGS), "rb") as f:
            info.size = os.fstat(f.fileno()).st_size
            info.pax_headers = xattr_records(f.fileno())  # the very inode being read
            tar.addfile(info, f)
        return
    info.pax_headers = xattr_records(str(path))  # the entry's own, never a link's target
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    else:
        info.type = tarfile.FIFOTYPE
    tar.addfile(info)


def _unpack_into(rootfs: Path, stream: BinaryIO, label: str) -> None:
    root_fd = safepath.open_root(rootfs)
    try:
        unpacker = Unpacker(root_fd, label)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                unpacker.apply(member, tar)
        unpacker.finish()
    finally:
        os.close(root_fd)


def is_archive(path: Path) -> bool:
    """A local file ADD extracts: a tar, plain or compressed (gzip, bzip2, xz, zstd)."""
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(512)
    if sniff(head) is not None:
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def extract_archive(rootfs: Path, archive: Path, dest: str, owner: Owner | None) -> None:
    """ADD's automatic extraction of a local tar into directory ``dest`` of the image.

    Each entry is checked *before* it is placed under ``dest``: a name with ``..`` that
    climbs above the archive's root, or an absolute one, is refused with its name.

    Raises:
        BuildError: a refused entry, or a broken archive.
    """
    base = _dest_parts(rootfs, dest, follow_final=True)
    prefix = "/".join(base)
    with tempfile.TemporaryFile() as spool:
        try:
            with open(archive, "rb") as raw, decompressed(raw, name=archive.name) as plain, \
                    tarfile.open(fileobj=plain, mode="r|") as src, \
                    tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as out:
                for member in src:
                    _check_archive_name(archive.name, member.name)
                    if member.islnk():
                        _check_archive_name(archive.name, member.linkname)
                        member.linkname = _joined(prefix, member.linkname)
                    member.name = _joined(prefix, member.name)
                    if owner is not None:
                        member.uid, member.gid = owner.uid, owner.gid
                    out.addfile(member, src.extractfile(member) if member.isreg() else None)
        except tarfile.TarError as err:
            raise BuildError(f"ADD {archive.name}: not a readable archive: {err}") from err
        spool.seek(0)
        try:
            _unpack_into(rootfs, spool, f"ADD {archive.name}")
        except LayerEscape as err:
            raise BuildError(f'ADD {archive.name}: entry "{err.entry}" refused: '
                             f"{err.reason}") from err


def _check_archive_name(archive: str, name: str) -> None:
    try:
        if name.startswith("/"):
            raise ValueError(name)
        safepath.clean_parts(name)
    except ValueError:
        raise BuildError(f'ADD {archive}: entry "{name}" is outside the destination '
                         "directory (a \"..\" or absolute path): refused") from None


def _joined(prefix: str, name: str) -> str:
    rel = "/".join(safepath.clean_parts(name))
    return f"{prefix}/{rel}" if prefix and rel else (prefix or rel or ".")
