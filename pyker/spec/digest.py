"""Content digests (``sha256:<hex>``) as the OCI image spec defines them.

Two digests describe a layer and must not be confused: the *blob digest* is the hash of the
bytes stored (maybe gzip-compressed), the *diffID* is the hash of the uncompressed tar, and
the image config lists diffIDs. The *chain ID* of a stack of layers names the filesystem they
produce together: ``chain(L0) = diffID(L0)``, ``chain(L0..n) = sha256(chain(L0..n-1) + " " +
diffID(Ln))``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import BinaryIO

from pyker.errors import SpecError

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """Digest and size of what is left to read in ``stream``."""
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def validate(digest: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest.

    Raises:
        SpecError: anything else (other algorithms are not supported by this store).
    """
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise SpecError(f"invalid digest {digest!r}: want sha256:<64 hex digits>")
    return digest


def hex_of(digest: str) -> str:
    return validate(digest).split(":", 1)[1]


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """The chain ID of each prefix of a layer stack, bottom first."""
    out: list[str] = []
    for diff_id in diff_ids:
        validate(diff_id)
        out.append(diff_id if not out else sha256_bytes(f"{out[-1]} {diff_id}".encode()))
    return out


def short_id(digest: str, length: int = 12) -> str:
    """Docker's short form: the first 12 hex digits, without the algorithm."""
    return digest.split(":", 1)[-1][:length]
