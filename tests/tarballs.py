"""Tarballs made in memory for the tests: one entry helper, one archive writer."""

from __future__ import annotations

import io
import tarfile

MTIME = 1_700_000_000


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", *,
          mode: int | None = None, linkname: str = "", uid: int = 0, gid: int = 0,
          dev: tuple[int, int] = (0, 0), xattrs: dict[str, bytes] | None = None,
          pax: dict[str, str] | None = None) -> tuple[tarfile.TarInfo, bytes]:
    """One member: a file by default; ``kind`` a tarfile type (DIRTYPE, SYMTYPE, …)."""
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = kind, linkname, MTIME
    info.mode = mode if mode is not None else (0o755 if kind == tarfile.DIRTYPE else 0o644)
    info.uid, info.gid = uid, gid
    info.devmajor, info.devminor = dev
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.pax_headers = dict(pax or {})
    for key, value in (xattrs or {}).items():
        info.pax_headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    return info, data


def tar_bytes(*entries: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def tar_of(files: dict[str, bytes]) -> bytes:
    """A tar of regular files, from a name → content mapping."""
    return tar_bytes(*(entry(name, data=data) for name, data in files.items()))
