"""pyker.network.bridge's veth removal, early (start_detach) or not, in throwaway namespaces.

bridge's functions act in the calling thread's network namespace; each test runs them in a
worker thread that setns(2)'d into a namespace of its own (``ip netns add``), so nothing
here touches the host's links. The deleting thread start_detach makes is born there too (a
thread inherits its creator's namespaces).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest

from pyker.kernel.namespaces import CloneFlag, setns
from pyker.kernel.rtnetlink import RtNetlink
from pyker.network import bridge

pytestmark = pytest.mark.requires("root")


@pytest.fixture
def netns() -> Iterator[str]:
    names = [f"pyk-bd-{secrets.token_hex(4)}" for _ in range(2)]
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], check=True)


def _links(name: str) -> set[str]:
    out = subprocess.run(["ip", "-n", name, "-j", "link", "show"], check=True,
                         capture_output=True, text=True).stdout
    return {link["ifname"] for link in json.loads(out)}


def _inside(name: str, body: Callable[[], object]) -> object:
    """``body()`` in a thread that entered namespace ``name``; its result or its error."""
    result: dict[str, object] = {}

    def worker() -> None:
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd, CloneFlag.CLONE_NEWNET)
        finally:
            os.close(fd)
        try:
            result["value"] = body()
        except BaseException as err:  # noqa: BLE001 — handed to the test
            result["error"] = err

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _pair(host: str, container: str) -> None:
    """A bridge and a veth whose peer (eth0) is in ``container``, as bridge.attach makes."""
    fd = os.open(f"/run/netns/{container}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with RtNetlink() as nl:
            nl.add_bridge("pyker0")
            nl.set_link("pyker0", up=True)
            nl.add_veth("vethpyk1", "eth0", peer_netns_fd=fd)
            nl.set_link("vethpyk1", master="pyker0", up=True)
    finally:
        os.close(fd)


def test_early_detach_has_both_ends_gone_when_detach_returns(netns) -> None:  # noqa: ANN001
    host, container = netns

    def body() -> None:
        _pair(host, container)
        bridge.start_detach("vethpyk1")
        bridge.start_detach("vethpyk1")  # a second start is the same removal
        bridge.detach("vethpyk1")

    _inside(host, body)
    assert "vethpyk1" not in _links(host) and "eth0" not in _links(container)
    assert "pyker0" in _links(host)
    assert bridge._PENDING == {}


def test_detach_without_a_start_and_of_a_missing_link(netns) -> None:  # noqa: ANN001
    host, container = netns

    def body() -> None:
        _pair(host, container)
        bridge.detach("vethpyk1")
        bridge.detach("vethpyk1")  # idempotent: ENODEV is not an error
        bridge.start_detach("vethpyk1")  # nothing left to delete
        bridge.detach("vethpyk1")

    _inside(host, body)
    assert "vethpyk1" not in _links(host) and "eth0" not in _links(container)


def test_the_name_is_free_again_when_detach_returns(netns) -> None:  # noqa: ANN001
    """A restarted container makes a veth of the same name right after the old one went."""
    host, container = netns

    def body() -> None:
        _pair(host, container)
        bridge.start_detach("vethpyk1")
        bridge.detach("vethpyk1")
        with RtNetlink() as nl:
            nl.add_veth("vethpyk1", "vethpyk1c")

    _inside(host, body)
    assert "vethpyk1" in _links(host)


def test_an_unreadable_network_state_starts_nothing_and_raises_nothing(tmp_path) -> None:  # noqa: ANN001
    """The monitor's early release is an optimisation: a torn network.json leaves the
    whole removal to teardown, which reads the network store."""
    from pyker.runtime.network_bridge import release_links

    (tmp_path / "network.json").write_text('{"networks": {"bridge": {"Endpoi')
    release_links(tmp_path)
    (tmp_path / "network.json").write_text('{"networks": {"bridge": {"EndpointID": ""}}}')
    release_links(tmp_path)
    assert bridge._PENDING == {}
