"""A merged, interpolated compose document → :class:`model.Project`: the top level, the
project's networks and volumes; each service is :mod:`.normalize_service`'s.

Top-level keys: ``version`` (any: Compose v2 ignores it, so files written for 2.x and 3.x
load alike), ``name``, ``services``, ``networks``, ``volumes``; ``configs`` and ``secrets``
only empty (pyker mounts neither); ``x-`` keys are extension fields, ignored (they carry
YAML anchors). Engine names are Compose's: ``<project>_<key>`` for networks and volumes,
unless ``name:`` is given or the object is ``external`` (then created by someone else and
named as given, or as its key). pyker's networks are bridges with one IPv4 subnet, and its
volumes the local driver's: any other driver is refused by name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from pyker.compose import model
from pyker.compose.fields import (At, Context, boolean, check_keys, mapping,
                                  optional_mapping, pairs, sequence, string, last_wins)
from pyker.compose.normalize_service import normalize_service
from pyker.compose.yamlsrc import mark_of
from pyker.errors import ComposeError

TOP_KEYS = ("version", "name", "services", "networks", "volumes", "configs", "secrets")
_NETWORK_KEYS = ("name", "external", "driver", "driver_opts", "internal", "labels", "ipam",
                 "attachable", "enable_ipv6")
_IPAM_KEYS = ("driver", "config", "options")
_POOL_KEYS = ("subnet", "gateway", "ip_range", "aux_addresses")
_VOLUME_KEYS = ("name", "external", "driver", "driver_opts", "labels")


def normalize(doc: Any, *, name: str, working_dir: str, files: Sequence[str],
              environ: Mapping[str, str], home: str) -> model.Project:
    """Every service, network and volume of ``doc``, checked and in the model's shape.

    Raises:
        ComposeError: located at the first fault found.
    """
    first = doc.mark[0] if hasattr(doc, "mark") else (files[0] if files else "")
    if not isinstance(doc, dict):
        raise ComposeError("top-level object must be a mapping", file=first)
    _check_top_keys(doc)
    at = At(doc.mark if hasattr(doc, "mark") else (first, 0))
    networks = [_network(key, value, at.child(doc["networks"], key), name)
                for key, value in _section(doc, "networks", at).items()]
    volumes = [_volume(key, value, at.child(doc["volumes"], key), name)
               for key, value in _section(doc, "volumes", at).items()]
    raw_services = _section(doc, "services", at)
    if not raw_services:
        raise ComposeError("no service defined", file=first)
    ctx = Context(project_dir=working_dir, environ=environ,
                  services=frozenset(raw_services), networks=frozenset(n.key for n in networks),
                  volumes=frozenset(v.key for v in volumes), home=home)
    services = tuple(normalize_service(key, value, At(mark_of(raw_services, key)), ctx)
                     for key, value in raw_services.items())
    return model.Project(name=name, working_dir=working_dir, files=tuple(files),
                         services=services, networks=tuple(networks), volumes=tuple(volumes),
                         environment=dict(environ))


def with_default_network(project_name: str, networks: Sequence[model.Network],
                         services: Sequence[model.Service]) -> tuple[model.Network, ...]:
    """The declared networks, plus ``default`` when some service joins it undeclared."""
    used = any(net.name == "default" for svc in services for net in svc.networks)
    if not used or any(net.key == "default" for net in networks):
        return tuple(networks)
    return (*networks, model.Network(key="default", name=f"{project_name}_default"))


def _check_top_keys(doc: dict[str, Any]) -> None:
    for key, value in doc.items():
        if key in TOP_KEYS or key.startswith("x-"):
            continue
        at = At(mark_of(doc, key))
        hint = ""
        if isinstance(value, dict) and ("image" in value or "build" in value):
            hint = " (a version 1 file? pyker reads services under \"services:\")"
        raise at.error(f'unknown top-level key "{key}"{hint}')
    for key in ("configs", "secrets"):
        if doc.get(key):
            raise At(mark_of(doc, key)).error(f'top-level "{key}" is not supported by pyker')


def _section(doc: dict[str, Any], key: str, at: At) -> dict[str, Any]:
    return optional_mapping(doc.get(key), at.child(doc, key))


def _external(spec: dict[str, Any], at: At, kind: str, key: str) -> tuple[bool, str]:
    """``external: true`` or the legacy ``external: {name: N}``: (external, its name)."""
    value = spec.get("external")
    if isinstance(value, dict):
        check_keys(value, at.child(spec, "external"), ("name",))
        legacy = string(value.get("name") or "", at.child(spec, "external"))
        return True, legacy
    external = boolean(value, at.child(spec, "external")) if value is not None else False
    if external:
        extra = [k for k in spec if k not in ("external", "name") and not k.startswith("x-")]
        if extra:
            raise at.child(spec, extra[0]).error(
                f'conflicting parameters "external" and "{extra[0]}" specified for {kind} '
                f'"{key}"')
    return external, ""


def _engine_name(spec: dict[str, Any], at: At, project: str, key: str, external: bool,
                 legacy: str) -> str:
    given = string(spec["name"], at.child(spec, "name")) if spec.get("name") else ""
    if external:
        return given or legacy or key
    return given or f"{project}_{key}"


def _network(key: str, raw: Any, at: At, project: str) -> model.Network:
    at = At(at.mark, "", f'network "{key}"')
    spec = optional_mapping(raw, at)
    check_keys(spec, at, _NETWORK_KEYS)
    external, legacy = _external(spec, at, "network", key)
    driver = string(spec.get("driver") or "bridge", at.child(spec, "driver"))
    if driver != "bridge":
        raise at.child(spec, "driver").error(
            f'{at.owner}: driver "{driver}" is not supported by pyker (bridge only)')
    for unsupported in ("driver_opts", "enable_ipv6"):
        if spec.get(unsupported):
            raise at.child(spec, unsupported).fail("not supported by pyker")
    pool = _ipam_pool(spec.get("ipam"), at.child(spec, "ipam"))
    return model.Network(
        key=key, name=_engine_name(spec, at, project, key, external, legacy),
        external=external, driver=driver,
        internal=boolean(spec.get("internal", False), at.child(spec, "internal")),
        labels=_labels(spec, at), **pool)


def _ipam_pool(raw: Any, at: At) -> dict[str, str]:
    """``ipam: {config: [{subnet, gateway, ip_range}]}``: one IPv4 pool at most."""
    ipam = optional_mapping(raw, at)
    check_keys(ipam, at, _IPAM_KEYS)
    if ipam.get("driver") not in (None, "default"):
        raise at.child(ipam, "driver").error(
            f'{at.owner}: ipam driver "{ipam["driver"]}" is not supported by pyker '
            "(default only)")
    config = sequence(ipam.get("config") or [], at.child(ipam, "config"))
    if len(config) > 1:
        raise at.child(ipam, "config").fail("pyker gives a network one subnet: one entry only")
    if not config:
        return {}
    where = at.child(ipam, "config").item(config, 0)
    pool = mapping(config[0], where)
    check_keys(pool, where, _POOL_KEYS)
    found = {key: string(pool[key], where.child(pool, key))
             for key in ("subnet", "gateway", "ip_range") if pool.get(key)}
    for key, text in found.items():
        try:
            parsed = (ipaddress.ip_address(text) if key == "gateway"
                      else ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise where.child(pool, key).fail(f'invalid address "{text}"') from None
        if parsed.version != 4:
            raise where.child(pool, key).fail(f'"{text}": pyker networks are IPv4 only')
    return found


def _volume(key: str, raw: Any, at: At, project: str) -> model.Volume:
    at = At(at.mark, "", f'volume "{key}"')
    spec = optional_mapping(raw, at)
    check_keys(spec, at, _VOLUME_KEYS)
    external, legacy = _external(spec, at, "volume", key)
    driver = string(spec.get("driver") or "local", at.child(spec, "driver"))
    if driver != "local":
        raise at.child(spec, "driver").error(
            f'{at.owner}: driver "{driver}" is not supported by pyker (local only)')
    if spec.get("driver_opts"):
        raise at.child(spec, "driver_opts").fail("not supported by pyker")
    return model.Volume(key=key, name=_engine_name(spec, at, project, key, external, legacy),
                        external=external, driver=driver, labels=_labels(spec, at))


def _labels(spec: dict[str, Any], at: At) -> tuple[tuple[str, str], ...]:
    if spec.get("labels") is None:
        return ()
    return last_wins([(k, v or "") for k, v, _ in pairs(spec["labels"],
                                                      at.child(spec, "labels"))])
