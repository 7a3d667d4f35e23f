"""The network store on a temporary data root: networks and endpoints as files, the rules
of create/rm/prune, allocation under the lock across real processes, DNS lookups, Docker's
inspect document, and a store that stays readable when a writer dies mid-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pyker.errors import NetworkError, NetworkNotFound, StoreCorrupt
from pyker.cli.network import inspect_doc
from pyker.network.store import NetworkStore

A = "a" * 64
B = "b" * 64
C = "c" * 64


@pytest.fixture
def store(tmp_path: Path) -> NetworkStore:
    return NetworkStore(tmp_path)


def files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "network").iterdir())


# --- create, list, get -------------------------------------------------------------------

def test_first_user_network_gets_172_18_after_the_default_bridge(store, tmp_path):
    dev = store.create("dev")
    assert (dev.subnet, dev.gateway) == ("172.18.0.0/16", "172.18.0.1")
    assert len(dev.id) == 64 and int(dev.id, 16) >= 0
    assert dev.bridge == "br-" + dev.id[:12]
    assert (dev.driver, dev.scope, dev.attachable, dev.internal) == ("bridge", "local",
                                                                     False, False)
    bridge = store.get("bridge")
    assert (bridge.subnet, bridge.gateway, bridge.bridge) == ("172.17.0.0/16", "172.17.0.1",
                                                              "pyker0")
    assert store.create("prod").subnet == "172.19.0.0/16"
    assert files(tmp_path) == sorted([f"{bridge.id}.json", f"{dev.id}.json",
                                      f"{store.get('prod').id}.json", "lock"])


def test_list_has_the_predefined_networks_sorted_by_name(store):
    store.create("zeta", internal=True, labels={"tp": "network01"})
    listed = [(n.name, n.driver) for n in store.list()]
    assert listed == [("bridge", "bridge"), ("host", "host"), ("none", "null"),
                      ("zeta", "bridge")]
    zeta = store.get("zeta")
    assert zeta.internal and zeta.labels == {"tp": "network01"}


def test_predefined_ids_are_stable_and_resolvable(store, tmp_path):
    host = store.get("host")
    assert len(host.id) == 64
    assert NetworkStore(tmp_path).get(host.id[:6]).name == "host"
    assert store.get("none").driver == "null"


def test_records_survive_a_new_store_instance(store, tmp_path):
    dev = store.create("dev", subnet="10.9.0.0/24", ip_range="10.9.0.128/25",
                       aux={"gw2": "10.9.0.2"}, options={"x": "y"})
    store.attach("dev", A, name="web", aliases=("www",), veth="vethabc")
    again = NetworkStore(tmp_path).get("dev")
    assert replace(again, endpoints={}) == dev
    assert again.endpoints[A].aliases == ("www",) and again.endpoints[A].veth == "vethabc"


def test_get_by_id_name_and_prefix(store):
    dev = store.create("dev")
    assert store.get(dev.id) == dev
    assert store.get(dev.id[:5]) == dev
    assert store.get("dev") == dev


def test_get_unknown(store):
    with pytest.raises(NetworkNotFound) as err:
        store.get("nope")
    assert str(err.value) == "network nope not found"
    assert isinstance(err.value, NetworkError) and err.value.ref == "nope"
    with pytest.raises(NetworkNotFound):
        store.get("")


def test_get_ambiguous_prefix(store, tmp_path):
    # Ids are random: give two records ids that share a prefix, as a long-lived store may.
    for i, name in enumerate(("n1", "n2")):
        net = store.create(name, subnet=f"10.{i}.0.0/16")
        path = tmp_path / "network" / f"{net.id}.json"
        doc = json.loads(path.read_text())
        path.write_text(json.dumps({**doc, "id": f"ab{i}" + net.id[3:]}))
    assert store.get("ab1").name == "n2"
    with pytest.raises(NetworkNotFound) as err:
        store.get("ab")
    assert str(err.value) == "network ab is ambiguous (2 matches found based on ID prefix)"


def test_name_already_taken(store):
    store.create("dev")
    for name in ("dev", "bridge", "host", "none"):
        with pytest.raises(NetworkError) as err:
            store.create(name)
        assert str(err.value) == f"network with name {name} already exists"


@pytest.mark.parametrize("name", ["", "-dev", "my net", "dév", "a/b"])
def test_invalid_name(store, name):
    with pytest.raises(NetworkError) as err:
        store.create(name)
    assert str(err.value) == (f'Invalid network name ("{name}"), only '
                              "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")


def test_overlapping_user_subnet_names_dockers_error(store):
    store.create("a", subnet="10.66.0.0/16")
    with pytest.raises(NetworkError) as err:
        store.create("b", subnet="10.66.128.0/24")
    assert str(err.value) == "Pool overlaps with other one on this address space"
    with pytest.raises(NetworkError, match="Pool overlaps"):
        store.create("c", subnet="172.17.0.0/24")  # the default bridge's


def test_pools_skip_host_routes(store):
    dev = store.create("dev", host_routes=["172.18.0.0/16", "0.0.0.0/0"])
    assert store.get("bridge").subnet == "172.17.0.0/16"
    assert dev.subnet == "172.19.0.0/16"


# --- the default bridge ------------------------------------------------------------------

def test_default_is_written_once(store):
    first = store.default()
    assert store.default() == first
    assert first.options["com.docker.network.bridge.name"] == "pyker0"


def test_default_avoids_a_host_route(store):
    assert store.default(host_routes=["172.17.0.0/16"]).subnet == "172.18.0.0/16"


def test_bip_sets_the_default_and_user_networks_start_at_172_17(store):
    dev = store.create("dev", bip="192.168.5.1/24")
    bridge = store.get("bridge")
    assert (bridge.subnet, bridge.gateway) == ("192.168.5.0/24", "192.168.5.1")
    assert dev.subnet == "172.17.0.0/16"
    assert store.default(bip="192.168.5.1/24") == bridge


def test_changed_bip_applies_when_no_container_is_attached(store):
    before = store.default()
    after = store.default(bip="10.200.0.1/24")
    assert (after.id, after.created) == (before.id, before.created)
    assert (after.subnet, after.gateway) == ("10.200.0.0/24", "10.200.0.1")
    store.attach("bridge", A, name="c1")
    kept = store.default(bip="10.201.0.1/24")
    assert kept.subnet == "10.200.0.0/24" and A in kept.endpoints
    store.detach("bridge", A)
    assert store.default().subnet == "172.17.0.0/16"  # bip dropped: back to the pools


def test_bip_overlapping_a_user_network(store):
    store.create("dev", subnet="10.1.0.0/16")
    with pytest.raises(NetworkError, match="^Pool overlaps with other one"):
        store.default(bip="10.1.2.1/24")


# --- remove and prune ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_predefined_networks_cannot_be_removed(store, name):
    store.default()
    with pytest.raises(NetworkError) as err:
        store.remove(name)
    assert str(err.value) == f"{name} is a pre-defined network and cannot be removed"


def test_remove_refused_while_endpoints_then_allowed(store, tmp_path):
    dev = store.create("dev")
    store.attach("dev", A, name="web")
    with pytest.raises(NetworkError) as err:
        store.remove("dev")
    assert str(err.value) == (f"error while removing network: network dev id {dev.id} has "
                              "active endpoints")
    store.detach("dev", A)
    assert store.remove(dev.id[:8]).name == "dev"
    assert f"{dev.id}.json" not in files(tmp_path)
    with pytest.raises(NetworkNotFound):
        store.remove("dev")


def test_prune_removes_only_unused_user_networks(store):
    for name in ("a", "b", "c"):
        store.create(name)
    store.attach("b", A, name="web")
    store.attach("bridge", B, name="other")
    assert store.prune() == ["a", "c"]
    assert [n.name for n in store.list()] == ["b", "bridge", "host", "none"]
    assert store.prune() == []


# --- endpoints ---------------------------------------------------------------------------

def test_attach_gives_consecutive_addresses_and_docker_macs(store):
    store.default()
    e1 = store.attach("bridge", A, name="laughing_leavitt", veth="veth1fd9c18")
    e2 = store.attach("bridge", B, name="epic_meninsky")
    assert (e1.ip, e1.mac) == ("172.17.0.2", "02:42:ac:11:00:02")
    assert (e2.ip, e2.mac) == ("172.17.0.3", "02:42:ac:11:00:03")
    assert len(e1.endpoint_id) == 64 and e1.endpoint_id != e2.endpoint_id
    assert e1.veth == "veth1fd9c18" and e1.name == "laughing_leavitt"


def test_detach_releases_and_the_address_is_reused(store):
    store.create("dev")
    for cid in (A, B, C):
        store.attach("dev", cid, name=cid[:3])
    released = store.detach("dev", A)
    assert released is not None and released.ip == "172.18.0.2"
    assert store.detach("dev", A) is None  # idempotent
    assert store.attach("dev", "d" * 64, name="d").ip == "172.18.0.2"
    with pytest.raises(NetworkNotFound):
        store.detach("nope", A)
    assert store.detach("host", A) is None


def test_attach_twice(store):
    store.create("dev")
    store.attach("dev", A, name="web")
    with pytest.raises(NetworkError) as err:
        store.attach("dev", A, name="web")
    assert str(err.value) == "endpoint with name web already exists in network dev"


def test_attach_to_host_or_none_is_refused(store):
    for name, driver in (("host", "host"), ("none", "null")):
        with pytest.raises(NetworkError) as err:
            store.attach(name, A, name="web")
        assert str(err.value) == (f"network {name} (driver {driver}) gives no address: a "
                                  f"container joins it with --network {name} alone")


def test_user_ip_needs_a_user_subnet(store):
    store.create("auto")
    with pytest.raises(NetworkError) as err:
        store.attach("bridge", A, name="x", ip="172.17.0.9")
    assert str(err.value) == "user specified IP address is supported on user defined networks only"
    with pytest.raises(NetworkError) as err:
        store.attach("auto", A, name="x", ip="172.18.0.9")
    assert str(err.value) == ("user specified IP address is supported only when connecting to "
                              "networks with user configured subnets")


def test_user_ip_on_a_user_subnet(store):
    store.create("pub", subnet="10.66.0.0/16", ip_range="10.66.1.0/24")
    assert store.attach("pub", A, name="a", ip="10.66.1.50").ip == "10.66.1.50"
    assert store.attach("pub", B, name="b").ip == "10.66.1.0"
    with pytest.raises(NetworkError, match="^Address already in use: 10.66.1.50$"):
        store.attach("pub", C, name="c", ip="10.66.1.50")
    with pytest.raises(NetworkError, match="^Invalid address 10.67.0.1: It does not belong"):
        store.attach("pub", C, name="c", ip="10.67.0.1")
    with pytest.raises(NetworkError, match="^requested address is out of range"):
        store.attach("pub", C, name="c", ip="10.66.2.1")


def test_exhausted_network_names_itself(store):
    net = store.create("tiny", subnet="10.7.0.0/30")
    store.attach("tiny", A, name="a")
    with pytest.raises(NetworkError) as err:
        store.attach("tiny", B, name="b")
    assert str(err.value) == ("no available IPv4 addresses on this network's address pools: "
                              f"tiny ({net.id})")


def test_endpoints_of_and_detach_all(store):
    store.create("front")
    store.create("back")
    store.attach("front", A, name="web")
    store.attach("back", A, name="web", aliases=("api",))
    store.attach("back", B, name="db")
    assert [(n.name, e.ip) for n, e in store.endpoints_of(A)] == [("back", "172.19.0.2"),
                                                                 ("front", "172.18.0.2")]
    released = store.detach_all(A)
    assert sorted(n.name for n, _ in released) == ["back", "front"]
    assert store.endpoints_of(A) == []
    assert list(store.get("back").endpoints) == [B]


# --- DNS lookups -------------------------------------------------------------------------

def test_lookup_by_name_alias_and_ids(store):
    store.create("prod")
    store.create("other")
    store.attach("prod", A, name="prod-es-1", aliases=("es",))
    store.attach("prod", B, name="prod-es-2", aliases=("ES",))
    store.attach("other", C, name="spy", aliases=("es",))
    assert store.lookup(["prod"], "es") == ["172.18.0.2", "172.18.0.3"]
    assert store.lookup(["prod"], "Prod-ES-1.") == ["172.18.0.2"]
    assert store.lookup(["prod"], "prod-es-2.prod") == ["172.18.0.3"]
    assert store.lookup(["prod"], "b" * 12) == ["172.18.0.3"]
    assert store.lookup(["prod"], B) == ["172.18.0.3"]
    assert store.lookup(["prod"], "b" * 11) == []     # shorter than a short id
    assert store.lookup(["prod"], "spy") == []         # not on the asked network
    assert store.lookup(["prod", "other", "gone"], "es") == ["172.18.0.2", "172.18.0.3",
                                                            "172.19.0.2"]
    assert store.lookup([store.get("other").id], "spy.other") == ["172.19.0.2"]


# --- inspect -----------------------------------------------------------------------------

def test_inspect_user_network_shape(store):
    net = store.create("pub", subnet="10.66.0.0/16", ip_range="10.66.1.0/24",
                       aux={"router": "10.66.0.5"}, labels={"k": "v"})
    store.attach("pub", A, name="web")
    doc = inspect_doc(store.get("pub"))
    endpoint = store.get("pub").endpoints[A]
    assert doc == {
        "Name": "pub", "Id": net.id, "Created": net.created, "Scope": "local",
        "Driver": "bridge", "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {},
                 "Config": [{"Subnet": "10.66.0.0/16", "Gateway": "10.66.0.1",
                             "IPRange": "10.66.1.0/24",
                             "AuxiliaryAddresses": {"router": "10.66.0.5"}}]},
        "Internal": False, "Attachable": False, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
        "Containers": {A: {"Name": "web", "EndpointID": endpoint.endpoint_id,
                           "MacAddress": "02:42:0a:42:01:00",
                           "IPv4Address": "10.66.1.0/16", "IPv6Address": ""}},
        "Options": {}, "Labels": {"k": "v"},
    }
    assert json.loads(json.dumps(doc)) == doc


def test_inspect_default_bridge_and_host(store):
    doc = inspect_doc(store.default())
    assert doc["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]
    assert doc["Options"]["com.docker.network.bridge.name"] == "pyker0"
    assert doc["Options"]["com.docker.network.bridge.default_bridge"] == "true"
    assert doc["Created"].endswith("Z") and len(doc["Created"].split(".")[1]) == 10
    host = inspect_doc(store.get("host"))
    assert (host["Driver"], host["IPAM"]["Config"], host["Containers"]) == ("host", [], {})


# --- concurrency and crashes (real processes) ----------------------------------------------

ATTACHER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pyker.network.store import NetworkStore
    store = NetworkStore(Path(sys.argv[1]))
    tag, count = sys.argv[2], int(sys.argv[3])
    for i in range(count):
        store.attach("dev", f"{tag}{i:063x}", name=f"{tag}{i}")
""")


def run_python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env,
                            stderr=subprocess.PIPE)


def test_two_processes_attaching_get_distinct_addresses(store, tmp_path):
    store.create("dev")
    procs = [run_python(ATTACHER, str(tmp_path), tag, "50") for tag in ("1", "2")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    ips = [e.ip for e in store.get("dev").endpoints.values()]
    assert len(ips) == 100 and len(set(ips)) == 100
    assert sorted(ips, key=lambda a: int(a.split(".")[3])) == \
        [f"172.18.0.{i}" for i in range(2, 102)]


CRASH_BEFORE_RENAME = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from pyker.network.store import NetworkStore
    os.rename = lambda *a: os._exit(9)   # die after the temp file is written, before rename
    NetworkStore(Path(sys.argv[1])).attach("dev", "f" * 64, name="victim")
""")


def test_crash_before_rename_leaves_the_old_record(store, tmp_path):
    store.create("dev")
    store.attach("dev", A, name="web")
    proc = run_python(CRASH_BEFORE_RENAME, str(tmp_path))
    proc.communicate(timeout=60)
    assert proc.returncode == 9
    leftovers = [n for n in files(tmp_path) if n.startswith(".tmp-")]
    assert len(leftovers) == 1  # the dead writer's half-done work
    assert list(store.get("dev").endpoints) == [A]
    assert store.attach("dev", B, name="next").ip == "172.18.0.3"  # lock free, tmp swept
    assert not [n for n in files(tmp_path) if n.startswith(".tmp-")]


CRASH_BETWEEN_WRITES = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from pyker.fs import atomic
    from pyker.network.store import NetworkStore
    real, calls = atomic.atomic_write, []
    def once(*a, **k):
        if calls:
            os._exit(9)             # the default bridge is written, the new network is not
        calls.append(1)
        real(*a, **k)
    atomic.atomic_write = once
    NetworkStore(Path(sys.argv[1])).create("dev")
""")


def test_crash_between_two_writes_leaves_a_readable_store(store, tmp_path):
    proc = run_python(CRASH_BETWEEN_WRITES, str(tmp_path))
    proc.communicate(timeout=60)
    assert proc.returncode == 9
    assert [n.name for n in store.list()] == ["bridge", "host", "none"]
    assert store.create("dev").subnet == "172.18.0.0/16"


def test_sigkill_in_a_loop_of_attaches_leaves_a_consistent_store(store, tmp_path):
    store.create("dev")
    proc = run_python(ATTACHER, str(tmp_path), "9", "100000")
    deadline = time.monotonic() + 30
    while len(store.get("dev").endpoints) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    endpoints = store.get("dev").endpoints
    ips = [e.ip for e in endpoints.values()]
    assert len(ips) >= 20 and len(set(ips)) == len(ips)
    for path in (tmp_path / "network").glob("*.json"):
        json.loads(path.read_bytes())  # every record whole
    assert store.attach("dev", A, name="after").ip not in ips


def test_a_corrupt_record_is_reported_with_its_path(store, tmp_path):
    dev = store.create("dev")
    path = tmp_path / "network" / f"{dev.id}.json"
    path.write_text("{not json")
    with pytest.raises(StoreCorrupt) as err:
        store.list()
    assert str(path) in str(err.value)
