"""Digests, diffIDs and chain IDs as the OCI image spec defines them."""

import hashlib
import io

import pytest

from pyker.errors import SpecError
from pyker.spec.digest import chain_ids, hex_of, sha256_bytes, sha256_stream, short_id, validate


def test_sha256_of_bytes_and_stream_agree():
    data = b"x" * 3_000_000
    assert sha256_bytes(data) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert sha256_stream(io.BytesIO(data)) == (sha256_bytes(data), len(data))


def test_chain_ids_follow_the_spec():
    a, b, c = (sha256_bytes(x) for x in (b"a", b"b", b"c"))
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([]) == []


@pytest.mark.parametrize("bad", ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "G" * 64, 42, ""])
def test_validate_refuses_malformed(bad):
    with pytest.raises(SpecError, match="invalid digest"):
        validate(bad)


def test_short_and_hex():
    d = "sha256:" + "0123456789ab" + "f" * 52
    assert short_id(d) == "0123456789ab"
    assert hex_of(d) == d[7:]
