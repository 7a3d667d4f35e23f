"""DNS wire format (pyker.network.dns_wire) against messages written by hand from RFC 1035 §4.1.

Each expected message is spelled out byte by byte from the RFC's layout, never produced by
the code under test: header (id, flags, 4 counts), question (labels, type, class), answers
(name pointer 0xC00C, type, class, TTL, rdlength, rdata).
"""

from __future__ import annotations

import random

import pytest

from pyker.network.dns_wire import (CD, MAX_UDP_SIZE, TC, Question, QType, Rcode, WireError,
                                    build_query, build_response, encode_name, labels_of,
                                    parse_message, with_id)

# id 0x1234, flags RD (0x0100), QDCOUNT 1, other counts 0; "web" A IN.
QUERY_WEB_A = (b"\x12\x34" b"\x01\x00" b"\x00\x01" b"\x00\x00" b"\x00\x00" b"\x00\x00"
               b"\x03web\x00" b"\x00\x01" b"\x00\x01")
# id 0xbeef, no flags; "Db.Example.COM." AAAA IN: labels 2, 7, 3.
QUERY_MIXED_AAAA = (b"\xbe\xef" b"\x00\x00" b"\x00\x01" b"\x00\x00\x00\x00\x00\x00"
                    b"\x02Db\x07Example\x03COM\x00" b"\x00\x1c" b"\x00\x01")


def test_parse_query_header_and_question() -> None:
    msg = parse_message(QUERY_WEB_A)
    assert msg is not None
    assert (msg.id, msg.flags, msg.qdcount, msg.ancount, msg.nscount, msg.arcount) == \
        (0x1234, 0x0100, 1, 0, 0, 0)
    assert not msg.is_response and msg.opcode == 0 and msg.rcode == 0
    assert msg.question == Question((b"web",), QType.A, 1)
    assert msg.question.name == "web"


def test_parse_keeps_case_and_key_ignores_it() -> None:
    msg = parse_message(QUERY_MIXED_AAAA)
    assert msg is not None and msg.question is not None
    assert msg.question.labels == (b"Db", b"Example", b"COM")
    assert msg.question.name == "Db.Example.COM"
    assert msg.question.qtype == QType.AAAA
    assert msg.question.key() == (b"db.example.com", 28, 1)
    # encoding gives the question section back byte for byte, case included
    assert msg.question.encode() == QUERY_MIXED_AAAA[12:]


def test_parse_an_upstream_response_with_compressed_answers() -> None:
    # id 0x0042, QR RD RA (0x8180), 1 question, 2 answers; "ex.org" A, answers name = ptr 12
    reply = (b"\x00\x42\x81\x80\x00\x01\x00\x02\x00\x00\x00\x00"
             b"\x02ex\x03org\x00\x00\x01\x00\x01"
             b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x01"
             b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\xc0\x00\x02\x02")
    msg = parse_message(reply)
    assert msg is not None
    assert msg.is_response and msg.rcode == Rcode.NOERROR and msg.ancount == 2
    assert msg.question is not None and msg.question.name == "ex.org"


def test_a_response_with_two_addresses() -> None:
    query = parse_message(QUERY_WEB_A)
    assert query is not None
    expected = (b"\x12\x34" b"\x81\x80" b"\x00\x01" b"\x00\x02" b"\x00\x00" b"\x00\x00"
                b"\x03web\x00\x00\x01\x00\x01"
                # name → offset 12, A, IN, TTL 600 (0x258), rdlength 4, 10.0.0.2
                b"\xc0\x0c" b"\x00\x01" b"\x00\x01" b"\x00\x00\x02\x58" b"\x00\x04"
                b"\x0a\x00\x00\x02"
                b"\xc0\x0c" b"\x00\x01" b"\x00\x01" b"\x00\x00\x02\x58" b"\x00\x04"
                b"\x0a\x00\x00\x03")
    assert build_response(query, Rcode.NOERROR, ["10.0.0.2", "10.0.0.3"]) == expected


def test_nodata_response_echoes_the_question_case() -> None:
    query = parse_message(QUERY_MIXED_AAAA)
    assert query is not None
    # QR RA (0x8080): RD was not asked, so not echoed; NOERROR, no answer
    assert build_response(query) == (b"\xbe\xef\x80\x80\x00\x01\x00\x00\x00\x00\x00\x00"
                                     + QUERY_MIXED_AAAA[12:])


def test_nxdomain_and_servfail_codes() -> None:
    query = parse_message(QUERY_WEB_A)
    assert query is not None
    assert build_response(query, Rcode.NXDOMAIN)[:4] == b"\x12\x34\x81\x83"
    assert build_response(query, Rcode.SERVFAIL)[:4] == b"\x12\x34\x81\x82"


def test_formerr_for_an_unreadable_question_is_a_bare_header() -> None:
    query = parse_message(b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ab")
    assert query is not None and query.question is None
    assert build_response(query, Rcode.FORMERR) == \
        b"\x00\x07\x81\x81\x00\x00\x00\x00\x00\x00\x00\x00"


def test_opcode_and_cd_are_echoed() -> None:
    # opcode 2 (STATUS) = 0x1000, CD = 0x0010
    query = parse_message(b"\x00\x01\x10\x10\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01")
    assert query is not None and query.opcode == 2 and query.flags & CD
    assert build_response(query, Rcode.NOTIMP)[2:4] == b"\x90\x94"  # QR|STATUS|RA|CD|4


def test_answers_that_do_not_fit_512_bytes_are_left_out_without_tc() -> None:
    query = parse_message(QUERY_WEB_A)
    assert query is not None
    many = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(100)]
    out = build_response(query, Rcode.NOERROR, many)
    assert len(out) <= MAX_UDP_SIZE
    ancount = int.from_bytes(out[6:8], "big")
    assert ancount == (512 - 12 - 9) // 16 == 30
    assert len(out) == 12 + 9 + 16 * ancount
    assert not int.from_bytes(out[2:4], "big") & TC


def test_build_response_rejects_what_is_not_ipv4() -> None:
    query = parse_message(QUERY_WEB_A)
    assert query is not None
    with pytest.raises(ValueError):
        build_response(query, Rcode.NOERROR, ["fd00::1"])


def test_build_query_matches_the_rfc_layout() -> None:
    assert build_query(0x1234, Question((b"web",), QType.A)) == QUERY_WEB_A
    assert build_query(0xbeef, Question(labels_of("Db.Example.COM."), QType.AAAA),
                       recursion_desired=False) == QUERY_MIXED_AAAA


def test_with_id_rewrites_only_the_id() -> None:
    assert with_id(QUERY_WEB_A, 0xABCD) == b"\xab\xcd" + QUERY_WEB_A[2:]


def test_labels_of() -> None:
    assert labels_of("web") == (b"web",)
    assert labels_of("a.b.") == (b"a", b"b")
    assert labels_of(".") == () and labels_of("") == ()


def test_root_name_encodes_as_one_zero_byte() -> None:
    assert encode_name(()) == b"\x00"
    msg = parse_message(b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x01")
    assert msg is not None and msg.question == Question((), QType.NS, 1)
    assert msg.question.name == ""


def test_presentation_escapes_dots_and_unprintable_bytes() -> None:
    # one label "a.b" (a dot inside a label) is not the two labels "a", "b"
    assert Question((b"a.b",), QType.A).name == "a\\.b"
    assert Question((b"a", b"b"), QType.A).name == "a.b"
    assert Question((b"x\xff\x00 ",), QType.A).name == "x\\255\\000\\032"
    assert Question((b"back\\slash",), QType.A).name == "back\\\\slash"


@pytest.mark.parametrize("labels", [(b"",), (b"x" * 64,), (b"x" * 63,) * 4])
def test_encode_name_refuses_what_the_wire_cannot_carry(labels: tuple[bytes, ...]) -> None:
    with pytest.raises(WireError):
        encode_name(labels)


def test_longest_name_is_accepted() -> None:
    # 3 labels of 63 and one of 61: 4 + 189 + 61 + 1 = 255 bytes
    labels = (b"a" * 63,) * 3 + (b"b" * 61,)
    assert len(encode_name(labels)) == 255
    header = b"\x00\x09\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    data = header + encode_name(labels) + b"\x00\x01\x00\x01"
    msg = parse_message(data)
    assert msg is not None and msg.question is not None and msg.question.labels == labels


@pytest.mark.parametrize("data", [
    b"",
    b"\x12",
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00",  # 11 bytes: no full header
])
def test_no_header_gives_none(data: bytes) -> None:
    assert parse_message(data) is None


@pytest.mark.parametrize("tail", [
    b"",                                      # QDCOUNT 1 but nothing after the header
    b"\x03we",                                # label cut short
    b"\x03web",                               # no terminating zero
    b"\x03web\x00\x00\x01",                   # class missing
    b"\xc0\x0c\x00\x01\x00\x01",              # compression pointer in the question
    b"\x40abc\x00\x00\x01\x00\x01",           # extended label type 0b01
    b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63 + b"\x3f" + b"a" * 63
    + b"\x3f" + b"a" * 63 + b"\x00\x00\x01\x00\x01",  # 257-byte name
])
def test_malformed_question_gives_none_question(tail: bytes) -> None:
    msg = parse_message(b"\x00\x05\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + tail)
    assert msg is not None and msg.id == 5 and msg.question is None


def test_every_truncation_of_a_query_parses_without_raising() -> None:
    for end in range(len(QUERY_MIXED_AAAA)):
        msg = parse_message(QUERY_MIXED_AAAA[:end])
        assert (msg is None) == (end < 12)
        assert msg is None or msg.question is None


def test_mutated_queries_never_raise() -> None:
    rng = random.Random(4343)
    for _ in range(5000):
        data = bytearray(QUERY_MIXED_AAAA)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.getrandbits(8)
        msg = parse_message(bytes(data))
        assert msg is not None
        build_response(msg, Rcode.FORMERR)


def test_random_garbage_never_raises() -> None:
    rng = random.Random(1035)
    for _ in range(5000):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
        msg = parse_message(data)
        if msg is not None and msg.question is not None:
            # whatever parsed must encode again to the bytes it came from
            assert data[12:12 + len(msg.question.encode())] == msg.question.encode()
            build_response(msg, Rcode.FORMERR)
