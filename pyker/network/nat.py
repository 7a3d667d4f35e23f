"""NAT and published ports on the host: pyker's iptables rules, applied and removed.

The rules themselves (Docker's, with pyker's chain names) are in :mod:`.nat_rules`; this
module decides which of them are missing or present, and applies the difference.

Each operation costs at most two execs, whatever the number of rules: one
``iptables-save`` to read the current tables, one ``iptables-restore --noflush -w`` to
apply the whole change as text (iptables-restore(8)). On the nf_tables backend a batch is
one transaction per table: if iptables rejects one line, none of that table's lines
apply, and the error names the line. Starting a process costs far more than a rule, so
this is much faster than one ``iptables -A`` per rule, and "is it there?" is answered from
the saved text rather than by one ``iptables -C`` per rule.

Adding is idempotent (only missing rules are written) and removing is exact (only rules
present, and only pyker's, are deleted): a second call changes nothing. Two commands
changing rules at the same time could both see a rule missing; the engine serialises
network changes under its store lock.

``--noflush`` never declares a chain that exists: iptables-restore would flush it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from pyker.errors import IptablesError, NetworkError
from pyker.network.nat_rules import (CHAIN, CHAINS, TABLES, Network, Place, PortMapping,
                                     Rule, Ruleset, base_rules, dnat_target, network_rules,
                                     port_rules, pyker_chains, pyker_rules, render)

PROC_SYS = Path("/proc/sys")
_MISSING = "iptables not found: install the Debian package iptables"
_LINE = re.compile(r"line:? (\d+)")


def ensure_base(*, proc_sys: Path | None = PROC_SYS) -> None:
    """Create pyker's chains and the jumps to them, and turn on IPv4 forwarding.

    Idempotent. Docker writes ``/proc/sys/net/ipv4/ip_forward`` itself too: without it the
    host routes nothing between a bridge and the outside. ``proc_sys`` None skips every
    sysctl write (for tests that run elsewhere than in a network namespace of their own).

    Raises:
        IptablesError: iptables is missing, or rejected a rule (named).
        NetworkError: the sysctl could not be written.
    """
    _apply(plan_add(_read(), base_rules()))
    _sysctl(proc_sys, "net/ipv4/ip_forward")


def add_network(bridge: str, subnet: str | IPv4Network, *, internal: bool = False,
                icc: bool = True, proc_sys: Path | None = PROC_SYS) -> None:
    """Docker's rules for a bridge network (and the base rules, if missing).

    The bridge must exist for a network with outside access: its
    ``net.ipv4.conf.<bridge>.route_localnet`` is set so that published ports answer at
    127.0.0.1 (see :func:`.nat_rules.network_rules`).

    Raises:
        NetworkError: an invalid bridge name or subnet, or a sysctl not written.
        IptablesError: iptables is missing, or rejected a rule (named).
    """
    net = Network.of(bridge, subnet, internal=internal, icc=icc)
    if not net.internal:
        _sysctl(proc_sys, f"net/ipv4/conf/{net.bridge}/route_localnet")
    _apply(plan_add(_read(), base_rules() + network_rules(net)))
    _sysctl(proc_sys, "net/ipv4/ip_forward")


def remove_network(bridge: str, subnet: str | IPv4Network) -> None:
    """Delete the rules :func:`add_network` wrote for this bridge, whichever options it
    was given (internal or not, icc or not); the base rules stay, as Docker's do.

    Published ports are not touched: :func:`unpublish` them first.

    Raises:
        NetworkError: an invalid bridge name or subnet.
        IptablesError: iptables is missing, or rejected a deletion (named).
    """
    net = Network.of(bridge, subnet)
    variants = [replace(net, internal=internal, icc=icc)
                for internal in (False, True) for icc in (True, False)]
    rules = dict.fromkeys(r for v in variants for r in network_rules(v))
    _apply(plan_delete(_read(), rules))


def publish(bridge: str, container_ip: str | IPv4Address, proto: str,
            host_ip: str | IPv4Address | None, host_port: int, container_port: int, *,
            proc_sys: Path | None = PROC_SYS) -> None:
    """Publish ``[host_ip:]host_port`` as ``container_ip:container_port/proto``.

    ``host_ip`` ``"0.0.0.0"`` (or None) is every address of the host, 127.0.0.1 included.

    Raises:
        NetworkError: an invalid value (named).
        IptablesError: iptables is missing, or rejected a rule (named).
    """
    port = PortMapping.of(bridge, container_ip, proto, host_ip, host_port, container_port)
    _apply(plan_add(_read(), base_rules() + port_rules(port)))
    _sysctl(proc_sys, "net/ipv4/ip_forward")


def unpublish(bridge: str, container_ip: str | IPv4Address, proto: str,
              host_ip: str | IPv4Address | None, host_port: int, container_port: int) -> None:
    """Undo :func:`publish` with the same arguments; nothing if it is not published.

    Raises:
        NetworkError: an invalid value (named).
        IptablesError: iptables is missing, or rejected a deletion (named).
    """
    port = PortMapping.of(bridge, container_ip, proto, host_ip, host_port, container_port)
    _apply(plan_unpublish(_read(), port))


def rules() -> str:
    """pyker's chains and rules, in ``iptables-save`` format ("" when there are none)."""
    current = _read()
    return render(pyker_chains(current), pyker_rules(current))


def remove_all() -> None:
    """Delete every rule and chain of pyker's, leaving every other rule as it was.

    Raises:
        IptablesError: iptables is missing, or rejected a deletion (named).
    """
    _apply(plan_remove_all(_read()))


# -- planning: pure functions from the current ruleset to the iptables-restore text ------

def plan_add(current: Ruleset, wanted: Iterable[Rule]) -> str:
    """The ``iptables-restore --noflush`` text that adds what ``current`` lacks of
    ``wanted`` (and pyker's missing chains), each rule at its :class:`Place`."""
    wanted = list(wanted)
    decls = {t: [f":{c} - [0:0]" for tt, c in CHAINS if tt == t and (tt, c) not in current.chains]
             for t in TABLES}
    lines: dict[str, list[str]] = {t: [] for t in TABLES}
    lines["filter"] += _plan_forward(
        current.specs("filter", "FORWARD"),
        [r.spec for r in wanted if r.place is Place.FORWARD_JUMP],
        [r.spec for r in wanted if r.place is Place.FORWARD_BRIDGE])
    present = set(current.rules)
    heads: Counter[tuple[str, str]] = Counter()
    for r in wanted:
        if r.place in (Place.FORWARD_JUMP, Place.FORWARD_BRIDGE) or r in present:
            continue
        present.add(r)
        if r.place is Place.HEAD:  # in the order given, ahead of what the chain holds
            heads[r.table, r.chain] += 1
            lines[r.table].append(f"-I {r.chain} {heads[r.table, r.chain]} {r.spec}")
        else:
            lines[r.table].append(r.line)
    return _restore_text(decls, lines)


def _plan_forward(chain: list[str], jumps: list[str], group: list[str]) -> list[str]:
    """FORWARD lines: pyker's jumps first in the chain, then a bridge's rules right after
    them, in order (newest bridge first, as Docker inserts). ``chain`` is FORWARD's specs
    now; it is updated as the lines would change it, so that each position is right."""
    lines: list[str] = []
    after = 0  # how many rules come before the next one pyker inserts
    for spec in jumps:
        if spec in chain:
            after = max(after, chain.index(spec) + 1)
            continue
        chain.insert(after, spec)
        lines.append(f"-I FORWARD {after + 1} {spec}")
        after += 1
    if group and not all(spec in chain for spec in group):
        for spec in group:  # a partial group is rewritten whole, to keep its order
            if spec in chain:
                chain.remove(spec)
                lines.append(f"-D FORWARD {spec}")
        for offset, spec in enumerate(group):
            chain.insert(after + offset, spec)
            lines.append(f"-I FORWARD {after + offset + 1} {spec}")
    return lines


def plan_delete(current: Ruleset, rules: Iterable[Rule]) -> str:
    """The text that deletes each of ``rules`` once, if present in ``current``."""
    left = Counter(current.rules)
    lines: dict[str, list[str]] = {t: [] for t in TABLES}
    for r in rules:
        if left[r] > 0:
            left[r] -= 1
            lines[r.table].append(f"-D {r.chain} {r.spec}")
    return _restore_text({}, lines)


def plan_unpublish(current: Ruleset, port: PortMapping) -> str:
    """Delete the mapping's DNAT rule; its ACCEPT and hairpin MASQUERADE too, unless
    another published port (``-p 8080:80 -p 8081:80``) still forwards to the same
    container port and needs them (pyker writes them once, not once per mapping)."""
    dnat, *shared = port_rules(port)
    if dnat not in current.rules:
        return ""
    target = dnat_target(dnat)
    still_used = any(r != dnat and r.table == "nat" and r.chain == CHAIN
                     and dnat_target(r) == target for r in current.rules)
    return plan_delete(current, [dnat] if still_used else [dnat, *shared])


def plan_remove_all(current: Ruleset) -> str:
    """Delete pyker's rules in the built-in chains, then flush and delete pyker's chains."""
    lines: dict[str, list[str]] = {t: [] for t in TABLES}
    for r in pyker_rules(current):
        if (r.table, r.chain) not in CHAINS:
            lines[r.table].append(f"-D {r.chain} {r.spec}")
    chains = pyker_chains(current)
    for flag in ("-F", "-X"):  # every chain emptied before any is deleted: STAGE-1 jumps to 2
        for table, chain in chains:
            lines[table].append(f"{flag} {chain}")
    return _restore_text({}, lines)


def _restore_text(decls: dict[str, list[str]], lines: dict[str, list[str]]) -> str:
    out: list[str] = []
    for table in TABLES:
        if decls.get(table) or lines[table]:
            out += [f"*{table}", *decls.get(table, ()), *lines[table], "COMMIT"]
    return "".join(line + "\n" for line in out)


# -- execution ------------------------------------------------------------------------

def _tool(name: str) -> str:
    # /usr/sbin is not on every PATH (sudo's secure_path has it; a plain su may not)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise IptablesError(_MISSING)
    return found


def _read() -> Ruleset:
    argv = [_tool("iptables-save")]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise IptablesError(_MISSING) from None
    if proc.returncode != 0:
        raise IptablesError(f"iptables-save failed (exit {proc.returncode}): "
                            f"{_reason(proc.stderr)}")
    return Ruleset.parse(proc.stdout)


def _apply(text: str) -> None:
    if not text:
        return
    argv = [_tool("iptables-restore"), "--noflush", "-w"]
    try:
        proc = subprocess.run(argv, input=text, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise IptablesError(_MISSING) from None
    if proc.returncode != 0:
        raise rejected(text, proc.stderr, proc.returncode)


def rejected(text: str, stderr: str, status: int) -> IptablesError:
    """The error for an iptables-restore of ``text`` that failed, naming the line that
    iptables points at (``line 3 failed``, ``Error occurred at line: 3``)."""
    found = _LINE.search(stderr)
    lines = text.splitlines()
    if not found or not 1 <= int(found[1]) <= len(lines):
        return IptablesError(f"iptables-restore failed (exit {status}): {_reason(stderr)}")
    number = int(found[1])
    rule = lines[number - 1]
    table = next((ln[1:] for ln in reversed(lines[:number]) if ln.startswith("*")), "?")
    return IptablesError(f'iptables rejected "{rule}" (table {table}, line {number}): '
                         f"{_reason(stderr)}", rule=rule)


def _reason(stderr: str) -> str:
    kept = []
    for line in stderr.splitlines():
        line = re.sub(r"^iptables-(?:restore|save)(?: v\S+ \(\S+\))?: ", "", line.strip())
        if line and not line.startswith(("Try `", "Error occurred at line")):
            kept.append(line)
    return " ".join(kept) or "no message"


def _sysctl(proc_sys: Path | None, key: str, value: str = "1") -> None:
    if proc_sys is None:
        return
    path = proc_sys / key
    try:
        if path.read_text().strip() != value:
            path.write_text(value)
    except OSError as err:
        raise NetworkError(f'write {path} "{value}": {err.strerror}') from err
