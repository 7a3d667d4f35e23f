"""How Docker shows published ports back: ``NetworkSettings.Ports`` (inspect), the
``docker port`` lines, and the PORTS column of ``docker ps`` with docker/cli's range
compaction (``DisplayablePorts``). The bindings themselves: :mod:`pyker.network.ports`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pyker.errors import UsageError
from pyker.network.ports import (Frontends, PortBinding, PortRangeError, PortsMap,
                                 parse_port_number, parse_port_range)

_CHUNK = re.compile(r"[0-9]+|[^0-9]")


def inspect_ports(bindings: Iterable[PortBinding],
                  exposed: Iterable[tuple[int, str]] = ()) -> dict[str, Frontends | None]:
    """``NetworkSettings.Ports`` of allocated bindings, exposed-only ports as None, keys in
    the order Go's encoding/json writes a map (sorted)."""
    ports: dict[str, Frontends | None] = {f"{p}/{proto}": None for p, proto in exposed}
    for b in bindings:
        if not b.fixed:
            raise ValueError(f"{b} has no host port yet: allocate() it first")
        frontends = ports.get(b.key) or []
        frontends.append({"HostIp": b.host_address, "HostPort": str(b.host_port)})
        ports[b.key] = frontends
    return dict(sorted(ports.items()))


def port_bindings_config(bindings: Iterable[PortBinding]) -> dict[str, Frontends]:
    """``HostConfig.PortBindings``: the bindings as asked (``HostPort`` "" for any port,
    ``"8000-8010"`` for a range), which a restart allocates again."""
    ports: dict[str, Frontends] = {}
    for b in bindings:
        host = (f"{b.host_port}-{b.host_port_end}" if b.host_port_end
                else str(b.host_port) if b.host_port else "")
        ports.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": host})
    return dict(sorted(ports.items()))


def bindings_from_map(ports: PortsMap) -> list[PortBinding]:
    """Back from :func:`port_bindings_config` or :func:`inspect_ports` to bindings."""
    out = []
    for key, frontends in ports.items():
        number, _, proto = key.partition("/")
        for f in frontends or ():
            low, high = parse_port_range(f["HostPort"]) if f["HostPort"] else (0, 0)
            out.append(PortBinding(container_port=int(number), proto=proto or "tcp",
                                   host_ip=f["HostIp"], host_port=low,
                                   host_port_end=high if high != low else 0))
    return out


def _join(ip: str, port: str) -> str:
    """Go's ``net.JoinHostPort``."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _natural_key(text: str) -> list[tuple[int, int, str, int]]:
    """The order of ``sortorder.NaturalLess``: digit runs by value (then fewer leading zeros
    first), digits before other characters, other characters by code point."""
    key = []
    for chunk in _CHUNK.findall(text):
        if chunk[0] in "0123456789":
            value = chunk.lstrip("0")
            key.append((0, len(value), value, len(chunk) - len(value)))
        else:
            key.append((1, ord(chunk), "", 0))
    return key


def format_port_lines(ports: PortsMap, port: str | None = None, *,
                      container: str = "") -> list[str]:
    """``docker port NAME [PORT[/PROTO]]``: ``80/tcp -> 0.0.0.0:8080`` per binding, or only
    ``0.0.0.0:8080`` for the port asked, in natural order.

    Raises:
        UsageError: exit status 1 as Docker's: ``Error: No public port '80' published for
            web``, ``Error: invalid port (x): ...``.
    """
    if port is None:
        out = [f"{key} -> {_join(f['HostIp'], f['HostPort'])}"
               for key, frontends in ports.items() for f in frontends or ()]
    else:
        number, _, proto = port.partition("/")
        frontends = ports.get(f"{number}/{proto or 'tcp'}")
        try:
            parse_port_number(number)
            message = f"Error: No public port '{port}' published for {container}"
        except PortRangeError as err:
            frontends, message = None, f"Error: invalid port ({number}): {err}"
        if frontends is None:
            error = UsageError(message)
            error.exit_code = 1  # a CLI-side lookup failure: docker exits 1, not 125
            raise error
        out = [_join(f["HostIp"], f["HostPort"]) for f in frontends]
    return sorted(out, key=_natural_key)


@dataclass(frozen=True, slots=True)
class PortSummary:
    """One port as the container list of Docker's API gives it (``types.Port``)."""

    private_port: int
    type: str
    ip: str = ""
    public_port: int = 0


def ps_summaries(ports: PortsMap) -> list[PortSummary]:
    """The daemon's list: a row per binding, a bare row for an exposed-only port."""
    rows = []
    for key, frontends in ports.items():
        number, _, proto = key.partition("/")
        rows += [PortSummary(int(number), proto, f["HostIp"], int(f["HostPort"] or 0))
                 for f in frontends or ()] or [PortSummary(int(number), proto)]
    return rows


def _ps_order(p: PortSummary) -> tuple[int, tuple[int, int], int, str]:
    ip = (0, 0) if not p.ip else (ipaddress.ip_address(p.ip).version,
                                 int(ipaddress.ip_address(p.ip)))
    return p.private_port, ip, p.public_port, p.type


def _form_group(key: str, first: int, last: int) -> str:
    ip, _, kind = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{_join(ip, group)}->{group}"
    return f"{group}/{kind}"


def displayable_ports(ports: Iterable[PortSummary]) -> str:
    """docker/cli ``DisplayablePorts``: runs of consecutive ports compacted when the host
    port equals the container port (``0.0.0.0:80-82->80-82/tcp``, ``9998-9999/udp``); other
    mappings listed one by one after the groups (``0.0.0.0:8080->80/tcp``)."""
    groups: dict[str, list[int]] = {}  # key → [first, last], in the order keys appear
    result, mappings = [], []
    for p in sorted(ports, key=_ps_order):
        key = p.type
        if p.ip:
            if p.public_port != p.private_port:
                mappings.append(f"{_join(p.ip, str(p.public_port))}->{p.private_port}/{p.type}")
                continue
            key = f"{p.ip}/{p.type}"
        group = groups.get(key)
        if group is not None and p.private_port == group[1] + 1:
            group[1] = p.private_port
            continue
        if group is not None:  # a gap: this run is finished, a new one starts at this port
            result.append(_form_group(key, *group))
        groups[key] = [p.private_port, p.private_port]
    result += [_form_group(key, *group) for key, group in groups.items()]
    return ", ".join(result + mappings)


def format_ps_ports(ports: PortsMap) -> str:
    """The PORTS column of ``ps`` for a container's ``NetworkSettings.Ports``."""
    return displayable_ports(ps_summaries(ports))
