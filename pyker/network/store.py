"""The networks on disk: what each one is (subnet, gateway, bridge) and who is attached.

Each network is one JSON file ``<data-root>/network/<id>.json`` holding its addresses and
its endpoints (container → address, MAC, aliases, host-side veth), so the address of every
container is known without asking the kernel, and the embedded DNS answers from the same
files. Every write replaces one file atomically (``pyker.fs.atomic``) under one lock for all
the network state (``<data-root>/network/lock``): two ``run`` started together read, allocate
and write one after the other, and never get the same address. Readers (``ls``, ``inspect``,
the DNS) take no lock: they always read a whole file, old or new.

A network's creation is made durable (fsync of the file and of the directory); an endpoint's
attach or detach is not: a host crash stops every container anyway, so the endpoints on disk
are stale after it whichever of the last writes survived, and the container's next start or
its removal replaces them (pyker.runtime.network_bridge). Two fsyncs cost 1-3 ms each here,
four per ``run --network bridge``.

As in Docker, three networks are predefined: ``bridge`` (the default bridge, interface
``pyker0``, written on first use with ``bip`` of daemon.json), ``host`` and ``none`` (no
addresses, no file: they exist by definition). None of them can be removed.

This module holds state only; creating the bridge and the veths is the caller's work.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import IPv4Network
from pathlib import Path

from pyker.errors import NetworkError, NetworkNotFound, StoreCorrupt
from pyker.fs import atomic, lock
from pyker.network import ipam
from pyker.network.records import (DEFAULT_BRIDGE, DEFAULT_NAME, DEFAULT_OPTIONS, NAME_RE,
                                   PREDEFINED, SHORT_ID, Endpoint, Network,
                                   with_predefined)
from pyker.runtime.logs import rfc3339_nano

class NetworkStore:
    """The networks under ``<root>/network/`` (``root`` is the data root)."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "network"

    # --- reading (no lock) -------------------------------------------------------------

    def _files(self) -> list[Network]:
        if not self.dir.is_dir():
            return []
        found = []
        for path in sorted(self.dir.glob("*.json")):
            try:
                found.append(Network.from_dict(json.loads(path.read_bytes())))
            except FileNotFoundError:
                continue  # removed between the listing and the read
            except (ValueError, TypeError, KeyError) as err:
                raise StoreCorrupt(f"{path}: unreadable network record: {err}") from None
        return found

    def list(self) -> list[Network]:
        """Every network, the predefined ``host`` and ``none`` included, by name.

        ``bridge`` appears once written (:meth:`default`)."""
        return sorted(with_predefined(self._files()), key=lambda n: n.name)

    def get(self, ref: str) -> Network:
        """A network by full id, name or unique id prefix, in Docker's order.

        Raises:
            NetworkNotFound: no network matches, or the prefix is ambiguous.
        """
        return _resolve(self.list(), ref)

    def endpoints_of(self, container_id: str) -> list[tuple[Network, Endpoint]]:
        return [(n, n.endpoints[container_id]) for n in self.list()
                if container_id in n.endpoints]

    def lookup(self, networks: Iterable[str], name: str) -> list[str]:
        """The IPv4 addresses that ``name`` designates on ``networks``, for the DNS.

        A container matches by its name, its id (full, or a prefix of at least 12 hex
        digits) or one of its aliases on that network, without regard to case;
        ``name.network`` designates it on that network only, as in Docker.
        """
        key = name.lower().rstrip(".")
        everything = self.list()
        found: list[str] = []
        for ref in networks:
            try:
                net = _resolve(everything, ref)
            except NetworkNotFound:
                continue
            suffix = "." + net.name.lower()
            keys = {key, key[:-len(suffix)]} if key.endswith(suffix) else {key}
            for cid, ep in net.endpoints.items():
                if any(_designates(cid, ep, k) for k in keys) and ep.ip not in found:
                    found.append(ep.ip)
        return found

    # --- writing (under the lock) ------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[list[Network]]:
        """Hold the network lock; yield the networks as on disk now."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with lock.exclusive(self.dir / "lock"):
            atomic.sweep_temporaries(self.dir)
            yield self._files()

    def _save(self, net: Network, *, durable: bool = True) -> None:
        # Compact: an indented dump is CPython's pure-Python encoder, ~4x slower.
        data = json.dumps(net.to_dict(), sort_keys=True).encode()
        atomic.atomic_write(self.dir / f"{net.id}.json", data, durable=durable)

    def _delete(self, net: Network) -> None:
        (self.dir / f"{net.id}.json").unlink(missing_ok=True)
        atomic.fsync_dir(self.dir)

    def create(self, name: str, *, subnet: str | None = None, gateway: str | None = None,
               ip_range: str | None = None, aux: dict[str, str] | None = None,
               internal: bool = False, labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None, bip: str | None = None,
               host_routes: Iterable[object] = ()) -> Network:
        """A new bridge network (``network create``). The default bridge is written first
        when missing (with ``bip``), so that pools skip its subnet as in Docker.

        Raises:
            NetworkError: an invalid or taken name; what :func:`ipam.make_config` raises.
        """
        if not NAME_RE.fullmatch(name):
            raise NetworkError(f'Invalid network name ("{name}"), only '
                               "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        host_routes = list(host_routes)
        with self._locked() as nets:
            if name in PREDEFINED or any(n.name == name for n in nets):
                raise NetworkError(f"network with name {name} already exists")
            if not any(n.name == DEFAULT_NAME for n in nets):
                nets.append(self._write_default(nets, None, bip, host_routes))
            config = ipam.make_config(subnet=subnet, gateway=gateway, ip_range=ip_range,
                                      aux=aux, taken=_subnets(nets), host_routes=host_routes)
            net = _from_config(secrets.token_hex(32), name, config, configured=bool(subnet),
                               internal=internal, labels=dict(labels or {}),
                               options=dict(options or {}))
            self._save(net)
        return net

    def default(self, bip: str | None = None, host_routes: Iterable[object] = ()) -> Network:
        """The default ``bridge`` network, written on first use.

        With ``bip`` its addresses are bip's; without, the first free default pool
        (172.17.0.0/16 unless a host route takes it). A changed ``bip`` applies once no
        container is attached: the addresses of running containers are not pulled from
        under them (Docker applies it at its next start, which stops them).

        Raises:
            NetworkError: a malformed ``bip``, or one overlapping another network.
        """
        def usable(current: Network | None) -> bool:
            return current is not None and (bool(current.endpoints) or _matches_bip(current, bip))

        # Every `run` asks: a read without the lock answers it once the network exists.
        current = next((n for n in self._files() if n.name == DEFAULT_NAME), None)
        if usable(current):
            return current
        with self._locked() as nets:
            current = next((n for n in nets if n.name == DEFAULT_NAME), None)
            if usable(current):
                return current
            return self._write_default(nets, current, bip, list(host_routes))

    def _write_default(self, nets: list[Network], current: Network | None, bip: str | None,
                       host_routes: list[object]) -> Network:
        others = _subnets(n for n in nets if n.name != DEFAULT_NAME)
        if bip:
            config = ipam.bip_config(bip)
            ipam.check_overlap(config.subnet, others)
        else:
            net = ipam.next_pool(others, host_routes)
            config = ipam.IpamConfig(subnet=net, gateway=net.network_address + 1)
        net_id = current.id if current else secrets.token_hex(32)
        net = _from_config(net_id, DEFAULT_NAME, config, configured=bool(bip),
                           options=dict(DEFAULT_OPTIONS))
        if current is not None:
            net = replace(net, created=current.created)
        self._save(net)
        return net

    def remove(self, ref: str) -> Network:
        """Remove a network (``network rm``); return what it was.

        Raises:
            NetworkNotFound: no such network.
            NetworkError: a predefined network, or one with containers attached.
        """
        with self._locked() as nets:
            net = _resolve(with_predefined(nets), ref)
            if net.predefined:
                raise NetworkError(f"{net.name} is a pre-defined network and cannot be removed")
            if net.endpoints:
                raise NetworkError(f"error while removing network: network {net.name} id "
                                   f"{net.id} has active endpoints")
            self._delete(net)
        return net

    def prune(self) -> list[str]:
        """Remove the user networks no container is attached to; return their names."""
        removed = []
        with self._locked() as nets:
            for net in nets:
                if not net.predefined and not net.endpoints:
                    self._delete(net)
                    removed.append(net.name)
        return sorted(removed)

    def attach(self, network: str, container_id: str, *, name: str, ip: str | None = None,
               aliases: Iterable[str] = (), veth: str = "") -> Endpoint:
        """Give ``container_id`` an address on ``network`` (name, id or prefix): ``ip`` if
        asked (``--ip``), else the lowest free one.

        Raises:
            NetworkNotFound: no such network.
            NetworkError: host/none, already attached, ``ip`` refused, no address left.
        """
        with self._locked() as nets:
            net = _resolve(with_predefined(nets), network)
            if net.driver != "bridge":
                raise NetworkError(f"network {net.name} (driver {net.driver}) gives no "
                                   f"address: a container joins it with --network {net.name} "
                                   "alone")
            if container_id in net.endpoints:
                raise NetworkError(f"endpoint with name {name} already exists in network "
                                   f"{net.name}")
            config = net.ipam()
            used = [ep.ip for ep in net.endpoints.values()]
            if ip:
                _check_user_ip(net)
                addr = ipam.reserve(config, used, ip)
            else:
                addr = ipam.allocate(config, used, where=f"{net.name} ({net.id})")
            endpoint = Endpoint(ip=str(addr), mac=ipam.mac_for(addr), aliases=tuple(aliases),
                                veth=veth, name=name, endpoint_id=secrets.token_hex(32))
            self._save(replace(net, endpoints={**net.endpoints, container_id: endpoint}),
                       durable=False)
        return endpoint

    def detach(self, network: str, container_id: str) -> Endpoint | None:
        """Release the container's address on ``network``; None if it had none there.

        Raises:
            NetworkNotFound: no such network.
        """
        with self._locked() as nets:
            net = _resolve(with_predefined(nets), network)
            endpoint = net.endpoints.get(container_id)
            if endpoint is not None:
                self._save(_without(net, container_id), durable=False)
        return endpoint

    def detach_all(self, container_id: str) -> list[tuple[Network, Endpoint]]:
        """Release every address of the container (its removal); return what it had."""
        released = []
        with self._locked() as nets:
            for net in nets:
                if container_id in net.endpoints:
                    self._save(_without(net, container_id), durable=False)
                    released.append((net, net.endpoints[container_id]))
        return released


def _resolve(nets: list[Network], ref: str) -> Network:
    for net in nets:
        if net.id == ref:
            return net
    for net in nets:
        if net.name == ref:
            return net
    found = [n for n in nets if ref and n.id.startswith(ref.lower())]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise NetworkNotFound(ref, f"network {ref} is ambiguous ({len(found)} matches found "
                                   "based on ID prefix)")
    raise NetworkNotFound(ref)


def _designates(container_id: str, endpoint: Endpoint, key: str) -> bool:
    if key == endpoint.name.lower() or key in (a.lower() for a in endpoint.aliases):
        return True
    return key == container_id or (len(key) >= SHORT_ID and container_id.startswith(key))


def _subnets(nets: Iterable[Network]) -> list[IPv4Network]:
    return [IPv4Network(n.subnet) for n in nets if n.subnet]


def _without(net: Network, container_id: str) -> Network:
    return replace(net, endpoints={k: v for k, v in net.endpoints.items() if k != container_id})


def _matches_bip(net: Network, bip: str | None) -> bool:
    if not bip:
        return not net.configured  # bip dropped from daemon.json: back to the pools
    config = ipam.bip_config(bip)
    return net.subnet == str(config.subnet) and net.gateway == str(config.gateway)


def _check_user_ip(net: Network) -> None:
    # Docker's rule: an address chosen by the user must come from a subnet chosen by the
    # user, or a later network could be given the same subnet by the pools.
    if net.name == DEFAULT_NAME:
        raise NetworkError("user specified IP address is supported on user defined networks "
                           "only")
    if not net.configured:
        raise NetworkError("user specified IP address is supported only when connecting to "
                           "networks with user configured subnets")


def _from_config(net_id: str, name: str, config: ipam.IpamConfig, *, configured: bool,
                 internal: bool = False, labels: dict[str, str] | None = None,
                 options: dict[str, str] | None = None) -> Network:
    return Network(id=net_id, name=name, subnet=str(config.subnet),
                   gateway=str(config.gateway),
                   ip_range=str(config.ip_range) if config.ip_range else "",
                   aux={k: str(v) for k, v in config.aux.items()}, configured=configured,
                   internal=internal, labels=labels or {}, options=options or {},
                   created=rfc3339_nano(),
                   bridge=DEFAULT_BRIDGE if name == DEFAULT_NAME else f"br-{net_id[:12]}")
