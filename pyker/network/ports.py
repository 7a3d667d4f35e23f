"""Published ports of one container: Docker's ``-p``, ``--expose`` and ``-P``, the choice of
host ports, and the three ways Docker shows them back.

A published port is a DNAT rule (:mod:`pyker.network.nat_rules`) from ``host_ip:host_port``
to ``container_ip:container_port``: nothing on the host listens on it. This module owns the
pure part around that rule:

* ``-p [ip:][hostPort:]containerPort[/proto]`` parsed as Docker's CLI does (go-connections
  ``nat.ParsePortSpec``), with its ranges: ``8000-8002:80-82`` maps one to one, while
  ``8000-8010:80`` asks for *one* free port of the host range;
* ``--expose`` and the image's ``ExposedPorts``, which ``-P`` publishes on free host ports;
* host ports chosen by :func:`allocate`: ``-p 80`` and ``-P`` take a free port of the
  kernel's ephemeral range (``ip_local_port_range``, as Docker's port allocator does), a
  fixed port already taken fails with Docker's "port is already allocated";
* what Docker prints (``docker port``, ``ps``'s PORTS, ``NetworkSettings.Ports``) is
  :mod:`pyker.network.ports_display`'s.

IPv4 only: pyker's bridges carry no IPv6, so a host address such as ``[::1]`` is refused
instead of being published nowhere.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from pyker.errors import NetworkError, SpecError, UsageError

PROTOCOLS = ("tcp", "udp", "sctp")
#: Linux's default ``net.ipv4.ip_local_port_range``, used when the file cannot be read.
DEFAULT_PORT_RANGE = (32768, 60999)
LOCAL_PORT_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"

Frontends = list[dict[str, str]]  # [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
#: ``NetworkSettings.Ports``: ``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
#: "443/tcp": None}``, the shape ``docker inspect`` prints and ``port``/``ps`` read.
PortsMap = Mapping[str, Frontends | None]
InUse = Callable[[str, int, str], bool]

_DIGITS = re.compile(r"[0-9]+")



@dataclass(frozen=True, slots=True, kw_only=True)
class PortBinding:
    """``host_ip:host_port`` published to ``container_port/proto``.

    ``host_ip`` "" means every address (shown as 0.0.0.0); ``host_port`` 0 means "any free
    port"; ``host_port_end`` above ``host_port`` means "a free port of host_port..host_port_end"
    (``-p 8000-8010:80``). :func:`allocate` returns bindings with a single, chosen port.
    """

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0

    @property
    def key(self) -> str:
        """The container side as Docker names it: ``80/tcp``."""
        return f"{self.container_port}/{self.proto}"

    @property
    def host_address(self) -> str:
        return self.host_ip or "0.0.0.0"

    @property
    def fixed(self) -> bool:
        """One host port named by the user (nothing left to choose)."""
        return self.host_port != 0 and self.host_port_end == 0


class PortRangeError(ValueError):
    """A port or range that Go's strconv/nat refuses; the message is theirs."""


def parse_port_number(text: str) -> int:
    # strconv.ParseUint(text, 10, 16): digits only, no sign, no blanks, at most 65535.
    if not _DIGITS.fullmatch(text):
        raise PortRangeError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) > 65535:
        raise PortRangeError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def parse_port_range(text: str) -> tuple[int, int]:
    """``"80"`` → (80, 80), ``"8000-8002"`` → (8000, 8002), as ``nat.ParsePortRange``."""
    if not text:
        raise PortRangeError("empty string specified for ports")
    first, dash, last = text.partition("-")
    start = parse_port_number(first)
    end = parse_port_number(last) if dash else start
    if end < start:
        raise PortRangeError(f"invalid range specified for port: {text}")
    return start, end


def _host_ip(text: str) -> str:
    if not text:
        return ""
    inner = text[1:-1] if len(text) > 2 and text[0] == "[" and text[-1] == "]" else text
    try:
        addr = ipaddress.ip_address(inner)
    except ValueError:
        raise UsageError(f"invalid IP address: {text}") from None
    if addr.version == 6 and addr.ipv4_mapped is None:
        raise UsageError(f"IPv6 host address not supported: {inner} "
                         "(pyker publishes ports on IPv4 only)")
    return str(addr.ipv4_mapped) if addr.version == 6 else str(addr)


def _long_syntax(text: str) -> str:
    """``target=80,published=8080,protocol=udp`` → ``8080:80/udp`` (docker/cli
    ``convertToStandardNotation``)."""
    params = {"protocol": "tcp"}
    for param in text.split(","):
        key, eq, value = param.partition("=")
        if not eq or not key:
            raise UsageError(f"invalid publish opts format (should be name=value but got "
                             f"'{param}')")
        params[key] = value
    if "target" not in params:
        raise UsageError(f"missing required field 'target' in publish opts: {text}")
    return f"{params.get('published', '')}:{params['target']}/{params['protocol']}"


def parse_publish(text: str) -> list[PortBinding]:
    """One ``-p``/``--publish`` value as bindings, one per container port.

    Raises:
        UsageError: with Docker's message (``invalid containerPort: abc``, ``invalid hostPort:
            70000``, ``invalid proto: xyz``, ``no port specified: 8080:<empty>``, ...).
    """
    spec = _long_syntax(text) if "=" in text else text
    parts = spec.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) > 1 else ""
    ip = ":".join(parts[:-2])  # an IPv6 address keeps its own colons
    port, _, proto = container.partition("/")
    if not port:
        raise UsageError(f"no port specified: {spec}<empty>")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise UsageError(f"invalid proto: {proto}")
    ip = _host_ip(ip)
    try:
        start, end = parse_port_range(port)
    except PortRangeError:
        raise UsageError(f"invalid containerPort: {port}") from None
    if start == 0:  # Docker lets it through to fail later; no container listens on port 0
        raise UsageError(f"invalid containerPort: {port}")
    host_start = host_end = 0
    if host:
        try:
            host_start, host_end = parse_port_range(host)
        except PortRangeError:
            raise UsageError(f"invalid hostPort: {host}") from None
        # A host range against one container port is "any one of these" (Docker's rule).
        if end - start != host_end - host_start and end != start:
            raise UsageError("invalid ranges specified for container and host Ports: "
                             f"{port} and {host}")
    if start == end and host_end != host_start:
        return [PortBinding(container_port=start, proto=proto, host_ip=ip,
                            host_port=host_start, host_port_end=host_end)]
    return [PortBinding(container_port=start + i, proto=proto, host_ip=ip,
                        host_port=host_start + i if host_start else 0)
            for i in range(end - start + 1)]


def _expand(port: str, proto: str) -> list[tuple[int, str]]:
    start, end = parse_port_range(port)
    return [(p, proto) for p in range(start, end + 1)]


def exposed_ports(image_exposed: Mapping[str, object] | Iterable[str],
                  expose_flags: Iterable[str] = ()) -> list[tuple[int, str]]:
    """``(port, proto)`` exposed by the image (``ExposedPorts`` keys, ``"80/tcp"``) and by
    ``--expose 80[/udp]``/``--expose 8000-8002``, without duplicates, in port order.

    Raises:
        SpecError: an image key that is not a port.
        UsageError: an ``--expose`` value Docker refuses, with Docker's message.
    """
    found: set[tuple[int, str]] = set()
    for key in image_exposed:
        port, _, proto = key.partition("/")
        proto = (proto or "tcp").lower()
        try:
            if proto not in PROTOCOLS:
                raise PortRangeError(f"invalid proto: {proto}")
            found.update(_expand(port, proto))
        except PortRangeError as err:
            raise SpecError(f'image config: ExposedPorts: invalid port "{key}": {err}') from None
    for flag in expose_flags:
        if ":" in flag:
            raise UsageError(f"invalid port format for --expose: {flag}")
        port, _, proto = flag.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in PROTOCOLS:
            raise UsageError(f"invalid proto: {proto}")
        try:
            found.update(_expand(port, proto))
        except PortRangeError as err:
            raise UsageError(f"invalid range format for --expose: {flag}, error: {err}") from None
    return sorted(found)


def publish_all(exposed: Iterable[tuple[int, str]],
                already: Iterable[PortBinding] = ()) -> list[PortBinding]:
    """``-P``: every exposed port on a free host port, except those ``-p`` already binds."""
    bound = {(b.container_port, b.proto) for b in already}
    return [PortBinding(container_port=port, proto=proto)
            for port, proto in exposed if (port, proto) not in bound]


def local_port_range(path: str = LOCAL_PORT_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range, where Docker picks ports for ``-p 80`` and ``-P``."""
    try:
        with open(path, encoding="ascii") as f:
            first, last = (int(field) for field in f.read().split())
    except (OSError, ValueError):
        return DEFAULT_PORT_RANGE
    return (first, last) if 0 < first <= last <= 65535 else DEFAULT_PORT_RANGE


def _clash(taken: PortBinding, ip: str, port: int, proto: str) -> bool:
    wildcard = ("", "0.0.0.0")
    return (taken.host_port == port and taken.proto == proto
            and (ip in wildcard or taken.host_ip in wildcard or ip == taken.host_ip))


def allocate(bindings: Iterable[PortBinding], *, in_use: InUse,
             port_range: tuple[int, int]) -> list[PortBinding]:
    """The bindings, in the same order, each with one chosen host port.

    ``in_use(host_ip, port, proto)`` says whether the host already uses a port: pass
    :func:`port_in_use`, combined with the ports other containers publish (a DNAT rule binds
    no socket, so the kernel alone does not know them). Ports chosen earlier in the same
    call count as taken, and the fixed ones are reserved first, as Docker sorts them.

    Raises:
        NetworkError: ``Bind for 0.0.0.0:8080 failed: port is already allocated``, or no free
            port left in a range.
    """
    todo = list(bindings)
    done: list[PortBinding | None] = [None] * len(todo)
    taken: list[PortBinding] = []
    asked: dict[tuple[str, int, str], bool] = {}  # each port is bound to test once per call

    def free(ip: str, port: int, proto: str) -> bool:
        if any(_clash(t, ip, port, proto) for t in taken):
            return False
        if (ip, port, proto) not in asked:
            asked[ip, port, proto] = in_use(ip, port, proto)
        return not asked[ip, port, proto]

    for i, b in enumerate(todo):
        if b.fixed:
            if not free(b.host_ip, b.host_port, b.proto):
                raise NetworkError(f"Bind for {b.host_address}:{b.host_port} failed: "
                                   "port is already allocated")
            taken.append(b)
            done[i] = b
    # The others in container-port order, so that "-p 81 -p 80" numbers them as Docker does.
    for i in sorted((i for i, d in enumerate(done) if d is None),
                    key=lambda i: (todo[i].container_port, todo[i].proto)):
        b = todo[i]
        low, high = (b.host_port, b.host_port_end) if b.host_port_end else port_range
        port = next((p for p in range(max(low, 1), high + 1) if free(b.host_ip, p, b.proto)), 0)
        if not port:
            where = (f"Bind for {b.host_address}:{low}-{high} failed" if b.host_port_end else
                     f"no free host port in {low}-{high} for {b.host_address}/{b.proto}")
            raise NetworkError(f"{where}: all ports are allocated")
        chosen = dataclasses.replace(b, host_port=port, host_port_end=0)
        taken.append(chosen)
        done[i] = chosen
    return [d for d in done if d is not None]


_SOCKETS = {"tcp": (socket.SOCK_STREAM, 0), "udp": (socket.SOCK_DGRAM, 0),
            "sctp": (socket.SOCK_STREAM, socket.IPPROTO_SCTP)}


def port_in_use(host_ip: str, port: int, proto: str) -> bool:
    """Whether a socket of this network namespace holds ``host_ip:port/proto``: a bind
    without SO_REUSEADDR fails with EADDRINUSE (a port in TCP TIME_WAIT counts as used).

    Raises:
        NetworkError: ``host_ip`` is not an address of this host, or bind(2) failed otherwise.
    """
    kind, number = _SOCKETS[proto]
    addr = host_ip or "0.0.0.0"
    try:
        sock = socket.socket(socket.AF_INET, kind, number)
    except OSError as err:
        if proto == "sctp" and err.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT):
            return False  # no SCTP in this kernel: no socket can hold the port
        raise NetworkError(f"socket {proto}4: {err.strerror}") from err
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        try:
            sock.bind((addr, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return True
            if err.errno == errno.EACCES:
                return False  # a privileged port and an unprivileged caller: cannot tell
            raise NetworkError(f"listen {proto}4 {addr}:{port}: bind: {err.strerror}") from err
    return False
