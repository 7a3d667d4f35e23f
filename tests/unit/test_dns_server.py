"""The embedded DNS server (pyker.network.dns) over real UDP sockets on loopback.

The server runs in a thread of the test, driven by a selectors loop as the container's monitor
drives it; queries come from real UDP sockets. Forwarding goes to fake upstream resolvers
the test itself runs on 127.0.0.1, never to the host's.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from pyker.network.dns import DnsServer, Resolver, host_nameservers, upstream_socket
from pyker.network.dns_wire import (QType, Question, Rcode, build_query, labels_of,
                                    parse_message)

TABLE = {
    "web": ["10.89.0.2"],
    "3f2a9c0d1b7e": ["10.89.0.2"],  # web's short id
    "es": ["10.89.0.3", "10.89.0.4"],  # an alias two containers share
    "my.app": ["10.89.0.5"],  # Docker names may hold dots
}


def table_lookup(name: str) -> list[str]:
    return TABLE.get(name, [])


class Loop:
    """A selectors loop serving one DnsServer in a thread, as the monitor would."""

    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.server.fileno(), selectors.EVENT_READ, self.server.handle_readable)
        upstream = self.server.upstream_fileno()
        if upstream is not None:
            sel.register(upstream, selectors.EVENT_READ, self.server.handle_upstream)
        try:
            while not self.stop.is_set():
                deadline = self.server.next_deadline()
                left = 0.05 if deadline is None else deadline - time.monotonic()
                wait = min(0.05, max(0.0, left))
                for key, _ in sel.select(wait):
                    key.data()
                self.server.expire()
        except BaseException as err:  # reported by the fixture: a server that died fails
            self.errors.append(err)
        finally:
            sel.close()


class FakeUpstream:
    """A resolver on 127.0.0.1 that answers every A query with 192.0.2.7 (or stays silent),
    written by hand from RFC 1035 so that the test sees bytes the server did not make."""

    def __init__(self, *, silent: bool = False) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        self.received: list[bytes] = []
        self.silent = silent
        self.stop = threading.Event()
        self.sock.settimeout(0.05)
        if not silent:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def reply_for(self, query: bytes) -> bytes:
        # header: same id, QR RD RA, 1 question, 1 answer; the question as asked (no EDNS
        # in these tests, so everything after the header); answer TTL 1234 → 192.0.2.7
        return (query[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + query[12:]
                + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x04\xd2\x00\x04\xc0\x00\x02\x07")

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(data)
            self.sock.sendto(self.reply_for(data), peer)

    def close(self) -> None:
        self.stop.set()
        if not self.silent:
            self.thread.join(2)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[int, DnsServer]]]:
    """Start a server on 127.0.0.1 (random port) in a loop thread; return its port."""
    loops: list[Loop] = []

    def start(lookup: Callable[[str], Sequence[str]] = table_lookup, *,
              servers: Sequence[tuple[str, int]] = (), timeout: float = 2.0,
              upstream: socket.socket | None = None,
              max_pending: int = 1024) -> tuple[int, DnsServer]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        server = DnsServer(sock, Resolver(lookup), upstream=upstream or upstream_socket(),
                           servers=servers, timeout=timeout, max_pending=max_pending)
        loop = Loop(server)
        loop.thread.start()
        loops.append(loop)
        return sock.getsockname()[1], server

    yield start
    for loop in loops:
        loop.stop.set()
        loop.thread.join(2)
        loop.server.close()
        assert not loop.errors, f"the server loop died: {loop.errors[0]!r}"


@pytest.fixture
def upstreams() -> Iterator[Callable[..., FakeUpstream]]:
    made: list[FakeUpstream] = []

    def make(**kwargs: bool) -> FakeUpstream:
        made.append(FakeUpstream(**kwargs))
        return made[-1]

    yield make
    for upstream in made:
        upstream.close()


def client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3)
    return sock


def ask(port: int, name: str, qtype: int = QType.A, ident: int = 0x4242,
        sock: socket.socket | None = None) -> bytes:
    own = sock or client()
    try:
        own.sendto(build_query(ident, Question(labels_of(name), qtype)), ("127.0.0.1", port))
        data, _ = own.recvfrom(65535)
        return data
    finally:
        if sock is None:
            own.close()


def rcode(data: bytes) -> int:
    return data[3] & 0x0F


def addresses(data: bytes) -> list[str]:
    """The A records of a one-question response whose answers point at the question."""
    msg = parse_message(data)
    assert msg is not None and msg.question is not None
    offset = 12 + len(msg.question.encode())
    found = []
    for _ in range(msg.ancount):
        assert data[offset:offset + 2] == b"\xc0\x0c"
        rtype = int.from_bytes(data[offset + 2:offset + 4], "big")
        length = int.from_bytes(data[offset + 10:offset + 12], "big")
        if rtype == QType.A:
            found.append(socket.inet_ntoa(data[offset + 12:offset + 12 + length]))
        offset += 12 + length
    return found


def test_container_name_answers_with_its_address(serve) -> None:
    port, _ = serve()
    data = ask(port, "web", ident=0x1111)
    assert data[:2] == b"\x11\x11" and rcode(data) == Rcode.NOERROR
    assert addresses(data) == ["10.89.0.2"]
    assert data[-10:-4] == b"\x00\x00\x02\x58\x00\x04"  # TTL 600, rdlength 4


def test_names_match_without_case_and_with_a_trailing_dot(serve) -> None:
    port, _ = serve()
    data = ask(port, "WeB.")
    assert addresses(data) == ["10.89.0.2"]
    assert b"\x03WeB\x00" in data  # the question echoed as asked
    assert addresses(ask(port, "3F2A9C0D1B7E")) == ["10.89.0.2"]
    assert addresses(ask(port, "my.app")) == ["10.89.0.5"]


def test_shared_alias_returns_every_address_in_rotating_order(serve) -> None:
    port, _ = serve()
    orders = [addresses(ask(port, "es")) for _ in range(4)]
    assert orders == [["10.89.0.3", "10.89.0.4"], ["10.89.0.4", "10.89.0.3"]] * 2
    # an AAAA query (resolvers send one with each A) does not move the rotation
    assert rcode(ask(port, "es", QType.AAAA)) == Rcode.NOERROR
    assert addresses(ask(port, "es"))[0] == "10.89.0.3"


def test_known_name_aaaa_is_noerror_without_answer(serve) -> None:
    port, _ = serve()
    data = ask(port, "web", QType.AAAA)
    assert rcode(data) == Rcode.NOERROR
    assert data[6:8] == b"\x00\x00"


def test_unknown_name_without_dot_is_nxdomain_and_not_forwarded(serve, upstreams) -> None:
    upstream = upstreams()
    port, _ = serve(servers=[upstream.address])
    assert rcode(ask(port, "nosuchthing")) == Rcode.NXDOMAIN
    assert rcode(ask(port, "nosuchthing", QType.AAAA)) == Rcode.NXDOMAIN
    assert upstream.received == []


def test_other_names_are_forwarded_and_the_reply_passed_on(serve, upstreams) -> None:
    upstream = upstreams()
    port, server = serve(servers=[upstream.address])
    query = build_query(0x7777, Question(labels_of("Example.org"), QType.A))
    with client() as sock:
        sock.sendto(query, ("127.0.0.1", port))
        data, _ = sock.recvfrom(65535)
    assert len(upstream.received) == 1
    forwarded = upstream.received[0]
    assert forwarded[2:] == query[2:]  # the client's bytes, under the server's own id
    # what the upstream said, byte for byte, under the client's id
    assert data == b"\x77\x77" + upstream.reply_for(forwarded)[2:]
    assert addresses(data) == ["192.0.2.7"]
    assert server.pending == 0


def test_same_id_from_two_clients_gets_each_its_own_answer(serve, upstreams) -> None:
    upstream = upstreams()
    port, _ = serve(servers=[upstream.address])
    with client() as one, client() as two:
        one.sendto(build_query(9, Question(labels_of("one.example"), QType.A)), ("127.0.0.1", port))
        two.sendto(build_query(9, Question(labels_of("two.example"), QType.A)), ("127.0.0.1", port))
        got_one = parse_message(one.recvfrom(65535)[0])
        got_two = parse_message(two.recvfrom(65535)[0])
    assert got_one is not None and got_one.question is not None
    assert got_two is not None and got_two.question is not None
    assert (got_one.id, got_one.question.name) == (9, "one.example")
    assert (got_two.id, got_two.question.name) == (9, "two.example")
    ids = {int.from_bytes(d[:2], "big") for d in upstream.received}
    assert len(ids) == 2


def test_forwarding_over_an_ipv4_only_upstream_socket(serve, upstreams) -> None:
    upstream = upstreams()
    port, _ = serve(servers=[upstream.address, ("::1", 53)],  # the IPv6 one is unusable
                    upstream=socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    assert addresses(ask(port, "example.org")) == ["192.0.2.7"]


def test_upstream_timeout_gives_servfail(serve, upstreams) -> None:
    silent = upstreams(silent=True)
    port, server = serve(servers=[silent.address], timeout=0.3)
    start = time.monotonic()
    data = ask(port, "example.org", ident=0x0101)
    assert data[:2] == b"\x01\x01" and rcode(data) == Rcode.SERVFAIL
    assert 0.25 <= time.monotonic() - start < 2
    assert server.pending == 0


def test_a_silent_server_is_passed_over_for_the_next(serve, upstreams) -> None:
    silent, answering = upstreams(silent=True), upstreams()
    port, _ = serve(servers=[silent.address, answering.address], timeout=0.3)
    assert addresses(ask(port, "example.org")) == ["192.0.2.7"]
    assert len(answering.received) == 1


def test_queries_past_the_pending_limit_get_servfail_at_once(serve, upstreams) -> None:
    silent = upstreams(silent=True)
    port, server = serve(servers=[silent.address], timeout=5, max_pending=1)
    with client() as first:
        first.sendto(build_query(1, Question(labels_of("a.example"), QType.A)), ("127.0.0.1", port))
        start = time.monotonic()
        assert rcode(ask(port, "b.example")) == Rcode.SERVFAIL
        assert time.monotonic() - start < 1
    assert server.pending == 1


def test_no_upstream_server_gives_servfail_at_once(serve) -> None:
    port, _ = serve(servers=[])
    start = time.monotonic()
    assert rcode(ask(port, "example.org")) == Rcode.SERVFAIL
    assert time.monotonic() - start < 1


def test_replies_are_taken_only_from_the_server_with_the_id_and_question(serve, upstreams) -> None:
    manual = upstreams(silent=True)  # the test plays this resolver by hand
    manual.sock.settimeout(3)
    port, _ = serve(servers=[manual.address], timeout=5)
    with client() as sock, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forger:
        sock.settimeout(0.3)
        query = build_query(5, Question(labels_of("example.org"), QType.A))
        sock.sendto(query, ("127.0.0.1", port))
        forwarded, server_side = manual.sock.recvfrom(65535)
        good = manual.reply_for(forwarded)
        forger.sendto(good, server_side)  # right id and question, wrong source
        wrong_question = manual.reply_for(forwarded[:12] + b"\x05other\x03org\x00\x00\x01\x00\x01")
        manual.sock.sendto(wrong_question, server_side)
        other_id = bytes([forwarded[0] ^ 0xFF]) + good[1:]
        manual.sock.sendto(other_id, server_side)
        manual.sock.sendto(forwarded, server_side)  # a query, not a reply
        with pytest.raises(TimeoutError):
            sock.recvfrom(65535)
        manual.sock.sendto(good, server_side)
        data, _ = sock.recvfrom(65535)
    assert data == b"\x00\x05" + good[2:]


def test_garbage_does_not_stop_the_server(serve) -> None:
    port, _ = serve()
    with client() as sock:
        sock.settimeout(0.3)
        # too short for a header, or a header with QR set (the reversed bytes: 0xfdfc)
        for junk in (b"", b"\x00", b"\xff" * 11, bytes(range(255, -1, -1)) * 4):
            sock.sendto(junk, ("127.0.0.1", port))
        # a full header but a broken question: FORMERR under the same id
        sock.sendto(b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x09ab", ("127.0.0.1", port))
        data, _ = sock.recvfrom(65535)
        assert data == b"\x00\x07\x81\x81\x00\x00\x00\x00\x00\x00\x00\x00"
        # a response is never answered (no loops between servers)
        sock.sendto(b"\x00\x08\x81\x80\x00\x00\x00\x00\x00\x00\x00\x00", ("127.0.0.1", port))
        with pytest.raises(TimeoutError):
            sock.recvfrom(65535)
    assert addresses(ask(port, "web")) == ["10.89.0.2"]


def test_two_questions_is_formerr_and_other_opcodes_notimp(serve) -> None:
    port, _ = serve()
    two = (b"\x00\x0a\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00"
           b"\x03web\x00\x00\x01\x00\x01\x02es\x00\x00\x01\x00\x01")
    status = b"\x00\x0b\x10\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\x00\x00\x01\x00\x01"
    with client() as sock:
        sock.sendto(two, ("127.0.0.1", port))
        assert rcode(sock.recvfrom(65535)[0]) == Rcode.FORMERR
        sock.sendto(status, ("127.0.0.1", port))
        assert rcode(sock.recvfrom(65535)[0]) == Rcode.NOTIMP


def test_a_failing_lookup_costs_one_servfail(serve) -> None:
    calls = []

    def lookup(name: str) -> list[str]:
        calls.append(name)
        if len(calls) == 1:
            raise OSError("state file vanished")
        return TABLE.get(name, [])

    port, _ = serve(lookup)
    assert rcode(ask(port, "web")) == Rcode.SERVFAIL
    assert addresses(ask(port, "web")) == ["10.89.0.2"]


def test_resolver_filters_and_rotates_without_sockets() -> None:
    resolver = Resolver(lambda name: {"db": ["10.0.0.1", "fd00::1", "10.0.0.2", "10.0.0.3"]}
                        .get(name, []))
    assert resolver.known("DB.") == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    firsts = [resolver.addresses("db")[0] for _ in range(4)]
    assert firsts == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1"]
    assert resolver.known("") == []


def test_host_nameservers_reads_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# generated\nsearch lab.example\nnameserver 10.255.255.53\n"
                    "nameserver   fd00::53\nnameserver not-an-address\n; nameserver 1.1.1.1\n"
                    "options ndots:0\nnameserver 127.0.0.53\n")
    assert host_nameservers(str(conf)) == [("10.255.255.53", 53), ("fd00::53", 53),
                                           ("127.0.0.53", 53)]
    assert host_nameservers(str(tmp_path / "missing")) == []
