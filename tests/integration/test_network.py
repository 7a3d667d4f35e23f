"""Bridge networking as the course's TP network01 shows it, in a network namespace of the
test's own: pyker runs there (its bridge, veths and iptables rules are that namespace's), and
every packet the tests send stays between that namespace and the ones pyker creates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.requires("root", "overlay", "busybox", "iptables")


class NetPyker:
    """The CLI on a private store, run inside the test's network namespace."""

    def __init__(self, env: dict[str, str], netns: str) -> None:
        self.env, self.netns = env, netns

    def _enter(self) -> None:
        from pyker.kernel.namespaces import CloneFlag, setns

        fd = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
        setns(fd, CloneFlag.CLONE_NEWNET)
        os.close(fd)

    def __call__(self, *args: str, check: bool = True, input: bytes | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([sys.executable, "-m", "pyker", *args], env=self.env,
                              input=input, capture_output=True, timeout=timeout,
                              preexec_fn=self._enter)
        if check and proc.returncode != 0:
            raise AssertionError(f"pyker {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc

    def out(self, *args: str) -> str:
        return self(*args).stdout.decode()

    def host(self, *argv: str, check: bool = True) -> str:
        """A command in the test namespace (the containers' "host")."""
        proc = subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}", *argv],
                              capture_output=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()}")
        return proc.stdout.decode()


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> NetPyker:
    name = f"pyk-net-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    root = tmp_path_factory.mktemp("netstore")
    env = {**os.environ, "PYKER_DATA_ROOT": str(root / "data"),
           "PYKER_RUN_ROOT": str(root / "run"), "PYKER_DAEMON_CONFIG": str(root / "daemon.json"),
           "PYTHONPATH": str(REPO), "PYKER_FORKSERVER": "off"}
    cli = NetPyker(env, name)
    cli("bootstrap", "busybox")
    yield cli
    for cid in cli.out("ps", "-aq").split():
        cli("rm", "-f", cid, check=False)
    subprocess.run(["ip", "netns", "del", name], check=True)


def inspect(net: NetPyker, name: str) -> dict:
    return json.loads(net.out("inspect", name))[0]


def ip_of(net: NetPyker, name: str, network: str = "bridge") -> str:
    return inspect(net, name)["NetworkSettings"]["Networks"][network]["IPAddress"]


def test_tp_network01_default_bridge(net):
    for name in ("n1", "n2"):
        net("run", "-d", "--name", name, "busybox", "sleep", "300")
    try:
        doc = json.loads(net.out("network", "inspect", "bridge"))[0]
        addresses = sorted(c["IPv4Address"] for c in doc["Containers"].values())
        assert addresses == ["172.17.0.2/16", "172.17.0.3/16"]
        assert doc["IPAM"]["Config"][0] == {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}
        ports = json.loads(net.host("ip", "-j", "link", "show", "master", "pyker0"))
        assert len(ports) == 2 and all(p["ifname"].startswith("veth") for p in ports)
        mac = inspect(net, "n1")["NetworkSettings"]["MacAddress"]
        assert mac.startswith("02:42:ac:11:00:")
        proc = net("exec", "n1", "ping", "-c", "1", "-W", "5", ip_of(net, "n2"))
        assert b"1 packets received" in proc.stdout
        # No embedded DNS on the default bridge: names do not resolve.
        assert net("exec", "n1", "ping", "-c", "1", "-W", "2", "n2", check=False).returncode
    finally:
        net("rm", "-f", "n1", "n2")
    assert json.loads(net.host("ip", "-j", "link", "show", "master", "pyker0")) == []


def test_user_network_resolves_names_and_aliases(net):
    net("network", "create", "dev")
    net("network", "create", "prod")
    try:
        net("run", "-d", "--name", "es", "--network", "dev", "busybox", "sleep", "300")
        assert b"1 packets received" in net(
            "run", "--rm", "--network", "dev", "busybox", "ping", "-c", "1", "-W", "5", "es").stdout
        lone = net("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", "es", check=False)
        assert lone.returncode != 0 and b"bad address" in lone.stderr
        for n in (1, 2):
            net("run", "-d", "--name", f"es{n}", "--network", "prod", "--network-alias", "es",
                "busybox", "sh", "-c", f"mkdir /www; echo node{n} > /www/index.html; "
                "httpd -f -p 80 -h /www")
        both = {ip_of(net, "es1", "prod"), ip_of(net, "es2", "prod")}
        answer = net.out("run", "--rm", "--network", "prod", "busybox", "nslookup", "es")
        assert both <= set(answer.split())
        bodies = net.out("run", "--rm", "--network", "prod", "busybox", "sh", "-c",
                         "for i in 1 2 3 4; do wget -qO- http://es/; done").split()
        assert set(bodies) == {"node1", "node2"}
        assert bodies[0] != bodies[1]
    finally:
        net("rm", "-f", "es", "es1", "es2", check=False)
        net("network", "rm", "dev", "prod")


def test_published_port_serves_on_loopback_and_leaves_no_rule(net):
    net("run", "-d", "--name", "web", "-p", "8080:80", "busybox", "sh", "-c",
        "mkdir /www; echo hello-from-web > /www/index.html; httpd -f -p 80 -h /www")
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            page = net.host("busybox", "wget", "-qO-", "http://127.0.0.1:8080/", check=False)
            if page:
                break
            time.sleep(0.2)
        assert page == "hello-from-web\n"
        assert net.out("port", "web") == "80/tcp -> 0.0.0.0:8080\n"
        doc = json.loads(net.out("inspect", "web"))[0]
        assert doc["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "",
                                                                "HostPort": "8080"}]}
        assert doc["Config"]["ExposedPorts"] == {"80/tcp": {}}
        assert doc["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0",
                                                              "HostPort": "8080"}]}
        assert net.out("ps", "--format", "{{.Ports}}", "-f", "name=web") == \
            "0.0.0.0:8080->80/tcp\n"
        rules = net.host("iptables", "-t", "nat", "-S")
        assert "-j DNAT --to-destination 172.17.0.2:80" in rules
        assert "-s 172.17.0.0/16 ! -o pyker0 -j MASQUERADE" in rules
    finally:
        net("rm", "-f", "web")
    assert "DNAT" not in net.host("iptables", "-t", "nat", "-S")


def test_publish_all_maps_exposed_ports_to_free_host_ports(net):
    net("run", "-d", "--name", "exp", "--expose", "8081", "--expose", "53/udp", "-P",
        "busybox", "sleep", "300")
    try:
        lines = net.out("port", "exp").splitlines()
        doc = json.loads(net.out("inspect", "exp"))[0]
        assert doc["HostConfig"]["PortBindings"] == {}  # -P binds at start, asks for none
        assert doc["Config"]["ExposedPorts"] == {"53/udp": {}, "8081/tcp": {}}
        assert [line.split(" -> ")[0] for line in lines] == ["53/udp", "8081/tcp"]
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        assert all(low <= int(line.rsplit(":", 1)[1]) <= high for line in lines)
    finally:
        net("rm", "-f", "exp")


def test_fixed_ip_internal_network_connect_and_extra_hosts(net):
    net("network", "create", "--subnet", "10.77.0.0/24", "--internal", "inner")
    net("network", "create", "outer")
    try:
        net("run", "-d", "--name", "fixed", "--network", "inner", "--ip", "10.77.0.50",
            "--add-host", "db.local:10.77.0.9", "busybox", "sleep", "300")
        assert ip_of(net, "fixed", "inner") == "10.77.0.50"
        assert "10.77.0.9\tdb.local" in net.out("exec", "fixed", "cat", "/etc/hosts")
        # An internal network: no default route out, no MASQUERADE for its subnet.
        assert "default" not in net.out("exec", "fixed", "ip", "route")
        assert "-s 10.77.0.0/24 ! -o" not in net.host("iptables", "-t", "nat", "-S")
        net("network", "connect", "--alias", "second", "outer", "fixed")
        assert "eth1" in net.out("exec", "fixed", "ls", "/sys/class/net")
        found = net.out("run", "--rm", "--network", "outer", "busybox", "nslookup", "second")
        assert ip_of(net, "fixed", "outer") in found
        net("network", "disconnect", "outer", "fixed")
        assert "eth1" not in net.out("exec", "fixed", "ls", "/sys/class/net")
        assert json.loads(net.out("network", "inspect", "outer"))[0]["Containers"] == {}
    finally:
        net("rm", "-f", "fixed", check=False)
        net("network", "rm", "inner", "outer")


def test_container_network_mode_shares_the_namespace(net):
    net("run", "-d", "--name", "base", "busybox", "sleep", "300")
    try:
        mine = net.out("run", "--rm", "--network", "container:base", "busybox", "ip", "-o",
                       "-4", "addr", "show", "eth0")
        assert ip_of(net, "base") in mine
    finally:
        net("rm", "-f", "base")


@pytest.mark.parametrize("args, message", [
    (("network", "create", "--subnet", "10.99.0.0/16", "ovl"), None),
    (("network", "create", "--subnet", "10.99.1.0/24", "ovl2"), "overlaps"),
    (("run", "--rm", "--network", "nosuch", "busybox", "true"), "network nosuch not found"),
    (("run", "--rm", "--network", "ovl", "--ip", "10.98.0.5", "busybox", "true"), "10.98.0.5"),
    (("run", "--rm", "-p", "80:abc", "busybox", "true"), "abc"),
])
def test_bad_input_is_one_line_and_leaves_nothing(net, args, message):
    proc = net(*args, check=message is None)
    if message is None:
        return
    assert proc.returncode == 125
    err = proc.stderr.decode()
    assert err.startswith("pyker: ") and err.count("\n") == 1 and message in err
    assert "ovl2" not in net.out("network", "ls")
    assert net.out("ps", "-aq") == "" or "nosuch" not in net.out("ps", "-a")


def test_many_containers_leave_nothing_behind(net):
    net("network", "create", "churn")
    def links() -> set[str]:
        return {link["ifname"] for link in json.loads(net.host("ip", "-j", "link"))}

    def rules() -> str:
        return net.host("iptables-save")

    before_links, before_rules = links(), rules()
    for _ in range(100):
        net("run", "--rm", "--network", "churn", "busybox", "true")
    assert links() == before_links
    assert rules().count("\n-A ") == before_rules.count("\n-A ")
    doc = json.loads(net.out("network", "inspect", "churn"))[0]
    assert doc["Containers"] == {}
    net("network", "rm", "churn")
    assert "churn" not in net.out("network", "ls")
    assert not list(Path(net.env["PYKER_RUN_ROOT"], "netns").glob("*"))


def test_system_prune_leaves_only_the_default_bridge_and_base_chains(net):
    net("network", "create", "leftover")
    net("run", "--name", "stopped", "--network", "leftover", "-p", "9090:80", "busybox", "true")
    net("system", "prune", "-f")
    assert net.out("ps", "-aq") == "" and "leftover" not in net.out("network", "ls")
    links = {link["ifname"] for link in json.loads(net.host("ip", "-j", "link"))}
    assert links == {"lo", "pyker0"}
    rules = net.host("iptables-save")
    assert "leftover" not in rules and "9090" not in rules and "br-" not in rules
    assert "-A POSTROUTING -s 172.17.0.0/16 ! -o pyker0 -j MASQUERADE" in rules


def test_a_start_after_a_crash_replaces_what_the_crash_left(net):
    """Monitor and container killed -9: no teardown ran. The next start finds the network
    state file, undoes the old veth, endpoint and namespace, and makes new ones."""
    import signal

    def links() -> set[str]:  # the veths on the bridge: a first run creates the bridge
        return {link["ifname"] for link in json.loads(net.host("ip", "-j", "link"))
                if link["ifname"].startswith("veth")}

    before = links()
    cid = net.out("run", "-d", "--name", "crashed", "busybox", "sleep", "1234").strip()
    record = json.loads((Path(net.env["PYKER_DATA_ROOT"]) / "containers" / cid /
                         "container.json").read_text())
    os.kill(record["state"]["monitor_pid"], signal.SIGKILL)
    os.kill(record["state"]["pid"], signal.SIGKILL)
    time.sleep(0.3)
    left = links() - before
    assert len(left) == 1  # what the crash left
    net("start", "crashed")
    assert len(links() - before) == 1
    address = ip_of(net, "crashed")
    assert net.out("exec", "crashed", "ip", "-4", "-o", "addr", "show", "eth0").split()[3] \
        == f"{address}/16"
    net("rm", "-f", "crashed")
    assert links() == before
    assert not list(Path(net.env["PYKER_RUN_ROOT"], "netns").glob("*"))
