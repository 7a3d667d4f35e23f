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
from pathlib import Path

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


def test_a_failed_deletion_still_unpins_the_namespace_and_is_raised(
        netns, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """network_bridge.teardown gives the address back while the veth is being deleted; if
    that deletion fails, the namespace is unpinned all the same (the pair goes with it, not
    left on the bridge with a freed address), then the error is raised, and the state file
    stays for a later teardown."""
    from pyker.network.netns import is_pinned, remove
    from pyker.runtime import network_bridge
    from pyker.runtime.options import RunOptions
    from pyker.runtime.state import ContainerStore, Record

    host, _ = netns
    containers = ContainerStore(tmp_path / "data" / "containers")
    ctx = network_bridge.Context(containers=containers, run_root=tmp_path / "run")
    record = Record(id=secrets.token_hex(32), name="n", image_id="", image_ref="busybox",
                    created="", path="true", args=())
    directory = containers.dir(record.id)
    directory.mkdir(parents=True)
    opts = RunOptions(image="busybox", network="bridge")
    pinned = Path(network_bridge.pinned(ctx.run_root, record.id))

    def body() -> None:
        plan = network_bridge.setup(ctx, record, opts, None, directory)
        assert plan is not None and is_pinned(pinned)
        [(_, endpoint)] = ctx.networks.endpoints_of(record.id)
        assert endpoint.veth in _links(host)

        def refused(veth: str) -> None:
            raise PermissionError(1, "Operation not permitted", veth)

        monkeypatch.setattr(bridge, "detach", refused)
        with pytest.raises(PermissionError):
            network_bridge.teardown(ctx, record.id, directory)
        monkeypatch.undo()
        bridge._PENDING.pop(endpoint.veth).join()  # the deletion the fake did not wait for

    try:
        _inside(host, body)
        assert not is_pinned(pinned)
    finally:
        remove(pinned)  # a failing run leaves no mount behind
    assert ctx.networks.endpoints_of(record.id) == []
    assert (directory / network_bridge.STATE_FILE).exists()
