"""IP address management of bridge networks, as Docker's default IPAM driver does it.

A bridge network owns one IPv4 subnet. Its first host address is usually the gateway (the
address of the bridge itself, the containers' default route); every container attached gets
one more address of the subnet, the lowest free one, so that two ``run`` in a row give
``.2`` then ``.3`` and a removed container's address is given again to the next one.

Where a subnet comes from, when the user does not give one (libnetwork ``ipamutils``):

* the default bridge takes ``172.17.0.0/16``, or what ``bip`` says in ``daemon.json``
  (``"192.168.5.1/24"``: the gateway and the prefix length in one string);
* every other network takes the next free ``/16`` of ``172.17.0.0/12`` (172.17 … 172.31),
  then the ``/20`` blocks of ``192.168.0.0/16``;
* a candidate that overlaps an existing network, or a route of the host (its LAN, a VPN),
  is skipped: a container would otherwise shadow hosts the machine can reach.

Everything here is pure: the caller reads the host's routes and the existing networks and
passes them in, so the policy is tested without touching the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address, ip_network

from pyker.errors import NetworkError

# Docker's default-address-pools: (base, size of each network carved from it).
DEFAULT_POOLS: tuple[tuple[IPv4Network, int], ...] = (
    (IPv4Network("172.17.0.0/16"), 16),
    (IPv4Network("172.18.0.0/15"), 16),
    (IPv4Network("172.20.0.0/14"), 16),
    (IPv4Network("172.24.0.0/13"), 16),
    (IPv4Network("192.168.0.0/16"), 20),
)
# A bridge needs a gateway and at least one container address besides the network and
# broadcast addresses: a /30 is the smallest subnet that holds both.
MAX_PREFIX = 30

ERR_OVERLAP = "Pool overlaps with other one on this address space"
ERR_NO_POOL = ("could not find an available, non-overlapping IPv4 address pool among the "
               "defaults to assign to the network")


@dataclass(frozen=True, slots=True, kw_only=True)
class IpamConfig:
    """The addresses of one network, checked: every address below lies in ``subnet``."""

    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network | None = None      # containers get addresses only from here
    aux: Mapping[str, IPv4Address] = field(default_factory=dict, hash=False)  # reserved

    def reserved(self) -> set[IPv4Address]:
        """Addresses never given to a container: network, broadcast, gateway, aux."""
        return {self.subnet.network_address, self.subnet.broadcast_address, self.gateway,
                *self.aux.values()}


def parse_network(text: str, what: str = "subnet") -> IPv4Network:
    """``10.1.0.0/16`` as a network; ``what`` names the flag in the message.

    Raises:
        NetworkError: not a CIDR, not IPv4, host bits set (``10.1.0.1/16``).
    """
    text = text.strip()
    try:
        net = ip_network(text, strict=False)
    except ValueError:
        raise NetworkError(f"invalid {what}: invalid CIDR address: {text}") from None
    if "/" not in text:
        raise NetworkError(f"invalid {what}: invalid CIDR address: {text}")
    if net.version != 4:
        raise NetworkError(f"invalid {what} {text}: IPv6 is not supported by pyker")
    if IPv4Interface(text).ip != net.network_address:
        raise NetworkError(f"invalid {what} {text}: it should be {net}")
    return net  # type: ignore[return-value]


def parse_address(text: str, what: str) -> IPv4Address:
    """One IPv4 address; ``what`` names its role in the message (``gateway``, ``--ip``).

    Raises:
        NetworkError: not an IPv4 address.
    """
    try:
        addr = ip_address(text.strip())
    except ValueError:
        raise NetworkError(f"invalid {what}: invalid IPv4 address: {text}") from None
    if addr.version != 4:
        raise NetworkError(f"invalid {what} {text}: IPv6 is not supported by pyker")
    return addr  # type: ignore[return-value]


def host_networks(routes: Iterable[str | IPv4Network | IPv4Interface]) -> list[IPv4Network]:
    """The host's routes and addresses (``10.0.2.0/24``, ``10.0.2.15/24``, ``8.8.8.8``) as
    networks to keep clear of. Default routes and IPv6 ones are dropped: a ``0.0.0.0/0``
    route overlaps everything, and Docker ignores it for the same reason."""
    found = []
    for route in routes:
        try:
            net = ip_network(str(route), strict=False)
        except ValueError:
            continue  # a route the caller could not name (``default``): nothing to avoid
        if net.version == 4 and net.prefixlen > 0:
            found.append(net)
    return found


def next_pool(taken: Iterable[IPv4Network], host_routes: Iterable[object] = (), *,
              pools: tuple[tuple[IPv4Network, int], ...] = DEFAULT_POOLS) -> IPv4Network:
    """The first network of ``pools`` that overlaps neither ``taken`` nor a host route.

    Raises:
        NetworkError: every candidate is taken (Docker's message).
    """
    avoid = [*taken, *host_networks(host_routes)]  # type: ignore[arg-type]
    for base, size in pools:
        for candidate in base.subnets(new_prefix=size):
            if not any(candidate.overlaps(other) for other in avoid):
                return candidate
    raise NetworkError(ERR_NO_POOL)


def bip_config(bip: str) -> IpamConfig:
    """``bip`` of daemon.json (``192.168.5.1/24``) as the default bridge's addresses.

    Raises:
        NetworkError: not ``address/prefix``, or the address is not a host of its subnet.
    """
    try:
        if "/" not in bip:
            raise ValueError(bip)
        iface = IPv4Interface(bip.strip())
    except ValueError:
        raise NetworkError(f"invalid bip {bip!r}: expected an IPv4 address and a prefix "
                           "length, e.g. 192.168.5.1/24") from None
    subnet = iface.network
    if subnet.prefixlen > MAX_PREFIX or iface.ip in (subnet.network_address,
                                                     subnet.broadcast_address):
        raise NetworkError(f"invalid bip {bip}: the bridge address must be a host address of "
                           f"{subnet} (at most a /{MAX_PREFIX})")
    return IpamConfig(subnet=subnet, gateway=iface.ip)


def check_overlap(subnet: IPv4Network, taken: Iterable[IPv4Network]) -> None:
    """Raises NetworkError (Docker's message) when ``subnet`` overlaps a network in use."""
    for other in taken:
        if subnet.overlaps(other):
            raise NetworkError(ERR_OVERLAP)


def make_config(*, subnet: str | None = None, gateway: str | None = None,
                ip_range: str | None = None, aux: Mapping[str, str] | None = None,
                taken: Iterable[IPv4Network] = (), host_routes: Iterable[object] = ()
                ) -> IpamConfig:
    """The addresses of a new network from ``network create``'s flags, checked.

    Without ``subnet`` one is drawn from the default pools (gateway, ip-range and aux then
    cannot be given: Docker's CLI refuses them without a subnet to belong to). The checks
    run in the order of Docker's CLI, each with its message.

    Raises:
        NetworkError: a malformed CIDR or address, a gateway, range or aux address outside
            the subnet, a subnet overlapping one in ``taken``, no free pool left.
    """
    taken = list(taken)
    if subnet is None:
        if gateway or ip_range or aux:
            raise NetworkError("every ip-range or gateway must have a corresponding subnet")
        net = next_pool(taken, host_routes)
        return IpamConfig(subnet=net, gateway=net.network_address + 1)
    net = parse_network(subnet)
    if net.prefixlen > MAX_PREFIX:
        raise NetworkError(f"invalid subnet {subnet}: too small for a bridge network (at most "
                           f"a /{MAX_PREFIX})")
    rng = _check_range(net, ip_range)
    gw = _check_member(net, gateway, "gateway") if gateway else net.network_address + 1
    reserved_aux = {name: _check_member(net, addr, "aux-address")
                    for name, addr in (aux or {}).items()}
    check_overlap(net, taken)
    return IpamConfig(subnet=net, gateway=gw, ip_range=rng, aux=reserved_aux)


def _check_range(subnet: IPv4Network, ip_range: str | None) -> IPv4Network | None:
    if not ip_range:
        return None
    rng = parse_network(ip_range, "ip-range")
    if not rng.subnet_of(subnet):
        raise NetworkError(f"no matching subnet for range {ip_range}")
    return rng


def _check_member(subnet: IPv4Network, text: str, what: str) -> IPv4Address:
    addr = parse_address(text, what)
    if addr not in subnet:
        raise NetworkError(f"no matching subnet for {what} {text}")
    if addr in (subnet.network_address, subnet.broadcast_address):
        raise NetworkError(f"invalid {what} {text}: it is the network or broadcast address "
                           f"of {subnet}")
    return addr


def allocate(config: IpamConfig, used: Iterable[IPv4Address | str], *,
             where: str = "") -> IPv4Address:
    """The lowest free address for a container: in the ip-range if there is one, never a
    reserved address (:meth:`IpamConfig.reserved`) nor one in ``used``.

    ``where`` names the network in the message (``prod (a75553db716e)``).

    Raises:
        NetworkError: every address is taken (Docker's message).
    """
    busy = {IPv4Address(str(a)) for a in used} | config.reserved()
    space = config.ip_range or config.subnet
    # Walk integers rather than space.hosts(): hosts() of a range drops its first and last
    # address, which are ordinary hosts of the subnet (ip-range 10.1.1.0/24 in 10.1.0.0/16
    # gives 10.1.1.0 too, as Docker does); the subnet's own ends are in ``busy``.
    first, last = int(space.network_address), int(space.broadcast_address)
    for value in range(first, last + 1):
        candidate = IPv4Address(value)
        if candidate not in busy:
            return candidate
    raise NetworkError("no available IPv4 addresses on this network's address pools: "
                       f"{where or config.subnet}")


def reserve(config: IpamConfig, used: Iterable[IPv4Address | str], requested: str
            ) -> IPv4Address:
    """The address a user asked for (``--ip``), if it is the network's to give and free.

    Raises:
        NetworkError: malformed, outside the subnet or the ip-range, or already taken (the
            gateway and aux addresses count as taken, as in Docker).
    """
    addr = parse_address(requested, "--ip")
    if addr not in config.subnet:
        raise NetworkError(f"Invalid address {requested}: It does not belong to any of this "
                           "network's subnets")
    if config.ip_range is not None and addr not in config.ip_range:
        raise NetworkError(f"requested address is out of range: {requested} is not in "
                           f"ip-range {config.ip_range}")
    if addr in (config.subnet.network_address, config.subnet.broadcast_address):
        raise NetworkError(f"requested address is out of range: {requested} is the network "
                           f"or broadcast address of {config.subnet}")
    busy = {IPv4Address(str(a)) for a in used} | {config.gateway, *config.aux.values()}
    if addr in busy:
        raise NetworkError(f"Address already in use: {requested}")
    return addr


def mac_for(ip: IPv4Address | str) -> str:
    """Docker's MAC address for a container: ``02:42`` then the four bytes of its IPv4
    address (locally administered, unicast), so 172.17.0.2 is ``02:42:ac:11:00:02``."""
    raw = b"\x02\x42" + IPv4Address(str(ip)).packed
    return ":".join(f"{b:02x}" for b in raw)
