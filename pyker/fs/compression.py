"""Read a tarball whatever its compression, as ``docker import``/``load`` accept it.

The format is told by its magic bytes (gzip ``1f 8b``, bzip2 ``BZh``, xz ``fd 37 7a 58 5a
00``, zstd ``28 b5 2f fd``), never by a file name, so stdin works like a file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from pyker.errors import ArchiveError

MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def sniff(head: bytes) -> str | None:
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


@contextmanager
def decompressed(stream: BinaryIO, *, name: str) -> Iterator[BinaryIO]:
    """The uncompressed bytes of ``stream`` (itself when it is not compressed).

    Raises:
        ArchiveError: zstd (no decoder in the standard library), or corrupt compression.
    """
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]
    kind = sniff(buffered.peek(6)[:6])
    if kind is None:
        yield buffered
        return
    if kind == "zstd":
        raise ArchiveError(name, "zstd-compressed archives are not supported; use gzip or none")
    if kind == "gzip":
        import gzip
        opened: BinaryIO = gzip.GzipFile(fileobj=buffered, mode="rb")
    elif kind == "bzip2":
        import bz2
        opened = bz2.BZ2File(buffered, mode="rb")
    else:
        import lzma
        opened = lzma.LZMAFile(buffered, mode="rb")
    try:
        yield _Checked(opened, name, kind)
    finally:
        opened.close()


class _Checked:
    """Turn the decompressors' various exceptions into one ArchiveError naming the file."""

    def __init__(self, raw: BinaryIO, name: str, kind: str) -> None:
        self.raw, self.name, self.kind = raw, name, kind

    def read(self, n: int = -1) -> bytes:
        try:
            return self.raw.read(n)
        except (OSError, EOFError, ValueError) as err:
            raise ArchiveError(self.name, f"corrupt {self.kind} data: {err}") from err
