"""Layer tars: unpack one into overlay's native form, or write one from a directory.

An image layer is a tar *changeset* (image-spec ``layer.md``): the files a step added or
changed, and OCI whiteouts for what it deleted. Its *diffID* is the sha256 of the
uncompressed tar, and the image config lists diffIDs. Both ways compute it while the tar
streams by, so a layer read from a pipe (``pyker load < x.tar``) is read once, and a layer
written from a container costs no second read.

pyker keeps unpacked layers in overlay's own spelling of deletions (see
:mod:`pyker.fs.whiteout`), so an unpacked layer is an overlay ``lowerdir`` as it stands and an
upper directory is a layer waiting to be written. The OCI spelling exists only in the tar.

This module is the public face; :mod:`pyker.fs.unpack` holds the unpacking and its security
rules (a layer tar is untrusted input: read them), :mod:`pyker.fs.pack` the writing.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pyker.errors import ArchiveError
from pyker.fs import safepath
from pyker.fs.compression import decompressed
from pyker.fs.pack import Packer
from pyker.fs.unpack import IdShift, Unpacker

CHUNK = 1 << 20
# tarfile's stream mode keeps its buffer as one bytes object, re-sliced at every read and
# grown at every write: a large buffer costs a copy per header. These sizes measured best.
_READ_BUFSIZE = tarfile.RECORDSIZE
_WRITE_BUFSIZE = 1 << 16


@dataclass(frozen=True, slots=True, kw_only=True)
class AppliedLayer:
    diff_id: str  # sha256 of the uncompressed tar
    size: int     # bytes of regular files unpacked (Docker's layer size)
    entries: int  # tar members read


@dataclass(frozen=True, slots=True, kw_only=True)
class WrittenLayer:
    diff_id: str       # sha256 of the tar written
    size: int          # bytes of the tar: with diff_id, the descriptor of an uncompressed blob
    content_size: int  # bytes of regular files (hard links once), as AppliedLayer.size


def apply_layer(stream: BinaryIO, dest: Path, *, name: str,
                shift: IdShift | None = None) -> AppliedLayer:
    """Unpack layer tar ``stream`` (plain or gzip) into ``dest``, in overlay's native form.

    Args:
        stream: read once, to its end, so ``diff_id`` covers every byte (even the zero
            padding after the end-of-archive blocks, which tarfile itself never reads).
        dest: an empty directory, made when missing.
        name: what error messages call the layer.
        shift: owners moved into a user namespace's range (a remapped store).

    Raises:
        LayerEscape: an entry that would write outside ``dest`` or is refused (the rules
            are in :mod:`pyker.fs.unpack`); ``entry`` names it.
        ArchiveError: not a tar, a truncated or corrupt one, an unsupported entry.
        OSError: the kernel's answer to a write (ENOSPC…); security xattrs need root.
    """
    label = f"layer {name}"
    dest.mkdir(mode=0o755, exist_ok=True)
    with decompressed(_Peekable(stream), name=label) as plain:
        reader = _HashingReader(plain)
        root_fd = safepath.open_root(dest)
        try:
            unpacker = Unpacker(root_fd, name, shift)
            _unpack(reader, unpacker)
        finally:
            os.close(root_fd)
        reader.drain()
    return AppliedLayer(diff_id=reader.digest, size=unpacker.size, entries=unpacker.entries)


def write_layer(src: Path, out: BinaryIO, *, root_is_upper: bool = True,
                exclude: Callable[[str], bool] | None = None,
                shift: IdShift | None = None) -> WrittenLayer:
    """Write directory ``src`` to ``out`` as an uncompressed OCI layer tar.

    Args:
        src: an overlay upper directory, or a plain root filesystem.
        out: written in one pass, never sought (a pipe will do).
        root_is_upper: translate overlay's whiteouts and opaque marks into OCI ones; for a
            plain tree, leave it False so a 0/0 device is not taken for a deletion.
        exclude: given each path relative to ``src`` (``dev/null``), true skips it (and, for a
            directory, all it holds).
        shift: a remapped store's mapping: owners are written back as container ids.

    Raises:
        ArchiveError: the tree holds what a layer cannot carry (see :mod:`pyker.fs.pack`).
    """
    sink = _HashingWriter(out)
    packer = Packer(src, root_is_upper=root_is_upper, exclude=exclude, shift=shift)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT,
                      bufsize=_WRITE_BUFSIZE) as tar:
        packer.pack(tar)
    return WrittenLayer(diff_id=sink.digest, size=sink.size, content_size=packer.content_size)


def _unpack(reader: _HashingReader, unpacker: Unpacker) -> None:
    try:
        with _LayerTar.open(fileobj=reader, mode="r|", bufsize=_READ_BUFSIZE) as tar:
            for member in tar:
                unpacker.apply(member, tar)
            _check_end(tar, unpacker.label)
    except tarfile.ReadError as err:
        if "unexpected end of data" in str(err):
            reason = "truncated archive"
        else:
            reason = "not a tar archive" if unpacker.entries == 0 else f"corrupt archive: {err}"
        raise ArchiveError(unpacker.label, reason) from err
    unpacker.finish()


class _Header(tarfile.TarInfo):
    """A TarInfo that records why the archive ended.

    Past the first header, tarfile ends quietly on a missing, short or broken header; only a
    zero block is a proper end, anything else is a truncated or corrupt archive.
    """

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(archive)
        except tarfile.HeaderError as err:
            archive.end = err  # type: ignore[attr-defined]
            raise


class _LayerTar(tarfile.TarFile):
    tarinfo = _Header
    end: tarfile.HeaderError | None = None


def _check_end(tar: _LayerTar, label: str) -> None:
    if isinstance(tar.end, tarfile.EOFHeaderError):  # type: ignore[attr-defined]
        return
    if isinstance(tar.end, (tarfile.EmptyHeaderError,  # type: ignore[attr-defined]
                            tarfile.TruncatedHeaderError)):  # type: ignore[attr-defined]
        raise ArchiveError(label, "truncated archive: no end-of-archive marker")
    raise ArchiveError(label, f"corrupt archive: bad header at offset {tar.offset}")


# -- streams ----------------------------------------------------------------------------------

class _Peekable:
    """A read-only stream with ``peek``, to sniff compression from a pipe or a bare reader."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._head = b""

    def peek(self, n: int = 1) -> bytes:
        while len(self._head) < n:
            chunk = self._raw.read(n - len(self._head))
            if not chunk:
                break
            self._head += chunk
        return self._head

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._raw.read(n)
        if n < 0:
            data, self._head = self._head + self._raw.read(-1), b""
        else:
            data, self._head = self._head[:n], self._head[n:]
        return data


class _HashingReader:
    """Hashes what is read through it: the diffID costs no second read."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class _HashingWriter:
    """Hashes and counts what is written through it (the diffID of the tar being made)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:  # a raw file or pipe may take part of it
            written = self._raw.write(view)
            view = view[written if written is not None else len(view):]
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
