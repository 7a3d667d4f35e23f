"""An OCI image layout directory: ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``.

The store's images live in one such layout (so ``skopeo inspect oci:<data-root>/image`` can
read it), and ``pyker save``/``load`` of OCI archives read and write the same format. Blobs are
content-addressed: a blob is written to a temporary file, its digest checked, then renamed to
its name, so a blob that exists is always complete and correct.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from pyker.errors import BlobNotFound, DigestMismatch, SpecError
from pyker.fs.atomic import TMP_PREFIX, atomic_write, fsync_dir, temp_prefix
from pyker.spec.digest import CHUNK, hex_of, sha256_bytes
from pyker.spec.image import Index, canonical_json, parse_json

LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'


class HashingWriter:
    """A file wrapper that hashes and counts what goes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        import hashlib

        self.raw = raw
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self.raw.write(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self._index: tuple[bytes, Index] | None = None  # the last index.json parsed

    def create(self) -> None:
        self.blobs.mkdir(parents=True, exist_ok=True)
        if not (self.root / "oci-layout").exists():
            atomic_write(self.root / "oci-layout", LAYOUT_VERSION)
        if not (self.root / "index.json").exists():
            self.write_index(Index())

    # -- blobs ------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def put_blob(self, data: bytes) -> str:
        digest = sha256_bytes(data)
        if not self.has_blob(digest):
            atomic_write(self.blob_path(digest), data)
        return digest

    def new_blob_file(self) -> tuple[BinaryIO, Path]:
        """A temporary file in the blob directory, to be finished by :meth:`commit_blob`."""
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), dir=self.blobs)
        return os.fdopen(fd, "wb"), Path(tmp)

    def commit_blob(self, tmp: Path, digest: str) -> None:
        """Give a finished temporary blob its content address (fsync'd, atomic)."""
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        target = self.blob_path(digest)
        if target.exists():
            tmp.unlink()
        else:
            os.rename(tmp, target)
            fsync_dir(self.blobs)

    def ingest(self, stream: BinaryIO, expected: str | None = None, *, what: str = "blob") -> tuple[str, int]:
        """Copy ``stream`` into the store as a blob; refuse it if ``expected`` differs.

        Raises:
            DigestMismatch: the content does not hash to ``expected``.
        """
        out, tmp = self.new_blob_file()
        try:
            with out:
                writer = HashingWriter(out)
                while chunk := stream.read(CHUNK):
                    writer.write(chunk)
            if expected is not None and writer.digest != expected:
                raise DigestMismatch(what, expected, writer.digest)
            self.commit_blob(tmp, writer.digest)
            return writer.digest, writer.size
        finally:
            tmp.unlink(missing_ok=True)

    def verify_blob(self, digest: str) -> str | None:
        """Why the blob is bad (missing, wrong digest), or None when it is sound."""
        import hashlib

        path = self.blob_path(digest)
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except FileNotFoundError:
            return f"blob {digest} is missing"
        actual = "sha256:" + h.hexdigest()
        return None if actual == digest else f"blob {digest} hashes to {actual}"

    def blob_digests(self) -> set[str]:
        return {"sha256:" + p.name for p in self.blobs.iterdir()
                if not p.name.startswith(TMP_PREFIX)}

    def delete_blob(self, digest: str) -> None:
        self.blob_path(digest).unlink(missing_ok=True)

    # -- index ------------------------------------------------------------------------------

    def read_index(self) -> Index:
        """index.json, read from disk each time (another command may have changed it); the
        parse is skipped when its bytes are those parsed last (a build reads it per step)."""
        try:
            data = (self.root / "index.json").read_bytes()
        except FileNotFoundError:
            return Index()
        if self._index is not None and self._index[0] == data:
            return self._index[1]
        index = parse_json(data, str(self.root / "index.json"), Index.from_dict)
        self._index = (data, index)
        return index

    def write_index(self, index: Index) -> None:
        atomic_write(self.root / "index.json", canonical_json(index.to_dict()))

    def read_json(self, digest: str, what: str, parser):
        return parse_json(self.read_blob(digest), f"{what} {digest}", parser)


def copy_layout(src: Path, dst: Path) -> None:
    """Copy a whole layout tree (used to export); ``dst`` must not exist."""
    shutil.copytree(src, dst, symlinks=True)


def read_layout_version(root: Path) -> None:
    """Check that ``root`` holds an OCI layout pyker can read.

    Raises:
        SpecError: ``oci-layout`` is missing or names another version.
    """
    try:
        doc = json.loads((root / "oci-layout").read_bytes())
    except (FileNotFoundError, json.JSONDecodeError) as err:
        raise SpecError(f"{root}: not an OCI image layout (oci-layout: {err})") from err
    if not str(doc.get("imageLayoutVersion", "")).startswith("1."):
        raise SpecError(f"{root}/oci-layout: unsupported imageLayoutVersion {doc!r}")
