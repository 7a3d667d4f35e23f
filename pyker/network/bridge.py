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
        link = nl.link(name)
        if link is not None and link.up and f"{gateway}/{prefix}" in nl.addresses(link.index):
            return
        if link is None:
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
            try:
                host.add_veth(veth, ifname, peer_netns_fd=fd, master=bridge, up=True,
                              peer_mac=mac)
            except FileExistsError:  # left by a crash: start again
                host.delete_link(veth)
                host.add_veth(veth, ifname, peer_netns_fd=fd, master=bridge, up=True,
                              peer_mac=mac)
            try:
                with RtNetlink(netns_fd=fd) as inside:
                    index = inside.link_index(ifname)
                    inside.set_link(index, up=True)
                    inside.add_address(index, f"{ip}/{prefix}")
                    if gateway is not None:
                        inside.add_route(gateway)
            except BaseException:
                host.delete_link(veth)
                raise
    finally:
        os.close(fd)


def detach(veth: str) -> None:
    """Remove the pair by its host end (the container's end goes with it). Idempotent.

    When ``start_detach`` began it, this waits for the kernel's notice that the link is
    deleted (or for the request's error): the pair is gone from both namespaces when this
    returns, either way.
    """
    pending = _PENDING.pop(veth, None)
    if pending is not None:
        pending.join()
        if pending.error is not None:
            raise pending.error
        return
    _delete(veth)


def start_detach(veth: str) -> None:
    """Begin removing the pair in a thread; ``detach(veth)`` later waits for it.

    Unregistering a network device ends in rcu_barrier() (netdev_run_todo): the request
    returns only after an RCU grace period, ~15-20 ms here, for a delete as for a move to
    another namespace. The link is unlisted before that wait (the bridge port, the
    addresses and routes, the peer in the container's namespace: gone) and the kernel says
    so on its link notifications: ``detach`` returns on that notice, and the thread's
    request finishes in the background, the kernel freeing memory nobody can reach.
    A monitor starts it as soon as its container has exited, so that even the time to
    that notice overlaps the rest of the cleanup.
    """
    if veth in _PENDING:
        return
    try:
        _PENDING[veth] = _Deletion(veth)
    except (OSError, RuntimeError):  # no socket, pipe or thread now: detach does it all
        pass


class _Deletion:
    def __init__(self, veth: str) -> None:
        import threading

        from pyker.kernel.rtnetlink import LinkWatch

        self.veth = veth
        self.error: OSError | None = None
        self.watch = LinkWatch()  # listening before the request: its notice cannot be missed
        try:
            with RtNetlink() as host:
                self.index = host.link_index(veth)
            self._done_r, self._done_w = os.pipe2(os.O_CLOEXEC)
        except BaseException:
            self.watch.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"delete {veth}", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            for fd in (self._done_r, self._done_w):
                os.close(fd)
            self.watch.close()
            raise

    def _run(self) -> None:
        try:
            if self.index is not None:
                _delete(self.index)
        except OSError as err:
            self.error = err
        finally:
            os.write(self._done_w, b"x")

    def join(self) -> None:
        """Until the kernel announces the link deleted, or the request ends (an error)."""
        import select

        try:
            while self.index is not None:
                ready, _, _ = select.select([self.watch, self._done_r], [], [])
                if self._done_r in ready or self.index in self.watch.deleted():
                    break
        except OSError:  # ENOBUFS: notices lost; the request's own end is certain
            self._thread.join()
        finally:
            self.watch.close()
        if not self._thread.is_alive():
            os.close(self._done_r)
            os.close(self._done_w)
        # else the thread still writes its end there: both ends close with the process


_PENDING: dict[str, _Deletion] = {}


def _delete(link: str | int) -> None:
    with RtNetlink() as host:
        try:
            host.delete_link(link)
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
