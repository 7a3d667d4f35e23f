"""pyker's iptables rules on the real kernel, and real traffic through them.

Every rule is written inside throwaway network namespaces (``ip netns add pyk-nat-…``): the
functions run in a forked child that joined the namespace, so iptables, iptables-restore
and the sysctls it writes (ip_forward, route_localnet) all act there; the host's own
tables and sysctls never change, which the first test checks.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from forked import run_in_child
from pyker.errors import IptablesError
from pyker.kernel.namespaces import CloneFlag, setns
from pyker.network import nat
from pyker.network.nat_rules import Network, PortMapping, Ruleset, network_rules, port_rules

pytestmark = pytest.mark.requires("root", "iptables")

BRIDGE, SUBNET, GATEWAY, CONTAINER = "pyknat0", "192.0.2.0/24", "192.0.2.1", "192.0.2.2"
OUT_HOST, OUT_PEER = "198.51.100.1", "198.51.100.2"  # the "host"'s outside link, its peer


def save() -> str:
    """iptables-save of the current namespace, without its timestamps and counters."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return plain(out)


def plain(text: str) -> str:
    return "".join(re.sub(r" \[\d+:\d+\]$", "", line) + "\n"
                   for line in text.splitlines() if not line.startswith("#"))


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns() -> Iterator[Callable[[str], str]]:
    """``netns(role)`` creates a namespace named for this test; all are deleted after it."""
    made: list[str] = []
    tag = secrets.token_hex(3)

    def make(role: str) -> str:
        name = f"pyk-nat-{tag}-{role}"
        ip("netns", "add", name)
        made.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    yield make
    for name in made:
        subprocess.run(["ip", "netns", "del", name], check=False)


def inside(name: str, fn: Callable[[], object], timeout: float = 60) -> str:
    """Run ``fn`` in a child that joined namespace ``name``; its result, as a string."""
    def child() -> object:
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        setns(fd, CloneFlag.CLONE_NEWNET)
        os.close(fd)
        return fn()

    result = run_in_child(child, timeout=timeout)
    assert result.status == 0, result.output
    return result.output


def with_bridge(ns: str) -> None:
    ip("-n", ns, "link", "add", BRIDGE, "type", "bridge")
    ip("-n", ns, "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    ip("-n", ns, "link", "set", BRIDGE, "up")


def test_the_hosts_iptables_and_sysctls_never_change(netns):
    before = save(), Path("/proc/sys/net/ipv4/ip_forward").read_text()
    ns = netns("h")
    with_bridge(ns)

    def cycle() -> str:
        nat.add_network(BRIDGE, SUBNET)
        nat.publish(BRIDGE, CONTAINER, "tcp", "0.0.0.0", 8080, 80)
        during = nat.rules()
        nat.remove_all()
        return during

    assert "-A PYKER ! -i pyknat0 -p tcp -m tcp --dport 8080" in inside(ns, cycle)
    assert (save(), Path("/proc/sys/net/ipv4/ip_forward").read_text()) == before


def test_ensure_base_twice_adds_nothing(netns):
    def twice() -> str:
        nat.ensure_base()
        first = save()
        nat.ensure_base()
        return json.dumps([first, save(), Path("/proc/sys/net/ipv4/ip_forward").read_text(),
                           nat.rules()])

    first, second, forward, rules = json.loads(inside(netns("h"), twice))
    assert first == second
    assert forward == "1\n"
    assert rules == """\
*filter
:PYKER - [0:0]
:PYKER-ISOLATION-STAGE-1 - [0:0]
:PYKER-ISOLATION-STAGE-2 - [0:0]
:PYKER-USER - [0:0]
-A FORWARD -j PYKER-USER
-A FORWARD -j PYKER-ISOLATION-STAGE-1
-A PYKER-ISOLATION-STAGE-1 -j RETURN
-A PYKER-ISOLATION-STAGE-2 -j RETURN
-A PYKER-USER -j RETURN
COMMIT
*nat
:PYKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j PYKER
-A OUTPUT -m addrtype --dst-type LOCAL -j PYKER
COMMIT
"""


# Someone else's rules, there before pyker and still there after it: a Docker on the same host.
FOREIGN = """\
*filter
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
"""

PORTS = [(BRIDGE, CONTAINER, "tcp", "0.0.0.0", 8080, 80),
         (BRIDGE, CONTAINER, "udp", "127.0.0.1", 5353, 53),
         (BRIDGE, "192.0.2.3", "sctp", None, 9000, 9000)]


def test_networks_and_ports_come_and_go_exactly(netns):
    ns = netns("h")
    with_bridge(ns)
    ip("-n", ns, "link", "add", "pyknat1", "type", "bridge")

    def cycle() -> str:
        subprocess.run(["iptables-restore", "--noflush"], input=FOREIGN, text=True, check=True)
        states = [save()]
        nat.ensure_base()
        states.append(save())
        nat.add_network(BRIDGE, SUBNET)
        nat.add_network("pyknat1", "10.99.0.0/16", internal=True, icc=False)
        states.append(save())
        for port in PORTS:
            nat.publish(*port)
        nat.publish(*PORTS[0])  # twice: nothing more
        states.append(save())
        for port in PORTS:
            nat.unpublish(*port)
            nat.unpublish(*port)
        states.append(save())
        for bridge, subnet in ((BRIDGE, SUBNET), ("pyknat1", "10.99.0.0/16")):
            nat.remove_network(bridge, subnet)
            nat.remove_network(bridge, subnet)
        states.append(save())
        nat.remove_all()
        states.append(save())
        nat.remove_all()
        return json.dumps(states + [save(), nat.rules()])

    foreign, base, networks, ports, unpublished, removed, cleaned, twice, rules = json.loads(
        inside(ns, cycle))
    # every rule reads back exactly as pyker wrote it: iptables-save's own canonical text
    written = Ruleset.parse(ports).rules
    expected = [*network_rules(Network.of(BRIDGE, SUBNET)),
                *network_rules(Network.of("pyknat1", "10.99.0.0/16", internal=True, icc=False)),
                *(r for port in PORTS for r in port_rules(PortMapping.of(*port)))]
    assert [r.line for r in expected if r not in written] == []
    assert len(Ruleset.parse(ports).rules) == len(Ruleset.parse(base).rules) + len(expected)
    assert unpublished == networks
    assert removed == base
    assert cleaned == twice == foreign  # nothing of pyker's is left, all of Docker's is
    assert rules == ""
    assert set(plain(FOREIGN).splitlines()) <= set(foreign.splitlines())


def test_a_rejected_rule_is_named(netns):
    def bad() -> str:
        try:
            nat._apply("*filter\n-A FORWARD -j ACCEPT\n-A FORWARD -p bogus -j DROP\nCOMMIT\n")
        except IptablesError as err:
            return json.dumps([str(err), err.rule, save()])
        raise AssertionError("iptables-restore accepted a bogus protocol")

    message, rule, after = json.loads(inside(netns("h"), bad))
    assert rule == "-A FORWARD -p bogus -j DROP"
    assert message.startswith('iptables rejected "-A FORWARD -p bogus -j DROP" (table filter, '
                              "line 3): ")
    assert "bogus" in message.split(": ", 1)[1]
    assert "-A FORWARD -j ACCEPT" not in after  # the batch applies whole or not at all


# -- real traffic: "host", "container" and "outside" namespaces ---------------------------

SERVER = """\
import socket, sys, threading
name, socks = sys.argv[1], [socket.create_server((sys.argv[2], int(p))) for p in sys.argv[3:]]
def serve(s):
    while True:
        conn, peer = s.accept()
        with conn:
            conn.sendall(f"{name}:{s.getsockname()[1]} from {peer[0]}\\n".encode())
for s in socks[1:]:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
serve(socks[0])
"""

CLIENT = """\
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
        print(s.makefile().readline().strip())
except TimeoutError:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
"""


def fetch(address: str, port: int, timeout: float = 3.0) -> str:
    """What the server at ``address:port`` says, or "timeout" or "refused"."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            return sock.makefile().readline().strip()
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as err:
        return f"error: {err.strerror}"


def fetch_from(ns: str, address: str, port: int, timeout: float = 3.0) -> str:
    proc = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT, address,
                           str(port), str(timeout)], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.fixture
def servers() -> Iterator[Callable[..., None]]:
    """``serve(ns, name, address, *ports)`` starts a TCP server there; killed after the test."""
    started: list[subprocess.Popen[str]] = []

    def serve(ns: str, name: str, address: str, *ports: int) -> None:
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, name,
                                 address, *map(str, ports)], stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"

    yield serve
    for proc in started:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_published_port_and_masquerade_carry_real_traffic(netns, servers):
    host, ctr, out = netns("h"), netns("c"), netns("o")
    with_bridge(host)
    ip("-n", host, "link", "add", "pykv0", "type", "veth", "peer", "name", "eth0", "netns", ctr)
    ip("-n", host, "link", "set", "pykv0", "master", BRIDGE, "up")
    ip("-n", ctr, "addr", "add", f"{CONTAINER}/24", "dev", "eth0")
    ip("-n", ctr, "link", "set", "eth0", "up")
    ip("-n", ctr, "route", "add", "default", "via", GATEWAY)
    ip("-n", host, "link", "add", "pyko0", "type", "veth", "peer", "name", "eth0", "netns", out)
    ip("-n", host, "addr", "add", f"{OUT_HOST}/24", "dev", "pyko0")
    ip("-n", host, "link", "set", "pyko0", "up")
    ip("-n", out, "addr", "add", f"{OUT_PEER}/24", "dev", "eth0")
    ip("-n", out, "link", "set", "eth0", "up")
    # the outside can route to the containers' subnet: only pyker's rules stand in the way
    ip("-n", out, "route", "add", SUBNET, "via", OUT_HOST)
    servers(ctr, "ctr", "0.0.0.0", 80, 81)
    servers(out, "out", OUT_PEER, 9000)

    def publish_and_fetch() -> str:
        nat.add_network(BRIDGE, SUBNET)
        nat.publish(BRIDGE, CONTAINER, "tcp", "0.0.0.0", 8080, 80)
        listing = subprocess.run(["iptables", "-t", "nat", "-L", "-n"], capture_output=True,
                                 text=True, check=True).stdout
        return json.dumps([fetch("127.0.0.1", 8080), fetch(GATEWAY, 8080), listing])

    loopback, gateway, listing = json.loads(inside(host, publish_and_fetch))
    # what the course shows of Docker's nat table, with pyker's chain (iptables 1.8.9 prints
    # protocol numbers, other versions names)
    assert "Chain PYKER (2 references)" in listing
    assert re.search(r"\nMASQUERADE +(?:0|all) +-- +192\.0\.2\.0/24 +0\.0\.0\.0/0 *\n", listing)
    assert re.search(r"\nMASQUERADE +(?:6|tcp) +-- +192\.0\.2\.2 +192\.0\.2\.2 +tcp dpt:80 *\n",
                     listing)
    assert re.search(r"\nDNAT +(?:6|tcp) +-- +0\.0\.0\.0/0 +0\.0\.0\.0/0 +tcp dpt:8080 "
                     r"to:192\.0\.2\.2:80 *\n", listing)
    # 127.0.0.1 goes out of the bridge masqueraded to the bridge's address (route_localnet)
    assert loopback == f"ctr:80 from {GATEWAY}"
    assert gateway == f"ctr:80 from {GATEWAY}"
    # from outside: DNAT keeps the client's address; an unpublished port is dropped
    assert fetch_from(out, OUT_HOST, 8080) == f"ctr:80 from {OUT_PEER}"
    assert fetch_from(out, CONTAINER, 81, timeout=1.0) == "timeout"
    # from the container out: the outside sees the host's address (MASQUERADE)
    assert fetch_from(ctr, OUT_PEER, 9000) == f"out:9000 from {OUT_HOST}"

    def unpublish_and_fetch() -> str:
        nat.unpublish(BRIDGE, CONTAINER, "tcp", "0.0.0.0", 8080, 80)
        return fetch("127.0.0.1", 8080)

    assert inside(host, unpublish_and_fetch) == "refused"
    assert fetch_from(out, OUT_HOST, 8080) == "refused"
