"""pyker's iptables rules as text: Docker's bridge-driver rules, with pyker's chain names.

Docker's bridge driver (moby ``libnetwork/drivers/bridge/setup_ip_tables*.go``, and the
tables it documents in ``integration/network/bridge/iptablesdoc``) programs netfilter in
two tables; pyker does the same with its own chains, so that ``iptables -t nat -L -n`` reads
like the course's ``Chain DOCKER``, and a host running Docker too keeps both apart:

``nat`` table (iptables-extensions(8): addrtype, DNAT, MASQUERADE)
    ``PREROUTING`` and ``OUTPUT`` jump to ``PYKER`` for packets to a local address, where
    one DNAT rule per published port rewrites ``host:8080`` to ``container:80``;
    ``POSTROUTING`` masquerades what a network sends out (``-s SUBNET ! -o BRIDGE``), so the
    outside world sees the host's address.
``filter`` table, ``FORWARD`` chain
    ``PYKER-USER`` first (left for the administrator's own rules), then
    ``PYKER-ISOLATION-STAGE-1``/``-2`` (a packet leaving one pyker bridge for another is
    dropped: networks are isolated), then per bridge: replies accepted (conntrack), new
    inbound connections through ``PYKER`` (an ACCEPT per published port, then a DROP),
    outbound and container-to-container traffic accepted (or dropped: ``icc=False``).

Every rule is written exactly as ``iptables-save`` prints it back (``-d 192.0.2.2/32``,
``-p tcp -m tcp --dport 80``), so that "is this rule there?" is a string comparison on
the output of one ``iptables-save``, and a rule is deleted by the very text that added it.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from pyker.errors import NetworkError

CHAIN = "PYKER"
ISOLATION_1 = "PYKER-ISOLATION-STAGE-1"
ISOLATION_2 = "PYKER-ISOLATION-STAGE-2"
USER = "PYKER-USER"
TABLES = ("filter", "nat")
#: pyker's own chains, per table, in the order ``iptables-save`` lists them.
CHAINS = (("filter", CHAIN), ("filter", ISOLATION_1), ("filter", ISOLATION_2),
          ("filter", USER), ("nat", CHAIN))
PROTOCOLS = ("tcp", "udp", "sctp")
LOOPBACK = "127.0.0.0/8"

# An interface name as iptables takes it: "+" would be a wildcard (pyk+ matches pyk0, pyk1)
# and a leading "!" or "-" would be read as an option, so neither is accepted.
_BRIDGE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_IFACE = re.compile(r"-[io] (\S+)")
_JUMP = re.compile(r"(?:^| )-j (\S+)$")
_DNAT = re.compile(r"-p (\w+) .*-j DNAT --to-destination (\S+)$")
_HAIRPIN = re.compile(r"-s (\S+)/32 -d \1/32 -p (\w+) -m \2 --dport \d+ -j MASQUERADE")
_MASQUERADE = re.compile(r"-s \S+ (?:! )?-o (\S+) -j MASQUERADE")


class Place(enum.Enum):
    """Where a missing rule goes in its chain: order matters to netfilter."""

    HEAD = "head"  # inserted first: before a chain's final RETURN or DROP
    TAIL = "tail"  # appended
    FORWARD_JUMP = "forward-jump"  # FORWARD: pyker's jumps, at the top of the chain
    FORWARD_BRIDGE = "forward-bridge"  # FORWARD: a bridge's rules, right after pyker's jumps


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: ``-A <chain> <spec>`` in ``table``, ``spec`` as iptables-save prints it."""

    table: str
    chain: str
    spec: str
    place: Place = field(default=Place.TAIL, compare=False)

    @property
    def line(self) -> str:
        return f"-A {self.chain} {self.spec}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    """A bridge network: its bridge device, its subnet, and Docker's two options that change
    the rules (``--internal``, ``com.docker.network.bridge.enable_icc``)."""

    bridge: str
    subnet: IPv4Network
    internal: bool = False
    icc: bool = True

    @classmethod
    def of(cls, bridge: str, subnet: str | IPv4Network, *, internal: bool = False,
           icc: bool = True) -> Network:
        """Validate and normalise (``10.0.0.5/24`` is the network ``10.0.0.0/24``).

        Raises:
            NetworkError: naming the bridge or subnet at fault.
        """
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError as err:
            raise NetworkError(f"invalid subnet {subnet!r}: {err}") from None
        if not isinstance(net, IPv4Network):
            raise NetworkError(f"subnet {subnet}: only IPv4 is handled (no ip6tables rules)")
        return cls(bridge=check_bridge(bridge), subnet=net, internal=internal, icc=icc)


@dataclass(frozen=True, slots=True, kw_only=True)
class PortMapping:
    """``-p [host_ip:]host_port:container_port/proto`` for a container on ``bridge``;
    ``host_ip`` None means every address of the host (Docker's ``0.0.0.0``)."""

    bridge: str
    container_ip: IPv4Address
    proto: str
    host_ip: IPv4Address | None
    host_port: int
    container_port: int

    @classmethod
    def of(cls, bridge: str, container_ip: str | IPv4Address, proto: str,
           host_ip: str | IPv4Address | None, host_port: int,
           container_port: int) -> PortMapping:
        """Validate: ``host_ip`` ``"0.0.0.0"``, ``""`` or None all mean any address.

        Raises:
            NetworkError: naming the value at fault.
        """
        if proto not in PROTOCOLS:
            raise NetworkError(f"invalid protocol {proto!r}: "
                               f"expected one of {', '.join(PROTOCOLS)}")
        for what, port in (("host port", host_port), ("container port", container_port)):
            if not isinstance(port, int) or not 1 <= port <= 65535:
                raise NetworkError(f"invalid {what} {port!r}: expected 1-65535")
        host = None if host_ip in (None, "", "0.0.0.0") else _ipv4(host_ip, "host address")
        if host is not None and host.is_unspecified:
            host = None
        return cls(bridge=check_bridge(bridge),
                   container_ip=_ipv4(container_ip, "container address"), proto=proto,
                   host_ip=host, host_port=host_port, container_port=container_port)


def check_bridge(name: str) -> str:
    """``name``, if iptables can take it as an interface name; else NetworkError."""
    if not isinstance(name, str) or not _BRIDGE.fullmatch(name):
        raise NetworkError(f"invalid bridge name {name!r}: expected 1-15 letters, digits, "
                           "'_', '.' or '-'")
    return name


def _ipv4(value: str | IPv4Address, what: str) -> IPv4Address:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise NetworkError(f"invalid {what} {value!r}") from None
    if not isinstance(address, IPv4Address):
        raise NetworkError(f"{what} {value}: only IPv4 is handled (no ip6tables rules)")
    return address


def base_rules() -> tuple[Rule, ...]:
    """The jumps into pyker's chains and the chains' final RETURNs, which every network needs.

    The nat OUTPUT jump is Docker's ``--userland-proxy=false`` one: without Docker's
    ``! -d 127.0.0.0/8``, so that a port published on the host answers at 127.0.0.1 too
    without a proxy process per port (see :func:`network_rules` for the loopback side).
    """
    return (
        Rule("filter", "FORWARD", f"-j {USER}", Place.FORWARD_JUMP),
        Rule("filter", "FORWARD", f"-j {ISOLATION_1}", Place.FORWARD_JUMP),
        Rule("filter", ISOLATION_1, "-j RETURN"),
        Rule("filter", ISOLATION_2, "-j RETURN"),
        Rule("filter", USER, "-j RETURN"),
        Rule("nat", "PREROUTING", f"-m addrtype --dst-type LOCAL -j {CHAIN}"),
        Rule("nat", "OUTPUT", f"-m addrtype --dst-type LOCAL -j {CHAIN}"),
    )


def forward_rules(bridge: str, *, internal: bool, icc: bool) -> tuple[Rule, ...]:
    """A bridge's rules in filter FORWARD, in the order they must keep."""
    br, fb = bridge, Place.FORWARD_BRIDGE
    icc_rule = Rule("filter", "FORWARD", f"-i {br} -o {br} -j {'ACCEPT' if icc else 'DROP'}", fb)
    if internal:
        return (icc_rule,)
    return (
        # replies to connections the containers opened (or that were let in) come back
        Rule("filter", "FORWARD",
             f"-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", fb),
        Rule("filter", "FORWARD", f"-o {br} -j {CHAIN}", fb),  # new inbound: published ports only
        Rule("filter", "FORWARD", f"-i {br} ! -o {br} -j ACCEPT", fb),  # outbound
        icc_rule,
    )


def network_rules(net: Network) -> tuple[Rule, ...]:
    """Docker's rules for one bridge network (``docker network create``).

    An ``--internal`` network reaches nothing but itself: no MASQUERADE, no outbound
    ACCEPT, and ISOLATION-STAGE-1 drops whatever enters it from, or leaves it for, an
    address outside its subnet.

    Published ports reach 127.0.0.1 without a proxy process (Docker's ``--userland-proxy=
    false`` way): the OUTPUT jump of :func:`base_rules` DNATs ``127.0.0.1:8080`` to the
    container, but the kernel refuses to route a packet with a 127.x source out of a
    non-loopback device unless ``net.ipv4.conf.<bridge>.route_localnet`` is 1 (the caller
    sets it), and the container could not answer 127.0.0.1 anyway (its own loopback), so
    POSTROUTING masquerades ``-s 127.0.0.0/8 -o <bridge>`` to the bridge's address.
    """
    br, sub = net.bridge, net.subnet
    rules = forward_rules(br, internal=net.internal, icc=net.icc)
    if net.internal:
        return rules + (
            Rule("filter", ISOLATION_1, f"! -s {sub} -o {br} -j DROP", Place.HEAD),
            Rule("filter", ISOLATION_1, f"! -d {sub} -i {br} -j DROP", Place.HEAD),
        )
    return rules + (
        Rule("filter", ISOLATION_1, f"-i {br} ! -o {br} -j {ISOLATION_2}", Place.HEAD),
        Rule("filter", ISOLATION_2, f"-o {br} -j DROP", Place.HEAD),
        # Modern Docker's default drop: a packet routed to the bridge that no published port
        # accepted is refused, whatever the FORWARD policy (Docker used to set it to DROP).
        Rule("filter", CHAIN, f"! -i {br} -o {br} -j DROP", Place.TAIL),
        Rule("nat", "POSTROUTING", f"-s {sub} ! -o {br} -j MASQUERADE", Place.HEAD),
        Rule("nat", "POSTROUTING", f"-s {LOOPBACK} -o {br} -j MASQUERADE", Place.HEAD),
        # containers' own traffic to a host address is not DNATed back into the bridge
        Rule("nat", CHAIN, f"-i {br} -j RETURN", Place.HEAD),
    )


def port_rules(port: PortMapping) -> tuple[Rule, ...]:
    """Docker's rules for one published port; the DNAT rule, first, identifies the mapping.

    The third rule is Docker's hairpin MASQUERADE (the course's ``MASQUERADE tcp --
    10.0.0.2 10.0.0.2 tcp dpt:80``): a packet from the container DNATed back to itself
    would carry its own address as source, which its kernel drops as a martian; rewriting
    the source to the bridge's address makes the reply go back through the host. Like
    Docker with its userland proxy, pyker's DNAT skips packets that come in from the
    bridge (``! -i``), so this rule only takes effect if that exclusion is lifted (Docker's
    ``--userland-proxy=false`` hairpin mode); Docker writes it either way, and so does pyker.
    """
    br, cip, p = port.bridge, port.container_ip, port.proto
    match = f"-p {p} -m {p}"
    dest = "" if port.host_ip is None else f"-d {port.host_ip}/32 "
    return (
        Rule("nat", CHAIN, f"{dest}! -i {br} {match} --dport {port.host_port} -j DNAT "
                           f"--to-destination {cip}:{port.container_port}"),
        Rule("filter", CHAIN, f"-d {cip}/32 ! -i {br} -o {br} {match} "
                              f"--dport {port.container_port} -j ACCEPT", Place.HEAD),
        Rule("nat", "POSTROUTING", f"-s {cip}/32 -d {cip}/32 {match} "
                                   f"--dport {port.container_port} -j MASQUERADE"),
    )


def dnat_target(rule: Rule) -> tuple[str, str] | None:
    """``(proto, "ip:port")`` of a DNAT rule, else None."""
    found = _DNAT.search(rule.spec)
    return (found[1], found[2]) if found else None


@dataclass(frozen=True, slots=True)
class Ruleset:
    """What ``iptables-save`` printed for the filter and nat tables: declared chains and
    rules, in order (other tables are left out: pyker has nothing there)."""

    chains: frozenset[tuple[str, str]]
    rules: tuple[Rule, ...]

    @classmethod
    def parse(cls, text: str) -> Ruleset:
        chains: set[tuple[str, str]] = set()
        rules: list[Rule] = []
        table = ""
        for line in text.splitlines():
            if line.startswith("*"):
                table = line[1:].strip()
            elif table not in TABLES:
                continue
            elif line.startswith(":"):
                chains.add((table, line[1:].split(" ", 1)[0]))
            elif line.startswith("-A "):
                chain, _, spec = line[3:].partition(" ")
                rules.append(Rule(table, chain, spec.strip()))
        return cls(frozenset(chains), tuple(rules))

    def specs(self, table: str, chain: str) -> list[str]:
        return [r.spec for r in self.rules if r.table == table and r.chain == chain]


def pyker_chains(rs: Ruleset) -> list[tuple[str, str]]:
    """pyker's chains that exist in ``rs``."""
    return [c for c in CHAINS if c in rs.chains]


def pyker_rules(rs: Ruleset) -> list[Rule]:
    """The rules of ``rs`` that are pyker's, in ``iptables-save`` order.

    A rule is pyker's if it sits in a pyker chain, jumps to one, or is one of the shapes
    pyker writes in a built-in chain for a bridge that pyker's chains name (so Docker's
    ``docker0`` rules, or anyone else's, are never taken for pyker's). A hairpin
    MASQUERADE is pyker's when its address is a container a pyker rule forwards to.
    """
    own = set(CHAINS)
    bridges: set[str] = set()
    containers: set[str] = set()
    for r in rs.rules:
        if (r.table, r.chain) in own:
            bridges.update(_IFACE.findall(r.spec))
            if r.table == "filter":  # the ACCEPT of a published port names its container
                containers.update(re.findall(r"-d (\S+)/32 ", r.spec))
            elif target := dnat_target(r):
                containers.add(target[1].rsplit(":", 1)[0])
    forward = {rule.spec for br in bridges for internal in (False, True) for icc in (False, True)
               for rule in forward_rules(br, internal=internal, icc=icc)}

    def ours(r: Rule) -> bool:
        jump = _JUMP.search(r.spec)
        if (r.table, r.chain) in own or (jump and (r.table, jump[1]) in own):
            return True
        if (r.table, r.chain) == ("filter", "FORWARD"):
            return r.spec in forward
        if (r.table, r.chain) == ("nat", "POSTROUTING"):
            masq, hairpin = _MASQUERADE.fullmatch(r.spec), _HAIRPIN.fullmatch(r.spec)
            return bool(masq and masq[1] in bridges or hairpin and hairpin[1] in containers)
        return False

    return [r for r in rs.rules if ours(r)]


def render(chains: Iterable[tuple[str, str]], rules: Iterable[Rule]) -> str:
    """``iptables-save``'s format for these chains and rules (``rules()``'s output)."""
    chains, rules = list(chains), list(rules)
    out: list[str] = []
    for table in TABLES:
        mine = [r for r in rules if r.table == table]
        declared = [c for t, c in chains if t == table]
        if mine or declared:
            out += [f"*{table}", *(f":{c} - [0:0]" for c in declared),
                    *(r.line for r in mine), "COMMIT"]
    return "".join(line + "\n" for line in out)
