"""How a service names other objects of its project: ``depends_on``, ``links``,
``volumes_from``, ``network_mode`` and ``networks``.

Every name is checked against what the project defines, with Compose's own messages
(``service "web" depends on undefined service "db": invalid compose project``), so that a
typo fails at load time with its line, not halfway through ``up``. The order these
references impose is :mod:`pyker.compose.graph`'s.
"""

from __future__ import annotations

from typing import Any

from pyker.compose import model
from pyker.compose.fields import (At, Context, boolean, check_keys, optional_mapping,
                                  string, strings)

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_NETWORK_KEYS = ("aliases", "ipv4_address", "priority")


def _check_service(name: str, at: At, ctx: Context) -> None:
    if name not in ctx.services:
        raise at.error(f'{at.owner} depends on undefined service "{name}": '
                       "invalid compose project")


def parse_depends_on(value: Any, at: At, ctx: Context) -> tuple[model.Dependency, ...]:
    """``[db, cache]`` or ``{db: {condition: service_healthy, restart: true}}``."""
    if isinstance(value, list):
        names = strings(value, at)
        for i, name in enumerate(names):
            _check_service(name, at.item(value, i), ctx)
        return tuple(model.Dependency(service=name) for name in dict.fromkeys(names))
    if not isinstance(value, dict):
        raise at.must_be("a list or a mapping")
    found = []
    for name, spec in value.items():
        where = at.child(value, name)
        _check_service(name, where, ctx)
        spec = optional_mapping(spec, where)
        check_keys(spec, where, ("condition", "restart", "required"))
        condition = string(spec.get("condition") or CONDITIONS[0], where.child(spec, "condition"))
        if condition not in CONDITIONS:
            raise where.child(spec, "condition").fail(
                f'invalid condition "{condition}": use {", ".join(CONDITIONS)}')
        found.append(model.Dependency(
            service=name, condition=condition,
            restart=boolean(spec.get("restart", False), where.child(spec, "restart")),
            required=boolean(spec.get("required", True), where.child(spec, "required"))))
    return tuple(found)


def parse_links(value: Any, at: At, ctx: Context) -> tuple[str, ...]:
    """``["db", "db:database"]``: a service, optionally under another name."""
    links = strings(value, at)
    for i, link in enumerate(links):
        _check_service(link.partition(":")[0], at.item(value, i), ctx)
    return links


def parse_volumes_from(value: Any, at: At, ctx: Context) -> tuple[str, ...]:
    """``["svc", "svc:ro", "container:name", "container:name:rw"]``."""
    entries = strings(value, at)
    for i, entry in enumerate(entries):
        where = at.item(value, i)
        parts = entry.split(":")
        if parts[0] == "container":
            name, mode = (parts[1] if len(parts) > 1 else ""), parts[2:]
        else:
            name, mode = parts[0], parts[1:]
            _check_service(name, where, ctx)
        if not name or len(mode) > 1 or (mode and mode[0] not in ("ro", "rw")):
            raise where.fail(f'invalid volumes_from "{entry}": use SERVICE[:ro|rw] or '
                             "container:NAME[:ro|rw]")
    return entries


def parse_network_mode(value: Any, at: At, ctx: Context) -> str:
    """``none``, ``host``, ``bridge``, ``service:NAME`` or ``container:NAME``."""
    mode = string(value, at)
    kind, colon, name = mode.partition(":")
    if kind in ("service", "container") and colon and name:
        if kind == "service":
            _check_service(name, at, ctx)
        return mode
    if mode in ("none", "host", "bridge"):
        return mode
    raise at.fail(f'invalid network_mode "{mode}": use none, host, bridge, service:NAME '
                  "or container:NAME")


def parse_networks(value: Any, at: At, ctx: Context) -> tuple[model.ServiceNetwork, ...]:
    """``[front, back]`` or ``{front: {aliases: [www], ipv4_address: 172.20.0.5}, back: }``."""
    if isinstance(value, list):
        names = strings(value, at)
        for i, name in enumerate(names):
            _check_network(name, at.item(value, i), ctx)
        return tuple(model.ServiceNetwork(name=name) for name in dict.fromkeys(names))
    if not isinstance(value, dict):
        raise at.must_be("a list or a mapping")
    found = []
    for name, spec in value.items():
        where = at.child(value, name)
        _check_network(name, where, ctx)
        spec = optional_mapping(spec, where)
        check_keys(spec, where, _NETWORK_KEYS)
        aliases = strings(spec.get("aliases") or [], where.child(spec, "aliases"))
        address = string(spec.get("ipv4_address") or "", where.child(spec, "ipv4_address"))
        found.append(model.ServiceNetwork(name=name, aliases=aliases, ipv4_address=address))
    return tuple(found)


def _check_network(name: str, at: At, ctx: Context) -> None:
    if name != "default" and name not in ctx.networks:
        raise at.error(f"{at.owner} refers to undefined network {name}: "
                       "invalid compose project")


def check_exclusive(raw: dict[str, Any], at: At) -> None:
    """``network_mode`` gives the service another's (or no) network: no ``networks`` then."""
    if raw.get("network_mode") is not None and raw.get("networks") is not None:
        raise at.child(raw, "networks").error(
            f'{at.owner} declares mutually exclusive "network_mode" and "networks": '
            "invalid compose project")


def dependency_names(service: model.Service) -> list[str]:
    """The services ``service`` needs first: depends_on, links, volumes_from, network_mode."""
    names = [dep.service for dep in service.depends_on]
    names += [link.partition(":")[0] for link in service.links]
    names += [entry.split(":")[0] for entry in service.volumes_from
              if not entry.startswith("container:")]
    if service.network_mode.startswith("service:"):
        names.append(service.network_mode.partition(":")[2])
    return list(dict.fromkeys(names))

