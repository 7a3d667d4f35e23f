"""RtNetlink against the real kernel, each test in throwaway network namespaces.

Nothing here touches the host's own namespace: every socket is created for a namespace made by
``ip netns add pyk-rtnl-<random>`` and deleted afterwards, and no packet is sent. Results are
read back independently with iproute2's JSON output (``ip -n NS -j -d link show``...).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pyker.kernel.rtnetlink import Link, LinkWatch, RtNetlink

pytestmark = pytest.mark.requires("root")

# RFC 5737 documentation range: addresses that exist only inside these namespaces.
BRIDGE_IP, CONTAINER_IP, PREFIX = "192.0.2.1", "192.0.2.2", 24
MAC = "02:42:c0:00:02:02"


@dataclass(frozen=True, slots=True)
class Netns:
    name: str
    fd: int  # an open /run/netns/NAME, what RtNetlink(netns_fd=) takes

    def ip(self, *args: str) -> list[dict]:
        """``ip -n NAME -j ARGS`` decoded."""
        out = subprocess.run(["ip", "-n", self.name, "-j", *args], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out) if out.strip() else []

    def link(self, name: str) -> dict:
        (found,) = self.ip("-d", "link", "show", "dev", name)
        return found

    def link_names(self) -> set[str]:
        return {link["ifname"] for link in self.ip("link", "show")}


def _make_netns() -> Iterator[Netns]:
    if not shutil.which("ip"):
        pytest.skip("ip not installed (Debian package iproute2)")
    name = f"pyk-rtnl-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            yield Netns(name, fd)
        finally:
            os.close(fd)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.fixture
def ns() -> Iterator[Netns]:
    """The "host" side of the tests: where the bridge lives."""
    yield from _make_netns()


@pytest.fixture
def peer_ns() -> Iterator[Netns]:
    """The "container" side: where the veth peer goes."""
    yield from _make_netns()


def _ns_inode(path: str) -> int:
    return os.stat(path).st_ino


def test_bridge_created_and_up(ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        nl.add_bridge("pyker0", mtu=1400)
        assert "UP" not in ns.link("pyker0")["flags"]  # created down, as ip link add does
        nl.set_link("pyker0", up=True)
        index = nl.link_index("pyker0")
    link = ns.link("pyker0")
    assert link["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in link["flags"]
    assert link["mtu"] == 1400
    assert link["ifindex"] == index


def test_docker_like_bridge_network(ns: Netns, peer_ns: Netns) -> None:
    with RtNetlink(ns.fd) as host, RtNetlink(peer_ns.fd) as container:
        host.add_bridge("pyker0")
        host.add_address("pyker0", f"{BRIDGE_IP}/{PREFIX}")
        host.set_link("pyker0", up=True)
        host.add_veth("vethpyk0", "vethpyk0c", peer_netns_fd=peer_ns.fd)
        host.set_link("vethpyk0", master="pyker0", up=True)
        assert host.link_index("vethpyk0c") is None  # born in the other namespace
        container.set_link("vethpyk0c", name="eth0", mac=MAC, up=True)
        container.add_address("eth0", f"{CONTAINER_IP}/{PREFIX}")
        container.add_route(BRIDGE_IP)
        assert container.addresses("eth0") == [f"{CONTAINER_IP}/{PREFIX}"]
        assert host.addresses("pyker0") == [f"{BRIDGE_IP}/{PREFIX}"]

    port = ns.link("vethpyk0")
    assert port["master"] == "pyker0" and "UP" in port["flags"]
    assert port["linkinfo"]["info_kind"] == "veth"
    assert "vethpyk0c" not in ns.link_names() | peer_ns.link_names()

    eth0 = peer_ns.link("eth0")
    assert eth0["address"] == MAC and "UP" in eth0["flags"]
    assert eth0["linkinfo"]["info_kind"] == "veth"
    assert eth0["link_index"] == port["ifindex"]  # the peer of vethpyk0, seen from the container
    (inet,) = [a for a in peer_ns.ip("addr", "show", "dev", "eth0")[0]["addr_info"]
               if a["family"] == "inet"]
    assert (inet["local"], inet["prefixlen"], inet["broadcast"]) == (CONTAINER_IP, PREFIX,
                                                                     "192.0.2.255")
    routes = peer_ns.ip("route", "show", "default")
    assert routes == [{"dst": "default", "gateway": BRIDGE_IP, "dev": "eth0", "flags": []}]


def test_a_veth_made_in_one_request_is_a_bridge_port_with_the_peers_address(
        ns: Netns, peer_ns: Netns) -> None:
    with RtNetlink(ns.fd) as host:
        host.add_bridge("pyker0")
        host.add_veth("vethpyk0", "eth0", peer_netns_fd=peer_ns.fd, master="pyker0", up=True,
                      peer_mac=MAC)
    port = ns.link("vethpyk0")
    assert port["master"] == "pyker0" and "UP" in port["flags"]
    eth0 = peer_ns.link("eth0")
    assert eth0["address"] == MAC and "UP" not in eth0["flags"]
    assert eth0["link_index"] == port["ifindex"]


def test_a_veth_with_an_unknown_master_is_not_made(ns: Netns, peer_ns: Netns) -> None:
    with RtNetlink(ns.fd) as host, pytest.raises(OSError) as caught:
        host.add_veth("vethpyk0", "eth0", peer_netns_fd=peer_ns.fd, master="nosuchbr")
    assert caught.value.errno == errno.ENODEV and "nosuchbr" in str(caught.value)
    assert "vethpyk0" not in ns.link_names() and "eth0" not in peer_ns.link_names()


def test_links_agree_with_ip(ns: Netns, peer_ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        nl.add_bridge("pyker0")
        nl.add_veth("vethpyk0", "vethpyk1")
        nl.set_link("vethpyk0", master="pyker0", mac=MAC, up=True, mtu=1450)
        links = nl.links()
    by_name = {link["ifname"]: link for link in ns.ip("-d", "link", "show")}
    assert [link.name for link in links] == list(by_name)
    for link in links:
        seen = by_name[link.name]
        master = by_name[seen["master"]]["ifindex"] if "master" in seen else 0
        assert link == Link(index=seen["ifindex"], name=seen["ifname"],
                            kind=seen.get("linkinfo", {}).get("info_kind", ""), master=master,
                            mac=seen["address"], up="UP" in seen["flags"], mtu=seen["mtu"])
    assert {(link.name, link.kind) for link in links} >= {
        ("lo", ""), ("pyker0", "bridge"), ("vethpyk0", "veth"), ("vethpyk1", "veth")}


def test_set_link_by_index_moves_into_another_namespace_and_detaches(
        ns: Netns, peer_ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        nl.add_bridge("pyker0")
        nl.add_veth("vethpyk0", "vethpyk1")
        nl.set_link("vethpyk1", master="pyker0")
        assert "master" in ns.link("vethpyk1")
        index = nl.link_index("vethpyk1")
        assert index is not None
        nl.set_link(index, master=0)
        assert "master" not in ns.link("vethpyk1")
        nl.set_link(index, netns_fd=peer_ns.fd, name="eth0")
    assert "vethpyk1" not in ns.link_names() and "eth0" not in ns.link_names()
    assert "eth0" in peer_ns.link_names()


def test_deleting_one_end_of_a_veth_deletes_both(ns: Netns, peer_ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        nl.add_veth("vethpyk0", "vethpyk0c", peer_netns_fd=peer_ns.fd)
        assert "vethpyk0c" in peer_ns.link_names()
        nl.delete_link("vethpyk0")
        assert nl.link_index("vethpyk0") is None
    assert "vethpyk0" not in ns.link_names()
    assert "vethpyk0c" not in peer_ns.link_names()


def test_delete_by_index(ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        nl.add_bridge("pyker0")
        nl.delete_link(nl.link_index("pyker0") or -1)
    assert "pyker0" not in ns.link_names()


def test_adding_an_existing_link_is_eexist_naming_it(ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        nl.add_bridge("pyker0")
        with pytest.raises(FileExistsError) as caught:
            nl.add_bridge("pyker0")
        assert caught.value.errno == errno.EEXIST
        assert caught.value.strerror == "netlink RTM_NEWLINK bridge pyker0: File exists"
        with pytest.raises(FileExistsError, match=r"RTM_NEWLINK veth pyker0 \(peer v1\)"):
            nl.add_veth("pyker0", "v1")


def test_adding_an_existing_address_is_eexist_naming_it(ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        nl.add_bridge("pyker0")
        nl.add_address("pyker0", f"{BRIDGE_IP}/{PREFIX}")
        expected = f"netlink RTM_NEWADDR address {BRIDGE_IP}/{PREFIX} on link pyker0"
        with pytest.raises(FileExistsError, match=expected):
            nl.add_address("pyker0", f"{BRIDGE_IP}/{PREFIX}")


@pytest.mark.parametrize("operation", [
    lambda nl: nl.set_link("nosuch0", up=True),
    lambda nl: nl.add_address("nosuch0", f"{BRIDGE_IP}/{PREFIX}"),
    lambda nl: nl.addresses("nosuch0"),
    lambda nl: nl.add_route(BRIDGE_IP, link="nosuch0"),
    lambda nl: nl.delete_link("nosuch0"),
], ids=["set_link", "add_address", "addresses", "add_route", "delete_link"])
def test_unknown_link_is_enodev_naming_it(ns: Netns, operation) -> None:  # noqa: ANN001
    with RtNetlink(ns.fd) as nl:
        assert nl.link_index("nosuch0") is None
        with pytest.raises(OSError, match=r"^\[Errno 19\] netlink RTM_\w+ link nosuch0: "
                                          r"No such device") as caught:
            operation(nl)
    assert caught.value.errno == errno.ENODEV


def test_unknown_master_is_named(ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        nl.add_bridge("pyker0")
        with pytest.raises(OSError, match="link nosuch0: No such device"):
            nl.set_link("pyker0", master="nosuch0")


def test_unreachable_gateway_carries_the_kernels_explanation(ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl:
        with pytest.raises(OSError) as caught:
            nl.add_route(BRIDGE_IP)
    assert caught.value.errno == errno.ENETUNREACH
    assert caught.value.strerror.startswith(
        f"netlink RTM_NEWROUTE route 0.0.0.0/0 via {BRIDGE_IP}: Network is unreachable (")


def test_socket_for_another_namespace_leaves_the_thread_where_it_was(
        ns: Netns, peer_ns: Netns) -> None:
    """The socket lists B's links while this process (and thread) stays in its namespace."""
    before = (_ns_inode("/proc/self/ns/net"), _ns_inode("/proc/thread-self/ns/net"))
    with RtNetlink(peer_ns.fd) as in_b, RtNetlink(ns.fd) as in_a:
        assert (_ns_inode("/proc/self/ns/net"), _ns_inode("/proc/thread-self/ns/net")) == before
        assert before[1] != os.fstat(peer_ns.fd).st_ino
        in_b.add_bridge("only-in-b")
        assert {link.name for link in in_b.links()} == {"lo", "only-in-b"} == peer_ns.link_names()
        assert {link.name for link in in_a.links()} == {"lo"} == ns.link_names()
    assert (_ns_inode("/proc/self/ns/net"), _ns_inode("/proc/thread-self/ns/net")) == before


def test_socket_for_another_namespace_from_a_worker_thread(peer_ns: Netns) -> None:
    """setns(2) moves one thread: a worker's switch and return leave the main thread alone."""
    main_before = _ns_inode("/proc/thread-self/ns/net")
    seen: dict[str, object] = {}

    def worker() -> None:
        seen["before"] = _ns_inode("/proc/thread-self/ns/net")
        with RtNetlink(peer_ns.fd) as nl:
            seen["links"] = [link.name for link in nl.links()]
        seen["after"] = _ns_inode("/proc/thread-self/ns/net")

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["links"] == ["lo"]
    assert seen["before"] == seen["after"] == main_before == _ns_inode("/proc/thread-self/ns/net")


def test_fd_that_is_not_a_namespace_is_refused_and_nothing_moves(tmp_path) -> None:  # noqa: ANN001
    before = _ns_inode("/proc/thread-self/ns/net")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        with pytest.raises(OSError, match=f"setns fd {fd}") as caught:
            RtNetlink(fd)
    finally:
        os.close(fd)
    assert caught.value.errno == errno.EINVAL
    assert _ns_inode("/proc/thread-self/ns/net") == before


def test_link_watch_announces_a_deletion_by_index(ns: Netns, peer_ns: Netns) -> None:
    with RtNetlink(ns.fd) as nl, LinkWatch(ns.fd) as watch:
        nl.add_veth("vethpyk3", "vethpyk3c", peer_netns_fd=peer_ns.fd)
        index = nl.link_index("vethpyk3")
        assert index not in watch.deleted()  # its creation is announced, not as a deletion
        nl.delete_link("vethpyk3")
        assert watch.deleted() == {index}
        assert watch.deleted() == set()  # read once


def test_link_watch_hears_only_its_namespace(ns: Netns, peer_ns: Netns) -> None:
    with RtNetlink(peer_ns.fd) as nl, LinkWatch(ns.fd) as watch:
        nl.add_bridge("pyker9")
        nl.delete_link("pyker9")
        assert watch.deleted() == set()
