"""The embedded DNS server of user-defined networks, Docker's ``127.0.0.11``.

On a user-defined network a container's ``/etc/resolv.conf`` says ``nameserver 127.0.0.11``.
That address is on the container's own loopback, inside its network namespace, so the server
must listen *there*; the names it forwards must reach the host's resolvers, which may be
reachable only from the *host* namespace (``127.0.0.53`` of systemd-resolved). A socket
belongs for life to the namespace it was created in, whichever namespace its process later
joins (network_namespaces(7)), so one process holds both: the listening socket made in the
container's namespace (:func:`bind_in_netns`), the upstream one in the host's.

Policy, as Docker's (libnetwork ``resolver.go``):

* a container's name, short id or network alias answers with its IPv4 addresses, TTL 600;
  a name several containers share answers with all of them, rotated one step per query so
  that clients taking the first address spread their requests (round robin);
* AAAA (or any other type) of a known name: NOERROR with no record, so the client falls back
  to A instead of concluding the name does not exist;
* an unknown name without a dot: NXDOMAIN at once, never forwarded (it cannot be a public name);
* anything else is forwarded unchanged to the host's resolvers in turn; none answering within
  the timeout gives SERVFAIL.

The server has no thread: it exposes its sockets' descriptors so that the loop that already
runs in the container's monitor (selectors) calls :meth:`DnsServer.handle_readable`,
:meth:`DnsServer.handle_upstream` and :meth:`DnsServer.expire`.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyker.kernel import netif
from pyker.kernel.namespaces import CloneFlag, setns
from pyker.network.dns_wire import (CLASS_ANY, CLASS_IN, OPCODE_QUERY, Message, QType, Rcode,
                                    build_response, parse_message, with_id)

DNS_ADDRESS = ("127.0.0.11", 53)
_MAX_DATAGRAM = 65535
# Datagrams served per readiness event: enough to drain a burst, few enough that the
# monitor's other descriptors (the container's output) are not starved by a flood.
_BATCH = 64
# Rotation counters kept at most for this many names; past it they start again from zero.
_MAX_TURNS = 4096

Address = tuple[Any, ...]  # a socket address as recvfrom returns it: (host, port[, flow, scope])


class Resolver:
    """Answers queries for the names ``lookup`` knows; says which ones are not its to answer.

    ``lookup(name)`` gets the name lowercased and without a trailing dot (names are matched
    without regard to case, RFC 4343) and returns the IPv4 addresses of every container it
    designates on the asking container's networks (name, short id, alias), empty when none.
    """

    def __init__(self, lookup: Callable[[str], Sequence[str]]) -> None:
        self._lookup = lookup
        self._turns: dict[str, int] = {}

    def known(self, name: str) -> list[str]:
        """The IPv4 addresses of ``name`` in ``lookup``'s order, not rotated."""
        key = name.lower().removesuffix(".")
        # An address that is not IPv4 (a container with IPv6 only on a network) has no
        # place in an A record; it is left out rather than fail the whole answer.
        return [a for a in self._lookup(key) if _is_ipv4(a)] if key else []

    def addresses(self, name: str) -> list[str]:
        """The IPv4 addresses of ``name``, starting one further on at each call."""
        return self._rotate(name, self.known(name))

    def _rotate(self, name: str, found: list[str]) -> list[str]:
        if len(found) < 2:
            return found
        key = name.lower().removesuffix(".")
        if key not in self._turns and len(self._turns) >= _MAX_TURNS:
            self._turns.clear()
        turn = self._turns.get(key, 0)
        self._turns[key] = turn + 1
        start = turn % len(found)
        return found[start:] + found[:start]

    def answer(self, query: Message) -> bytes | None:
        """The response to a well-formed query, or None when it must be forwarded."""
        question = query.question
        if question is None:
            return build_response(query, Rcode.FORMERR)
        name = question.name
        if question.qclass in (CLASS_IN, CLASS_ANY):
            found = self.known(name)
            if found:
                if question.qtype in (QType.A, QType.ANY):
                    return build_response(query, Rcode.NOERROR, self._rotate(name, found))
                return build_response(query, Rcode.NOERROR)
        if name and "." not in name:
            return build_response(query, Rcode.NXDOMAIN)
        return None


@dataclass(slots=True)
class _Pending:
    """A query forwarded upstream under a fresh id, waiting for its reply."""

    query: Message  # as the client sent it: its id and question
    key: tuple[bytes, int, int]  # the question's, to match the reply's
    client: Address
    data: bytes  # the client's bytes under the upstream id
    next_server: int
    deadline: float


class DnsServer:
    """One container's DNS server: a UDP socket in its namespace, driven by the caller's loop.

    ``sock`` is the bound listening socket (:func:`bind_in_netns`); ``upstream`` an unbound
    UDP socket of the host's namespace (:func:`upstream_socket`) and ``servers`` the
    resolvers to forward to (:func:`host_nameservers`), tried in order, ``timeout`` seconds
    each. The server owns both sockets from then on (:meth:`close`).

    A forwarded query goes out under a random id of the server's own, so that two clients
    using the same id cannot get each other's answers, and a reply is taken only if it comes
    from a configured server with that id and the same question.
    """

    def __init__(self, sock: socket.socket, resolver: Resolver, *,
                 upstream: socket.socket | None = None, servers: Sequence[tuple[str, int]] = (),
                 timeout: float = 2.0, max_pending: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sock = sock
        self._resolver = resolver
        self._upstream = upstream
        self._timeout = timeout
        self._max_pending = min(max_pending, 0xFFFF)
        self._clock = clock
        self._pending: dict[int, _Pending] = {}
        self._servers: list[tuple[str, int]] = []
        if upstream is not None:
            upstream.setblocking(False)
            self._servers = [t for t in (_target(upstream.family, s) for s in servers) if t]
        self._peers = {_peer(s) for s in self._servers}
        sock.setblocking(False)

    def fileno(self) -> int:
        """The listening socket, to register for reading in the caller's selector."""
        return self._sock.fileno()

    def upstream_fileno(self) -> int | None:
        """The upstream socket, to register for reading too (None when not forwarding)."""
        return None if self._upstream is None else self._upstream.fileno()

    def next_deadline(self) -> float | None:
        """When :meth:`expire` next has work (the clock's time), None when nothing waits."""
        return min((p.deadline for p in self._pending.values()), default=None)

    @property
    def pending(self) -> int:
        """How many forwarded queries wait for their reply."""
        return len(self._pending)

    def handle_readable(self) -> None:
        """Serve the queries waiting on the listening socket; never raises on their content."""
        for _ in range(_BATCH):
            try:
                data, client = self._sock.recvfrom(_MAX_DATAGRAM)
            except OSError:  # EAGAIN: drained; anything else ends this round as well
                return
            self._serve(data, client)

    def handle_upstream(self) -> None:
        """Pass the upstream replies that match a pending query on to its client."""
        if self._upstream is None:
            return
        for _ in range(_BATCH):
            try:
                data, peer = self._upstream.recvfrom(_MAX_DATAGRAM)
            except OSError:  # EAGAIN: drained; anything else ends this round as well
                return
            reply = parse_message(data)
            if reply is None or not reply.is_response or reply.question is None:
                continue
            pending = self._pending.get(reply.id)
            if pending is None or _peer(peer) not in self._peers:
                continue  # late (already answered or expired), or not from our resolvers
            if reply.question.key() != pending.key:
                continue
            del self._pending[reply.id]
            self._send(with_id(data, pending.query.id), pending.client)

    def expire(self, now: float | None = None) -> None:
        """Retry on the next server every query whose server did not answer in time, and
        answer SERVFAIL to those that have no server left."""
        now = self._clock() if now is None else now
        for pending in [p for p in self._pending.values() if p.deadline <= now]:
            self._try_next(pending, now)

    def close(self) -> None:
        self._sock.close()
        if self._upstream is not None:
            self._upstream.close()
        self._pending.clear()

    def __enter__(self) -> DnsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self, data: bytes, client: Address) -> None:
        query = parse_message(data)
        # No header: no id to answer to. A response: answering it could start a loop between
        # two servers that each take the other's answers for questions.
        if query is None or query.is_response:
            return
        if query.opcode != OPCODE_QUERY:
            reply = build_response(query, Rcode.NOTIMP)
        elif query.qdcount != 1 or query.question is None:
            reply = build_response(query, Rcode.FORMERR)
        else:
            try:
                reply = self._resolver.answer(query)
            except Exception:  # noqa: BLE001 — a failing lookup costs one answer, not the server
                reply = build_response(query, Rcode.SERVFAIL)
            if reply is None:
                self._forward(query, data, client)
                return
        self._send(reply, client)

    def _forward(self, query: Message, data: bytes, client: Address) -> None:
        full = len(self._pending) >= self._max_pending
        if query.question is None or not self._servers or full:
            self._send(build_response(query, Rcode.SERVFAIL), client)
            return
        ident = secrets.randbelow(0x10000)
        while ident in self._pending:
            ident = secrets.randbelow(0x10000)
        pending = _Pending(query, query.question.key(), client, with_id(data, ident), 0, 0.0)
        self._pending[ident] = pending
        self._try_next(pending, self._clock())

    def _try_next(self, pending: _Pending, now: float) -> None:
        while self._upstream is not None and pending.next_server < len(self._servers):
            server = self._servers[pending.next_server]
            pending.next_server += 1
            try:
                self._upstream.sendto(pending.data, server)
            except OSError:  # ENETUNREACH and the like: this server is out, the next may not be
                continue
            pending.deadline = now + self._timeout
            return
        del self._pending[int.from_bytes(pending.data[:2], "big")]
        self._send(build_response(pending.query, Rcode.SERVFAIL), pending.client)

    def _send(self, data: bytes, client: Address) -> None:
        try:
            self._sock.sendto(data, client)
        except OSError:  # a full buffer or a client gone: UDP clients retry on their own
            pass


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _target(family: int, server: tuple[str, int]) -> tuple[str, int] | None:
    """``server`` as ``family``'s sockets take it: IPv4 as ``::ffff:a.b.c.d`` on a dual-stack
    IPv6 socket; None when that socket cannot reach it (IPv6 from an IPv4 socket)."""
    host, port = server
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if family == socket.AF_INET6:
        return (f"::ffff:{ip}" if ip.version == 4 else host), port
    return (str(ip), port) if ip.version == 4 else None


def _peer(address: Address) -> tuple[str, int]:
    """A server's or sender's address in one spelling, so that the two compare."""
    ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(address[1])


def host_nameservers(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The ``nameserver`` lines of a resolv.conf(5) as ``(address, 53)``, in order.

    A missing file, or lines that are not an address, give nothing: the server then answers
    SERVFAIL for the names it would forward (Docker would fall back to Google's public
    resolvers, a choice a course VM should not make behind the student's back).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    servers = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                ipaddress.ip_address(fields[1].split("%", 1)[0])
            except ValueError:
                continue
            servers.append((fields[1], 53))
    return servers


def upstream_socket() -> socket.socket:
    """A non-blocking UDP socket of the caller's (the host's) namespace to forward from:
    dual-stack IPv6 so that it reaches IPv4 and IPv6 resolvers, IPv4 when IPv6 is off.

    Unbound: the kernel gives it a random source port at the first send, which with random
    query ids is what makes a forged reply hard to land (RFC 5452).
    """
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError:  # booted with ipv6.disable=1
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setblocking(False)
    return sock


def bind_in_netns(netns_fd: int, address: tuple[str, int] = DNS_ADDRESS, *,
                  lo_up: bool = True) -> socket.socket:
    """A non-blocking UDP socket bound to ``address`` in the network namespace ``netns_fd``.

    The calling thread joins that namespace (setns(2) on a network namespace moves the
    thread only), brings its ``lo`` up unless ``lo_up`` is false (a new namespace's loopback
    is down, and 127.0.0.11 is not local until it is up), creates and binds the socket, then
    goes back to its own namespace. The socket stays in the target namespace.

    Raises:
        OSError: from setns(2) (naming the fd), from bringing ``lo`` up, or from bind(2),
            named ``bind udp <address> in netns fd <fd>``.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(netns_fd, CloneFlag.CLONE_NEWNET)
        try:
            if lo_up:
                netif.set_up("lo")
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind(address)
            except OSError as err:
                sock.close()
                raise OSError(err.errno, f"bind udp {address[0]}:{address[1]} in netns fd "
                                         f"{netns_fd}: {err.strerror}") from err
        finally:
            setns(own, CloneFlag.CLONE_NEWNET)
    finally:
        os.close(own)
    sock.setblocking(False)
    return sock
