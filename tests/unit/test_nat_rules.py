"""pyker's iptables rules as exact text, and the iptables-restore batches planned from an
iptables-save: checked without iptables (tests/integration/test_nat.py runs them)."""

from __future__ import annotations

import pytest

from pyker.errors import IptablesError, NetworkError
from pyker.network import nat
from pyker.network.nat_rules import (Network, PortMapping, Ruleset, base_rules, network_rules,
                                     port_rules, pyker_rules, render)


def lines(rules) -> list[str]:
    return [f"{r.table} {r.line}" for r in rules]


def test_network_rules_are_dockers_with_pyker_chains():
    assert lines(network_rules(Network.of("pyk0", "10.0.0.0/24"))) == [
        "filter -A FORWARD -o pyk0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "filter -A FORWARD -o pyk0 -j PYKER",
        "filter -A FORWARD -i pyk0 ! -o pyk0 -j ACCEPT",
        "filter -A FORWARD -i pyk0 -o pyk0 -j ACCEPT",
        "filter -A PYKER-ISOLATION-STAGE-1 -i pyk0 ! -o pyk0 -j PYKER-ISOLATION-STAGE-2",
        "filter -A PYKER-ISOLATION-STAGE-2 -o pyk0 -j DROP",
        "filter -A PYKER ! -i pyk0 -o pyk0 -j DROP",
        "nat -A POSTROUTING -s 10.0.0.0/24 ! -o pyk0 -j MASQUERADE",
        "nat -A POSTROUTING -s 127.0.0.0/8 -o pyk0 -j MASQUERADE",
        "nat -A PYKER -i pyk0 -j RETURN",
    ]


def test_icc_false_drops_container_to_container():
    rules = lines(network_rules(Network.of("pyk0", "10.0.0.0/24", icc=False)))
    assert "filter -A FORWARD -i pyk0 -o pyk0 -j DROP" in rules
    assert "filter -A FORWARD -i pyk0 -o pyk0 -j ACCEPT" not in rules


def test_internal_network_has_no_way_out():
    assert lines(network_rules(Network.of("pyk1", "10.1.0.7/24", internal=True))) == [
        "filter -A FORWARD -i pyk1 -o pyk1 -j ACCEPT",
        "filter -A PYKER-ISOLATION-STAGE-1 ! -s 10.1.0.0/24 -o pyk1 -j DROP",
        "filter -A PYKER-ISOLATION-STAGE-1 ! -d 10.1.0.0/24 -i pyk1 -j DROP",
    ]


def test_base_rules_jump_into_pyker_chains():
    assert lines(base_rules()) == [
        "filter -A FORWARD -j PYKER-USER",
        "filter -A FORWARD -j PYKER-ISOLATION-STAGE-1",
        "filter -A PYKER-ISOLATION-STAGE-1 -j RETURN",
        "filter -A PYKER-ISOLATION-STAGE-2 -j RETURN",
        "filter -A PYKER-USER -j RETURN",
        "nat -A PREROUTING -m addrtype --dst-type LOCAL -j PYKER",
        "nat -A OUTPUT -m addrtype --dst-type LOCAL -j PYKER",
    ]


def test_published_tcp_port_on_every_address():
    assert lines(port_rules(PortMapping.of("pyk0", "10.0.0.2", "tcp", "0.0.0.0", 8080, 80))) == [
        "nat -A PYKER ! -i pyk0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80",
        "filter -A PYKER -d 10.0.0.2/32 ! -i pyk0 -o pyk0 -p tcp -m tcp --dport 80 -j ACCEPT",
        "nat -A POSTROUTING -s 10.0.0.2/32 -d 10.0.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
    ]


def test_published_udp_port_on_one_host_address():
    assert lines(port_rules(PortMapping.of("pyk0", "10.0.0.3", "udp", "127.0.0.1", 5353, 53))) == [
        "nat -A PYKER -d 127.0.0.1/32 ! -i pyk0 -p udp -m udp --dport 5353 "
        "-j DNAT --to-destination 10.0.0.3:53",
        "filter -A PYKER -d 10.0.0.3/32 ! -i pyk0 -o pyk0 -p udp -m udp --dport 53 -j ACCEPT",
        "nat -A POSTROUTING -s 10.0.0.3/32 -d 10.0.0.3/32 -p udp -m udp --dport 53 -j MASQUERADE",
    ]


@pytest.mark.parametrize("host_ip", [None, "", "0.0.0.0"])
def test_any_host_address(host_ip):
    assert PortMapping.of("pyk0", "10.0.0.2", "tcp", host_ip, 1, 2).host_ip is None


@pytest.mark.parametrize("args, message", [
    (("pyk0", "10.0.0.2", "icmp", None, 80, 80), "invalid protocol 'icmp'"),
    (("pyk0", "10.0.0.2", "tcp", None, 0, 80), "invalid host port 0: expected 1-65535"),
    (("pyk0", "10.0.0.2", "tcp", None, 80, 70000), "invalid container port 70000"),
    (("pyk0", "10.0.0.256", "tcp", None, 80, 80), "invalid container address '10.0.0.256'"),
    (("pyk0", "10.0.0.2", "tcp", "::1", 80, 80), "host address ::1: only IPv4 is handled"),
    (("pyk+", "10.0.0.2", "tcp", None, 80, 80), "invalid bridge name 'pyk+'"),
    (("! x", "10.0.0.2", "tcp", None, 80, 80), "invalid bridge name '! x'"),
    (("a-name-too-long-", "10.0.0.2", "tcp", None, 80, 80), "invalid bridge name"),
])
def test_invalid_port_mapping(args, message):
    with pytest.raises(NetworkError, match=message.replace("+", r"\+")):
        PortMapping.of(*args)


def test_invalid_subnet():
    with pytest.raises(NetworkError, match="invalid subnet '10.0.0.0/33'"):
        Network.of("pyk0", "10.0.0.0/33")
    with pytest.raises(NetworkError, match="only IPv4"):
        Network.of("pyk0", "fd00::/64")


# -- planning against an iptables-save -------------------------------------------------

EMPTY = Ruleset.parse("")
# Docker's own rules, on a host that runs both: pyker must never take them for its own.
DOCKER = """\
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:FORWARD DROP [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
"""


def apply(save: str, restore: str) -> Ruleset:
    """What iptables would hold after ``restore`` (the subset of its syntax pyker writes)."""
    rs = Ruleset.parse(save)
    chains, rules, table = set(rs.chains), [(r.table, r.chain, r.spec) for r in rs.rules], ""
    for line in restore.splitlines():
        op, _, rest = line.partition(" ")
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            chains.add((table, line[1:].split()[0]))
        elif op in ("-A", "-D", "-I"):
            chain, _, spec = rest.partition(" ")
            if op == "-A":
                rules.append((table, chain, spec))
            elif op == "-D":
                rules.remove((table, chain, spec))
            else:
                pos, _, spec = spec.partition(" ")
                same = [i for i, r in enumerate(rules) if r[:2] == (table, chain)]
                at = same[int(pos) - 1] if int(pos) <= len(same) else len(rules)
                rules.insert(at, (table, chain, spec))
        elif op == "-F":
            rules = [r for r in rules if r[:2] != (table, rest)]
        elif op == "-X":
            chains.remove((table, rest))
    rules.sort(key=lambda r: r[:2])  # stable: each chain keeps its order
    text = "".join(f"*{t}\n" + "".join(f":{c} - [0:0]\n" for tt, c in sorted(chains) if tt == t)
                   + "".join(f"-A {c} {s}\n" for tt, c, s in rules if tt == t) + "COMMIT\n"
                   for t in ("filter", "nat"))
    return Ruleset.parse(text)


def save_of(rs: Ruleset) -> str:
    return render(sorted(rs.chains), rs.rules)


NET = Network.of("pyk0", "10.0.0.0/24")
PORT = PortMapping.of("pyk0", "10.0.0.2", "tcp", None, 8080, 80)


def test_first_network_is_one_batch_with_chains_and_jumps():
    text = nat.plan_add(EMPTY, base_rules() + network_rules(NET))
    assert text == """\
*filter
:PYKER - [0:0]
:PYKER-ISOLATION-STAGE-1 - [0:0]
:PYKER-ISOLATION-STAGE-2 - [0:0]
:PYKER-USER - [0:0]
-I FORWARD 1 -j PYKER-USER
-I FORWARD 2 -j PYKER-ISOLATION-STAGE-1
-I FORWARD 3 -o pyk0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-I FORWARD 4 -o pyk0 -j PYKER
-I FORWARD 5 -i pyk0 ! -o pyk0 -j ACCEPT
-I FORWARD 6 -i pyk0 -o pyk0 -j ACCEPT
-A PYKER-ISOLATION-STAGE-1 -j RETURN
-A PYKER-ISOLATION-STAGE-2 -j RETURN
-A PYKER-USER -j RETURN
-I PYKER-ISOLATION-STAGE-1 1 -i pyk0 ! -o pyk0 -j PYKER-ISOLATION-STAGE-2
-I PYKER-ISOLATION-STAGE-2 1 -o pyk0 -j DROP
-A PYKER ! -i pyk0 -o pyk0 -j DROP
COMMIT
*nat
:PYKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j PYKER
-A OUTPUT -m addrtype --dst-type LOCAL -j PYKER
-I POSTROUTING 1 -s 10.0.0.0/24 ! -o pyk0 -j MASQUERADE
-I POSTROUTING 2 -s 127.0.0.0/8 -o pyk0 -j MASQUERADE
-I PYKER 1 -i pyk0 -j RETURN
COMMIT
"""


def test_adding_twice_writes_nothing():
    after = apply("", nat.plan_add(EMPTY, base_rules() + network_rules(NET)))
    assert nat.plan_add(after, base_rules() + network_rules(NET)) == ""
    after = apply(save_of(after), nat.plan_add(after, base_rules() + port_rules(PORT)))
    assert nat.plan_add(after, base_rules() + port_rules(PORT)) == ""


def test_a_new_bridge_goes_after_pykers_jumps_and_before_older_bridges():
    first = apply(DOCKER, nat.plan_add(Ruleset.parse(DOCKER), base_rules() + network_rules(NET)))
    second = Network.of("pyk1", "10.1.0.0/24")
    after = apply(save_of(first), nat.plan_add(first, base_rules() + network_rules(second)))
    forward = after.specs("filter", "FORWARD")
    assert forward[:3] == ["-j PYKER-USER", "-j PYKER-ISOLATION-STAGE-1",
                           "-o pyk1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
    assert forward.index("-i pyk1 -o pyk1 -j ACCEPT") < forward.index("-o pyk0 -j PYKER")
    assert after.specs("filter", "PYKER-ISOLATION-STAGE-1")[-1] == "-j RETURN"


def test_removing_a_network_and_a_port_restores_the_previous_save():
    base = apply(DOCKER, nat.plan_add(Ruleset.parse(DOCKER), base_rules()))
    with_net = apply(save_of(base), nat.plan_add(base, base_rules() + network_rules(NET)))
    with_port = apply(save_of(with_net), nat.plan_add(with_net, port_rules(PORT)))
    unpublished = apply(save_of(with_port), nat.plan_unpublish(with_port, PORT))
    assert unpublished == with_net
    assert nat.plan_unpublish(unpublished, PORT) == ""  # twice: nothing more
    internal = Network.of("pyk0", "10.0.0.0/24", internal=True, icc=False)
    rules = [r for n in (NET, internal) for r in network_rules(n)]
    removed = apply(save_of(unpublished), nat.plan_delete(unpublished, rules))
    assert removed == base
    assert nat.plan_delete(removed, rules) == ""


def test_a_container_port_published_twice_keeps_its_accept_until_the_last():
    other = PortMapping.of("pyk0", "10.0.0.2", "tcp", "127.0.0.1", 8081, 80)
    one = apply("", nat.plan_add(EMPTY, base_rules() + network_rules(NET) + port_rules(PORT)))
    two = apply(save_of(one), nat.plan_add(one, port_rules(other)))
    assert len(two.rules) == len(one.rules) + 1  # only the DNAT: ACCEPT and hairpin shared
    back = apply(save_of(two), nat.plan_unpublish(two, other))
    assert back == one
    gone = apply(save_of(two), nat.plan_unpublish(two, PORT))
    assert port_rules(PORT)[1] in gone.rules and port_rules(PORT)[0] not in gone.rules


def test_remove_all_leaves_dockers_rules_alone():
    full = apply(DOCKER, nat.plan_add(Ruleset.parse(DOCKER),
                                      base_rules() + network_rules(NET) + port_rules(PORT)))
    assert len(pyker_rules(full)) == 7 + 10 + 3
    cleaned = apply(save_of(full), nat.plan_remove_all(full))
    assert cleaned == apply(DOCKER, "")
    assert nat.plan_remove_all(cleaned) == ""


def test_rules_lists_only_pykers():
    full = apply(DOCKER, nat.plan_add(Ruleset.parse(DOCKER), base_rules() + port_rules(PORT)))
    text = render([("filter", "PYKER"), ("nat", "PYKER")], pyker_rules(full))
    assert "docker" not in text.lower()
    assert ("-A POSTROUTING -s 10.0.0.2/32 -d 10.0.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE"
            in text)


@pytest.mark.parametrize("stderr, message", [
    ("iptables-restore: line 3 failed: Bad rule (does a matching rule exist in that chain?).\n",
     'iptables rejected "-D PYKER -o nothere -j DROP" (table filter, line 3): line 3 failed: '
     "Bad rule (does a matching rule exist in that chain?)."),
    ('iptables-restore v1.8.9 (nf_tables): unknown protocol "bogus" specified\n'
     "Error occurred at line: 2\nTry `iptables-restore -h' for more information.\n",
     'iptables rejected "-A PYKER-USER -j RETURN" (table filter, line 2): '
     'unknown protocol "bogus" specified'),
    ("something else\n", "iptables-restore failed (exit 1): something else"),
])
def test_rejected_names_the_line(stderr, message):
    text = "*filter\n-A PYKER-USER -j RETURN\n-D PYKER -o nothere -j DROP\nCOMMIT\n"
    err = nat.rejected(text, stderr, 1)
    assert isinstance(err, IptablesError)
    assert str(err) == message


def test_missing_iptables(monkeypatch):
    monkeypatch.setattr(nat.shutil, "which", lambda *a, **k: None)
    with pytest.raises(IptablesError,
                       match="^iptables not found: install the Debian package iptables$"):
        nat.rules()


def test_sysctl_writes_only_a_changed_value(tmp_path):
    key = tmp_path / "net/ipv4/ip_forward"
    key.parent.mkdir(parents=True)
    key.write_text("0\n")
    nat._sysctl(tmp_path, "net/ipv4/ip_forward")
    assert key.read_text() == "1"
    with pytest.raises(NetworkError, match=r'write .*/conf/pyk9/route_localnet "1": No such file'):
        nat._sysctl(tmp_path, "net/ipv4/conf/pyk9/route_localnet")
    nat._sysctl(None, "net/ipv4/conf/pyk9/route_localnet")  # None: skipped
