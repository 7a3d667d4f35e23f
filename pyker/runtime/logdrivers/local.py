"""The ``local`` driver's file format: Docker's own, so its files read the same in both.

Each entry is a protobuf ``LogEntry`` (moby's ``api/types/plugins/logdriver/entry.proto``)
between two copies of its length as a big-endian uint32: ``[len][LogEntry][len]``. The
trailing copy lets ``--tail`` walk the file backwards from its end. ``LogEntry`` fields:
``source`` (1, "stdout"/"stderr"), ``time_nano`` (2, int64), ``line`` (3, the bytes without
their newline), ``partial`` (4, true for a piece of a long line, or an unterminated last
line), and ``attrs`` (6, ``{key 1, value 2}`` pairs from the labels/env/tag options). The
protobuf is written by hand: five fields do not justify a dependency.

The file is ``<container>/local-logs/container.log``, rotated as json-file's (max-size 20m,
max-file 5, compress true by default, as Docker's).
"""

from __future__ import annotations

import struct
import time

from pyker.runtime.logs import Codec, Entry, stamp_of_ns

_LEN = struct.Struct(">I")
_SOURCE = {"stdout": b"\x0a\x06stdout", "stderr": b"\x0a\x06stderr"}


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 two's complement, as protobuf encodes negatives
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def attrs_field(attrs: dict[str, str]) -> bytes:
    """The ``attrs`` fields of every entry, encoded once."""
    out = b""
    for key, value in sorted(attrs.items()):
        k, v = key.encode(), value.encode()
        body = b"\x0a" + _varint(len(k)) + k + b"\x12" + _varint(len(v)) + v
        out += b"\x32" + _varint(len(body)) + body
    return out


def record(stream: str, chunk: bytes, attrs: bytes = b"") -> bytes:
    whole = chunk.endswith(b"\n")
    line = chunk[:-1] if whole else chunk
    body = b"".join((_SOURCE[stream], b"\x10", _varint(time.time_ns()), b"\x1a",
                     _varint(len(line)), line, b"" if whole else b"\x20\x01", attrs))
    size = _LEN.pack(len(body))
    return size + body + size


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def decode(body: bytes) -> Entry:
    """One ``LogEntry``; fields it does not know are skipped by wire type, as protobuf does."""
    source, nanos, line, partial = "", 0, b"", False
    pos = 0
    while pos < len(body):
        key, pos = _read_varint(body, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(body, pos)
            if number == 2:
                nanos = value - (1 << 64) if value >= 1 << 63 else value
            elif number == 4:
                partial = bool(value)
        elif wire == 2:
            size, pos = _read_varint(body, pos)
            value = body[pos:pos + size]
            pos += size
            if number == 1:
                source = value.decode()
            elif number == 3:
                line = value
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"protobuf wire type {wire} at byte {pos}")
    text = line.decode("utf-8", errors="replace") + ("" if partial else "\n")
    return Entry(text, source, stamp_of_ns(nanos))


class LocalCodec(Codec):
    def split(self, buf: bytes) -> tuple[list[Entry], bytes]:
        entries, pos = [], 0
        while pos + 4 <= len(buf):
            (size,) = _LEN.unpack_from(buf, pos)
            end = pos + 4 + size + 4
            if end > len(buf):
                break
            entries.append(decode(buf[pos + 4:pos + 4 + size]))
            pos = end
        return entries, buf[pos:]

    def complete(self, data: bytes) -> int:
        end = len(data)
        if end >= 8:
            (size,) = _LEN.unpack_from(data, end - 4)
            if end - 8 - size >= 0 and _LEN.unpack_from(data, end - 8 - size)[0] == size:
                return end  # the common case: the file ends with a whole record
        pos = 0
        while pos + 4 <= end:
            (size,) = _LEN.unpack_from(data, pos)
            if pos + 8 + size > end:
                break
            pos += 8 + size
        return pos

    def last(self, data: bytes, count: int) -> list[Entry]:
        # Docker's getTailReader: walk back by the trailing lengths.
        found: list[Entry] = []
        end = len(data)
        while end >= 8 and len(found) < count:
            (size,) = _LEN.unpack_from(data, end - 4)
            start = end - 8 - size
            if start < 0 or _LEN.unpack_from(data, start)[0] != size:
                # Not a record's end (a record being written): read forward instead.
                return self.split(data)[0][-count:]
            found.append(decode(data[start + 4:end - 4]))
            end = start
        return found[::-1]


LOCAL = LocalCodec()
