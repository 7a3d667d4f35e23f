"""The bridge driver's kernel side: a Linux bridge per network, a veth pair per endpoint.

What Docker's bridge driver builds, with the same names and addresses, so that ``ip link``,
``bridge link`` and ``iptables -t nat -L`` on the host read as the course describes them:

- a network is a bridge (``pyker0`` for the default one, ``br-<id12>`` for the others)
  holding the gateway address, plus its NAT and isolation rules (pyker.network.nat);
- a container on it gets one end of a veth pair as ``eth0`` in its network namespace
  (address, MAC 02:42:<ip>, default route via the gateway), and the other end, named
  ``veth<7 hex>``, is a port of the bridge on the host.

Everything goes through netlink (pyker.kernel.rtnetlink); nothing here keeps state: the
network store (pyker.network.store) says what exists, and each function here is idempotent
enough to be called again after a crash half way.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import os
from pathlib import Path

from pyker.kernel.rtnetlink import RtNetlink


def veth_name(container_id: str, network_id: str) -> str:
    """The host end's name: stable for a (container, network) pair, 11 characters."""
    return "veth" + hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()[:7]


def ensure_bridge(name: str, subnet: str, gateway: str, *, internal: bool = False) -> None:
    """The bridge with its gateway address, up, and its iptables rules (idempotent).

    A bridge that is there, up and holding its address is taken as complete: its rules were
    written with it (checking them is two execs of iptables, ~15 ms on every ``run``). Like
    Docker's daemon, pyker does not notice rules a user deletes by hand meanwhile;
    ``network rm`` then ``create`` (or a reboot, for the default bridge) writes them again.
    """
    from pyker.network import nat

    prefix = ipaddress.ip_network(subnet).prefixlen
    with RtNetlink() as nl:
        index = nl.link_index(name)
        if index is not None and f"{gateway}/{prefix}" in nl.addresses(index) and next(
                (link.up for link in nl.links() if link.index == index), False):
            return
        if index is None:
            nl.add_bridge(name)
        if f"{gateway}/{prefix}" not in nl.addresses(name):
            nl.add_address(name, f"{gateway}/{prefix}")
        nl.set_link(name, up=True)
    nat.add_network(name, subnet, internal=internal)


def delete_bridge(name: str, subnet: str) -> None:
    """The bridge and its rules gone (idempotent)."""
    from pyker.network import nat

    nat.remove_network(name, subnet)
    with RtNetlink() as nl:
        if nl.link_index(name) is not None:
            nl.delete_link(name)


def attach(netns: Path, *, bridge: str, veth: str, ifname: str, ip: str, mac: str,
           subnet: str, gateway: str | None) -> None:
    """Plug the namespace pinned at ``netns`` into ``bridge``: a veth pair, ``ifname`` inside
    with ``ip`` and ``mac``; a default route via ``gateway`` unless None (internal network,
    or not the container's first network)."""
    prefix = ipaddress.ip_network(subnet).prefixlen
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with RtNetlink() as host:
            if host.link_index(veth) is not None:  # left by a crash: start again
                host.delete_link(veth)
            host.add_veth(veth, ifname, peer_netns_fd=fd)
            try:
                host.set_link(veth, master=bridge, up=True)
                with RtNetlink(netns_fd=fd) as inside:
                    inside.set_link(ifname, mac=mac, up=True)
                    inside.add_address(ifname, f"{ip}/{prefix}")
                    if gateway is not None:
                        inside.add_route(gateway)
            except BaseException:
                host.delete_link(veth)
                raise
    finally:
        os.close(fd)


def detach(veth: str) -> None:
    """Remove the pair by its host end (the container's end goes with it). Idempotent."""
    with RtNetlink() as host:
        try:
            host.delete_link(veth)
        except OSError as err:
            if err.errno != errno.ENODEV:
                raise


def interface_names(netns: Path) -> list[str]:
    """The interfaces in a pinned namespace (for the next free ``ethN``)."""
    fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with RtNetlink(netns_fd=fd) as inside:
            return [link.name for link in inside.links()]
    finally:
        os.close(fd)
