"""DNS messages on the wire (RFC 1035 §4.1): what the embedded DNS server reads and writes.

A message is a 12-byte header (id, flags, four section counts), then the question, answer,
authority and additional sections. A name is a sequence of labels, each a length byte (at
most 63) and that many bytes, ended by a zero byte; 255 bytes in all at most. A resource
record is a name, type, class, TTL and length-prefixed data (4 bytes for an A record)::

    header    id:16  QR:1 Opcode:4 AA:1 TC:1 RD:1 RA:1 Z:1 AD:1 CD:1 RCODE:4
              QDCOUNT:16 ANCOUNT:16 NSCOUNT:16 ARCOUNT:16
    question  QNAME  QTYPE:16 QCLASS:16
    answer    NAME   TYPE:16 CLASS:16 TTL:32 RDLENGTH:16 RDATA

The server only needs a query's header and its one question: answers it forwards are passed
on as raw bytes, so compressed names (§4.1.4) in answer sections are never parsed. Parsing
never raises: a datagram of garbage gives ``None`` or a :class:`Message` without a question,
which the server answers with FORMERR (or drops), so one bad packet cannot stop it.

See RFC 1035 §3.2 and §4, RFC 4343 (names are compared without regard to ASCII case).
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_A_RECORD = struct.Struct("!HHHIH4s")  # name pointer, type, class, TTL, rdlength, address

QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
CD = 0x0010
OPCODE_QUERY = 0
CLASS_IN = 1
CLASS_ANY = 255  # QCLASS "*" (§3.2.5)
# Docker's embedded DNS gives its records a 600 s TTL (libnetwork resolver.go, respTTL).
TTL = 600
# A UDP answer without EDNS(0) must fit in 512 bytes (RFC 1035 §4.2.1).
MAX_UDP_SIZE = 512
# The question's name always starts right after the header: answers point back to it
# (a compression pointer, §4.1.4) instead of repeating it.
_POINTER_TO_QNAME = 0xC000 | HEADER.size


class Rcode(enum.IntEnum):
    """Response codes (RFC 1035 §4.1.1)."""

    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5


class QType(enum.IntEnum):
    """The query types the server tells apart; any other 16-bit value is still accepted."""

    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    MX = 15
    TXT = 16
    AAAA = 28
    SRV = 33
    ANY = 255


class WireError(ValueError):
    """Bytes that are not a well-formed part of a DNS message (used inside this module, and
    raised by :meth:`Question.encode` for a name that cannot be written)."""


@dataclass(frozen=True, slots=True)
class Question:
    """One entry of the question section: the name as its raw labels, type and class.

    Labels stay bytes so that a name is written back exactly as it was asked (resolvers that
    randomise the case of a query, "DNS 0x20", check that the answer echoes it).
    """

    labels: tuple[bytes, ...]
    qtype: int
    qclass: int = CLASS_IN

    @property
    def name(self) -> str:
        """The name in presentation format, without the trailing dot ("" for the root).

        A dot or backslash inside a label is escaped, and a byte outside printable ASCII is
        written ``\\DDD`` (RFC 1035 §5.1), so that two different names never read alike.
        """
        return ".".join(_present(label) for label in self.labels)

    def key(self) -> tuple[bytes, int, int]:
        """What identifies the question regardless of case (RFC 4343): lowercased labels."""
        return b".".join(label.lower() for label in self.labels), self.qtype, self.qclass

    def encode(self) -> bytes:
        """The question section entry.

        Raises:
            WireError: a label longer than 63 bytes, an empty label, or a name over 255.
        """
        return encode_name(self.labels) + _QUESTION_TAIL.pack(self.qtype, self.qclass)


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed header, and the first question when it could be read (else None)."""

    id: int
    flags: int
    qdcount: int
    ancount: int
    nscount: int
    arcount: int
    question: Question | None

    @property
    def is_response(self) -> bool:
        return bool(self.flags & QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def _present(label: bytes) -> str:
    out = []
    for byte in label:
        char = chr(byte)
        if char in ".\\":
            out.append("\\" + char)
        elif 0x21 <= byte <= 0x7E:
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def encode_name(labels: Sequence[bytes]) -> bytes:
    """A name as length-prefixed labels ended by the root's zero byte (§3.1).

    Raises:
        WireError: a label empty or over 63 bytes, or the whole name over 255 bytes.
    """
    out = bytearray()
    for label in labels:
        if not 0 < len(label) <= 63:
            raise WireError(f"label {label!r}: length {len(label)} is not within 1..63")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > 255:
        raise WireError(f"name of {len(out)} bytes is longer than 255")
    return bytes(out)


def labels_of(name: str) -> tuple[bytes, ...]:
    """``"web.example."`` → ``(b"web", b"example")``: a plain ASCII name split at its dots."""
    stripped = name[:-1] if name.endswith(".") else name
    return tuple(part.encode("ascii") for part in stripped.split(".")) if stripped else ()


def _read_name(data: bytes, offset: int) -> tuple[tuple[bytes, ...], int]:
    labels: list[bytes] = []
    size = 1  # the final zero byte
    while True:
        if offset >= len(data):
            raise WireError(f"name runs past the end of the message at byte {offset}")
        length = data[offset]
        offset += 1
        if length == 0:
            return tuple(labels), offset
        # 0b11 is a compression pointer, 0b01/0b10 extended label types (RFC 6891 §5):
        # none belongs in a question, the first name of the message.
        if length & 0xC0:
            raise WireError(f"label type 0x{length & 0xC0:02x} at byte {offset - 1} in a question")
        size += 1 + length
        if size > 255:
            raise WireError("name longer than 255 bytes")
        label = data[offset:offset + length]
        if len(label) < length:
            raise WireError(f"label of {length} bytes runs past the end of the message")
        labels.append(label)
        offset += length


def parse_message(data: bytes) -> Message | None:
    """The header and first question of ``data``; never raises.

    Returns None when ``data`` is shorter than a header (no id to answer to). A question
    section that is absent, cut short or malformed gives ``question=None``.
    """
    if len(data) < HEADER.size:
        return None
    ident, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    question = None
    if qd:
        try:
            labels, offset = _read_name(data, HEADER.size)
            if offset + _QUESTION_TAIL.size > len(data):
                raise WireError("question type and class run past the end of the message")
            qtype, qclass = _QUESTION_TAIL.unpack_from(data, offset)
            question = Question(labels, qtype, qclass)
        except WireError:
            question = None
    return Message(ident, flags, qd, an, ns, ar, question)


def with_id(data: bytes, ident: int) -> bytes:
    """``data`` with its header's id replaced (what a forwarder does both ways)."""
    return ident.to_bytes(2, "big") + data[2:]


def build_response(query: Message, rcode: Rcode = Rcode.NOERROR,
                   addresses: Sequence[str] = (), *, ttl: int = TTL,
                   max_size: int = MAX_UDP_SIZE) -> bytes:
    """The response to ``query``: its id, opcode, RD and CD bits, RA set, the question echoed,
    and one A record per address (in the given order).

    AA stays clear, as in Docker's answers (``nslookup`` then prints "Non-authoritative
    answer"). A query without a readable question gets a bare header (FORMERR's usual shape).
    Records that would take the message over ``max_size`` are left out *without* setting TC:
    TC would send the client to TCP, which this server does not offer, and a client retrying
    there would get no answer at all instead of most of them.

    Raises:
        ValueError: an address that is not IPv4 dotted-quad text.
    """
    flags = QR | RA | (query.flags & (0x7800 | RD | CD)) | int(rcode)
    question = query.question
    if question is None:
        return HEADER.pack(query.id, flags, 0, 0, 0, 0)
    body = question.encode()
    records = []
    room = (max_size - HEADER.size - len(body)) // _A_RECORD.size
    for address in addresses[:max(room, 0)]:
        packed = ipaddress.IPv4Address(address).packed
        records.append(_A_RECORD.pack(_POINTER_TO_QNAME, QType.A, CLASS_IN, ttl, 4, packed))
    return HEADER.pack(query.id, flags, 1, len(records), 0, 0) + body + b"".join(records)


def build_query(ident: int, question: Question, *, recursion_desired: bool = True) -> bytes:
    """A standard query (opcode QUERY) for one question."""
    flags = RD if recursion_desired else 0
    return HEADER.pack(ident, flags, 1, 0, 0, 0) + question.encode()
