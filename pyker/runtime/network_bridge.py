"""A container's network, from its run options to a configured namespace, and back.

At each start (pyker.runtime.launch.prepare), for the bridge network or a user network:
a network namespace pinned under the run directory (pyker.network.netns), an endpoint on
the network (address from the store's IPAM), the veth pair (pyker.network.bridge), the
published ports (DNAT rules, pyker.network.nat), and the container's /etc/hosts and
/etc/resolv.conf. The spec then names the namespace by path: the init joins it, and so
would runc or crun. When the container stops (or is removed after a crash), ``teardown``
undoes all of it, in reverse, and is idempotent.

What was set up is written to ``network.json`` in the container's directory: inspect, ps
and port read it, and teardown knows from it what to undo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pyker.errors import PykerError
from pyker.fs.atomic import atomic_write

STATE_FILE = "network.json"


@dataclass(frozen=True, slots=True)
class Context:
    """What the network set-up reads and writes besides the container itself."""

    containers: object  # pyker.runtime.state.ContainerStore
    run_root: Path | None
    bip: str | None = None

    @property
    def networks(self):
        from pyker.network.store import NetworkStore

        return NetworkStore(self.containers.root.parent)

    @classmethod
    def of(cls, containers, run_root: Path) -> Context:
        from pyker import config

        return cls(containers=containers, run_root=run_root, bip=config.load().bip)


@dataclass(frozen=True, slots=True)
class NetPlan:
    netns: str                     # the path the spec's network namespace names
    dns_networks: tuple[str, ...] = ()  # network ids the embedded DNS answers for
    dns_upstreams: tuple[str, ...] = ()


def _host_routes() -> list[str]:
    """The host's own IPv4 networks: IPAM never gives a new network one of them."""
    import ipaddress

    from pyker.kernel.rtnetlink import RtNetlink

    found = []
    with RtNetlink() as nl:
        for link in nl.links():
            for address in nl.addresses(link.index):
                found.append(str(ipaddress.ip_interface(address).network))
    return found


class HostRoutes:
    """The host's networks, read only if IPAM needs them (the default network's creation)."""

    def __iter__(self):
        return iter(_host_routes())


def _network(ctx, name: str):
    if name in ("bridge", "default"):
        return ctx.networks.default(bip=ctx.bip, host_routes=HostRoutes())
    return ctx.networks.get(name)


def setup(ctx, record, opts, image, container_dir: Path) -> NetPlan | None:
    """Prepare the network of one start; None for ``none`` and ``host`` (the spec's own)."""
    mode = opts.network
    if mode in ("none", "host"):
        return None
    if mode.startswith("container:"):
        return _share(ctx, mode.partition(":")[2], container_dir)
    from pyker.network import bridge, netns

    network = _network(ctx, mode)
    bridge.ensure_bridge(network.bridge, network.subnet, network.gateway,
                         internal=network.internal)
    path = Path(pinned(ctx.run_root, record.id))
    if (container_dir / STATE_FILE).exists():  # what a crashed start or stop left
        teardown(ctx, record.id, container_dir)
    state = {"mode": mode, "netns": str(path), "networks": {}, "ports": []}
    # Written before anything is made, removed after everything is undone (teardown): a
    # network part of a container exists only while this file does.
    _save(container_dir, state)
    try:
        netns.create(path)
        user_network = mode not in ("bridge", "default")
        endpoint = ctx.networks.attach(
            network.id, record.id, name=record.name, ip=opts.ip or None,
            aliases=opts.aliases if user_network else (),
            veth=bridge.veth_name(record.id, network.id))
        state["networks"][network.name] = _endpoint_doc(network, endpoint)
        _save(container_dir, state)
        bridge.attach(path, bridge=network.bridge, veth=endpoint.veth, ifname="eth0",
                      ip=endpoint.ip, mac=endpoint.mac, subnet=network.subnet,
                      gateway=None if network.internal else network.gateway)
        state["ports"] = _publish(ctx, record.id, network, endpoint, opts, image)
        if state["ports"]:
            _save(container_dir, state)
        resolv = _write_files(ctx, record, opts, container_dir, endpoint.ip,
                              embedded_dns=user_network, gateway=network.gateway)
    except BaseException:
        teardown(ctx, record.id, container_dir)
        raise
    _event(ctx, "connect", network, record.id)
    return NetPlan(netns=str(path), dns_networks=(network.id,) if user_network else (),
                   dns_upstreams=tuple(u.address for u in resolv.upstreams))


def pinned(run_root: Path, container_id: str) -> str:
    """Where a container's network namespace is pinned (bridge and user networks)."""
    return str(run_root / "netns" / container_id)


def _endpoint_doc(network, endpoint) -> dict[str, object]:
    import ipaddress

    return {"NetworkID": network.id, "EndpointID": endpoint.veth,
            "Gateway": network.gateway, "IPAddress": endpoint.ip,
            "IPPrefixLen": ipaddress.ip_network(network.subnet).prefixlen,
            "MacAddress": endpoint.mac, "Aliases": list(endpoint.aliases) or None,
            "Bridge": network.bridge}


def _published_elsewhere(ctx, record_id: str) -> set[tuple[int, str]]:
    from pyker.runtime.state import container_files

    taken = set()
    for path in container_files(ctx.containers.root, STATE_FILE):
        if path.parent.name != record_id:
            for port in (settings(path.parent) or {}).get("ports", ()):
                taken.add((port["host_port"], port["proto"]))
    return taken


def _publish(ctx, record_id, network, endpoint, opts, image) -> list[dict[str, object]]:
    from pyker.network import nat, ports

    bindings = [b for spec in opts.publish for b in ports.parse_publish(spec)]
    if opts.publish_all:
        exposed = ports.exposed_ports(list(image.config.config.exposed_ports), list(opts.expose))
        bindings += ports.publish_all(exposed)
    if not bindings:  # most runs: no other container's state to read
        return []
    taken = _published_elsewhere(ctx, record_id)

    def in_use(host_ip: str, port: int, proto: str) -> bool:
        # A DNAT rule holds no socket: other containers' ports are checked from their state.
        return (port, proto) in taken or ports.port_in_use(host_ip, port, proto)

    bindings = ports.allocate(bindings, in_use=in_use, port_range=ports.local_port_range())
    done = []
    for b in bindings:
        nat.publish(network.bridge, endpoint.ip, b.proto, b.host_ip or "0.0.0.0", b.host_port,
                    b.container_port)
        done.append({"host_ip": b.host_ip or "0.0.0.0", "host_port": b.host_port,
                     "container_port": b.container_port, "proto": b.proto,
                     "bridge": network.bridge, "ip": endpoint.ip})
    return done


def _write_files(ctx, record, opts, container_dir: Path, ip: str, *, embedded_dns: bool,
                 gateway: str):
    from pyker.network import resolvconf

    try:
        host_resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        host_resolv = ""
    resolv = resolvconf.container_resolv_conf(
        host_resolv, embedded_dns=embedded_dns, dns=opts.dns, dns_search=opts.dns_search,
        dns_options=opts.dns_options)
    extra = resolvconf.resolve_host_gateway(
        [resolvconf.parse_add_host(entry) for entry in opts.add_hosts], gateway)
    links = [_link(ctx, spec) for spec in opts.links]
    hostname = opts.hostname or record.id[:12]
    atomic_write(container_dir / "hosts", resolvconf.container_hosts(
        hostname=hostname, ip=ip, extra=extra, links=links).encode(), durable=False)
    atomic_write(container_dir / "resolv.conf", resolv.text.encode(), durable=False)
    return resolv


def _link(ctx, spec: str) -> tuple[str, str, str]:
    """``--link name[:alias]``: the linked container's address under both names."""
    name, _, alias = spec.partition(":")
    other = ctx.containers.resolve(name)
    doc = settings(ctx.containers.dir(other.id))
    if doc is None or not doc.get("networks"):
        raise PykerError(f"cannot link to {name}: it is not running on a bridge network")
    address = next(iter(doc["networks"].values()))["IPAddress"]
    return (alias or other.name, address, other.name)


def _share(ctx, target: str, container_dir: Path) -> NetPlan:
    """``--network container:NAME``: that container's namespace and its name files."""
    import shutil

    from pyker.runtime.state import alive

    other = ctx.containers.resolve(target)
    if not alive(other.state.pid, other.state.pid_start):
        raise PykerError(f"cannot join network of a non running container: {target}")
    for name in ("hosts", "resolv.conf", "hostname"):
        shutil.copyfile(ctx.containers.dir(other.id) / name, container_dir / name)
    return NetPlan(netns=f"/proc/{other.state.pid}/ns/net")


def teardown(ctx, container_id: str, container_dir: Path) -> None:
    """Ports, veths, endpoints and the namespace of the container's last start: gone."""
    from pyker.network import bridge, nat, netns

    state = settings(container_dir)
    for port in (state or {}).get("ports", ()):
        nat.unpublish(port["bridge"], port["ip"], port["proto"], port["host_ip"],
                      port["host_port"], port["container_port"])
    endpoints = ctx.networks.endpoints_of(container_id)
    veths = [endpoint.veth for _, endpoint in endpoints if endpoint.veth]
    for veth in veths:
        bridge.start_detach(veth)  # begun already by release_links, in a monitor
    # The addresses go back while the kernel unlists the links (~1-2 ms): an address taken
    # again at once is on no link before the next container's set-up makes its veth, and
    # what the old namespace still holds is the same address with the same MAC, answering
    # for nobody. Every deletion is waited for, and the namespace unpinned, whatever fails:
    # a pair whose deletion failed goes with the namespace, not left on the bridge with an
    # address given back.
    failed: list[BaseException] = []
    try:
        for network, _ in endpoints:
            ctx.networks.detach(network.id, container_id)
            _event(ctx, "disconnect", network, container_id)
    finally:
        for veth in veths:
            try:
                bridge.detach(veth)
            except OSError as err:
                failed.append(err)
        pinned_at = (state or {}).get("netns") or (
            pinned(ctx.run_root, container_id) if ctx.run_root else "")
        if pinned_at and not pinned_at.startswith("/proc/"):
            netns.remove(Path(pinned_at))
    if failed:
        raise failed[0]
    (container_dir / STATE_FILE).unlink(missing_ok=True)


def release(ctx, container_id: str, container_dir: Path) -> None:
    """``release_links`` then ``teardown``: all of it in one call, for a helper process
    (pyker.runtime.aside) while the monitor releases the rest of the container."""
    release_links(container_dir)
    teardown(ctx, container_id, container_dir)


def release_links(container_dir: Path) -> None:
    """Begin deleting the container's veth pairs (pyker.network.bridge.start_detach): once
    its processes are gone and no restart follows, while the rest of the cleanup runs;
    ``teardown`` waits for them."""
    from pyker.network import bridge

    try:
        state = settings(container_dir) or {}
    except (OSError, ValueError):  # unreadable: teardown reports it, from the store
        return
    for doc in (state.get("networks") or {}).values():
        if doc.get("EndpointID"):
            bridge.start_detach(doc["EndpointID"])


def _event(ctx, action: str, network, container_id: str) -> None:
    """Docker's network connect/disconnect event (pyker.events)."""
    from pyker import events

    events.network(ctx.containers.root.parent, action, network.id, network.name,
                   driver=network.driver, container_id=container_id)


def settings(container_dir: Path) -> dict | None:
    try:
        return json.loads((container_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return None


def _save(container_dir: Path, state: dict) -> None:
    atomic_write(container_dir / STATE_FILE, json.dumps(state).encode(), durable=False)


def dns_server(data_root: Path, container_id: str, netns_path: str,
               upstreams: tuple[str, ...]):
    """The embedded DNS for a container on user networks (Docker's 127.0.0.11): a socket in
    its namespace, answered by its monitor from the network store (the user networks the
    container is on at the time of the query: ``network connect`` counts); other names go
    to ``upstreams`` (--dns) or the host's resolvers, from the host's namespace."""
    import os

    from pyker.network import dns
    from pyker.network.store import NetworkStore

    store = NetworkStore(data_root)
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sock = dns.bind_in_netns(fd)
    finally:
        os.close(fd)
    servers = [(server, 53) for server in upstreams] or dns.host_nameservers()

    def lookup(name: str) -> list[str]:
        networks = [n.id for n, _ in store.endpoints_of(container_id) if n.name != "bridge"]
        return store.lookup(networks, name)

    return dns.DnsServer(sock, dns.Resolver(lookup),
                         upstream=dns.upstream_socket(), servers=servers)


def _running_state(ctx, record) -> dict:
    from pyker.runtime.state import alive

    if not alive(record.state.pid, record.state.pid_start):
        raise PykerError(f"container {record.name} is not running")
    state = settings(ctx.containers.dir(record.id))
    if state is None or str(state.get("netns", "")).startswith("/proc/"):
        raise PykerError(f"container {record.name} shares a network namespace (network mode "
                         f"{record.options.get('network')}): it cannot join other networks")
    return state


def connect(ctx, record, network, *, ip: str = "", aliases: tuple[str, ...] = ()) -> None:
    """``network connect``: one more interface (eth1, eth2…) in a running container."""
    from pyker.network import bridge

    state = _running_state(ctx, record)
    if network.name in state["networks"]:
        raise PykerError(f"endpoint with name {record.name} already exists in network "
                         f"{network.name}")
    bridge.ensure_bridge(network.bridge, network.subnet, network.gateway,
                         internal=network.internal)
    names = bridge.interface_names(Path(state["netns"]))
    ifname = next(f"eth{n}" for n in range(len(names) + 1) if f"eth{n}" not in names)
    endpoint = ctx.networks.attach(network.id, record.id, name=record.name, ip=ip or None,
                                   aliases=aliases, veth=bridge.veth_name(record.id, network.id))
    try:
        bridge.attach(Path(state["netns"]), bridge=network.bridge, veth=endpoint.veth,
                      ifname=ifname, ip=endpoint.ip, mac=endpoint.mac, subnet=network.subnet,
                      gateway=None)
    except BaseException:
        ctx.networks.detach(network.id, record.id)
        raise
    state["networks"][network.name] = _endpoint_doc(network, endpoint)
    _save(ctx.containers.dir(record.id), state)
    _event(ctx, "connect", network, record.id)


def disconnect(ctx, record, network, *, force: bool = False) -> None:
    """``network disconnect``: the container's interface on ``network`` removed."""
    from pyker.network import bridge

    container_dir = ctx.containers.dir(record.id)
    state = settings(container_dir) or {"networks": {}}
    endpoint = next((ep for net, ep in ctx.networks.endpoints_of(record.id)
                     if net.id == network.id), None)
    if endpoint is None:
        if force:
            return
        raise PykerError(f"container {record.id[:12]} is not connected to network "
                         f"{network.name}")
    for port in [p for p in state.get("ports", ()) if p["bridge"] == network.bridge]:
        from pyker.network import nat

        nat.unpublish(port["bridge"], port["ip"], port["proto"], port["host_ip"],
                      port["host_port"], port["container_port"])
        state["ports"].remove(port)
    if endpoint.veth:
        bridge.detach(endpoint.veth)
    ctx.networks.detach(network.id, record.id)
    _event(ctx, "disconnect", network, record.id)
    state["networks"].pop(network.name, None)
    if settings(container_dir) is not None:
        _save(container_dir, state)
