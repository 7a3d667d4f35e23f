"""The fork server's request format (pyker/cli/client.py; client.c writes the same bytes)."""

from __future__ import annotations

import pytest

from pyker.cli.client import decode_request, encode_request


def test_a_request_round_trips_bytes_that_are_not_utf8() -> None:
    body = encode_request(["run", "caf\udce9", ""], {b"A": b"1", b"ODD": b"\xff=x"}, 0o27)
    assert body == (b"pyker-fork 2\x0027\x003\x00run\x00caf\xe9\x00\x00A=1\x00ODD=\xff=x\x00")
    assert decode_request(body) == (["run", "caf\udce9", ""],
                                    {"A": "1", "ODD": "\udcff=x"}, 0o27)


def test_entries_without_a_name_or_an_equals_sign_are_skipped_as_os_environ_does() -> None:
    body = b"pyker-fork 2\x0022\x000\x00NOEQUALS\x00=nameless\x00K=v\x00"
    assert decode_request(body) == ([], {"K": "v"}, 0o22)


@pytest.mark.parametrize("body", [
    b"",
    b"pyker-fork 1\x0022\x000\x00",             # another protocol
    b"pyker-fork 2\x0022\x000",                 # cut: no final NUL
    b"pyker-fork 2\x0099\x000\x00",             # umask not octal
    b"pyker-fork 2\x0022\x00two\x00",           # argc not a number
    b"pyker-fork 2\x0022\x005\x00a\x00b\x00",   # more arguments announced than sent
    b"pyker-fork 2\x0022\x00-1\x00",
])
def test_anything_else_is_no_request(body: bytes) -> None:
    assert decode_request(body) is None
