"""A :class:`model.Project` back to YAML, in the shape ``docker compose config`` prints.

Everything comes out resolved and in its long form: ports and volumes as mappings, paths
absolute, environment, labels and build args as mappings, durations in Go's notation
(``1m30s``), sizes in bytes, engine names of networks and volumes written out. Fields left
at their default are omitted. A service's keys are sorted as Compose prints them
(alphabetically); services, networks, volumes and environment entries keep the project's
order, so that reading the output back gives the same project. Every ``$`` of a value is
written ``$$``: the output is itself a compose file, and must not be interpolated twice.
"""

from __future__ import annotations

from typing import Any

from pyker.compose import model
from pyker.compose.units import format_duration
from pyker.compose.yamlsrc import dump_yaml as _dump

Doc = dict[str, Any]


def to_document(project: model.Project) -> Doc:
    """The project as ``docker compose config`` shows it (plain dicts, lists, scalars)."""
    doc: Doc = {"name": project.name,
                "services": {svc.name: _service(svc) for svc in project.services}}
    if project.networks:
        doc["networks"] = {net.key: _network(net) for net in project.networks}
    if project.volumes:
        doc["volumes"] = {vol.key: _volume(vol) for vol in project.volumes}
    return _escape(doc)


def dump_yaml(doc: Doc) -> str:
    """YAML text of :func:`to_document`'s output, readable back by ``load()``."""
    return _dump(doc)


def _service(svc: model.Service) -> Doc:
    out: Doc = {
        "build": _build(svc.build) if svc.build else None,
        "command": list(svc.command) if svc.command is not None else None,
        "entrypoint": list(svc.entrypoint) if svc.entrypoint is not None else None,
        "environment": dict(svc.environment) or None,
        "ports": [_port(p) for p in svc.ports] or None,
        "volumes": [_mount(v) for v in svc.volumes] or None,
        "networks": {n.name: _service_network(n) for n in svc.networks} or None,
        "depends_on": {d.service: _dependency(d) for d in svc.depends_on} or None,
        "healthcheck": _healthcheck(svc.healthcheck) if svc.healthcheck else None,
        "labels": dict(svc.labels) or None,
        "ulimits": dict(_ulimit(u) for u in svc.ulimits) or None,
        "logging": _logging(svc),
        "deploy": {"replicas": svc.replicas} if svc.replicas != 1 else None,
        "restart": svc.restart if svc.restart != "no" else None,
        "stop_grace_period": (format_duration(svc.stop_grace_period)
                              if svc.stop_grace_period else None),
    }
    for key in ("image", "network_mode", "user", "working_dir", "hostname", "container_name",
                "cpuset", "stop_signal", "cpu_shares", "cpus", "mem_limit", "mem_reservation",
                "memswap_limit", "pids_limit", "init", "privileged", "read_only", "tty",
                "stdin_open"):
        out[key] = getattr(svc, key) or None  # "", 0 and False are the defaults
    for key in ("expose", "volumes_from", "links", "tmpfs", "cap_add", "cap_drop",
                "security_opt", "dns", "extra_hosts", "profiles"):
        out[key] = list(getattr(svc, key)) or None
    return {key: out[key] for key in sorted(out) if out[key] is not None}


def _logging(svc: model.Service) -> Doc | None:
    if not (svc.log_driver or svc.log_opts):
        return None
    out: Doc = {"driver": svc.log_driver} if svc.log_driver else {}
    if svc.log_opts:
        out["options"] = dict(svc.log_opts)
    return out


def _build(build: model.Build) -> Doc:
    out: Doc = {"context": build.context, "dockerfile": build.dockerfile}
    if build.args:
        out["args"] = dict(build.args)
    if build.target:
        out["target"] = build.target
    if build.labels:
        out["labels"] = dict(build.labels)
    return out


def _port(port: model.Port) -> Doc:
    out: Doc = {"mode": "ingress"}
    if port.host_ip:
        out["host_ip"] = port.host_ip
    out["target"] = port.target
    if port.published:
        out["published"] = port.published
    out["protocol"] = port.protocol
    return out


def _mount(vol: model.ServiceVolume) -> Doc:
    out: Doc = {"type": vol.type}
    if vol.source:
        out["source"] = vol.source
    out["target"] = vol.target
    if vol.read_only:
        out["read_only"] = True
    if vol.type == "bind":
        out["bind"] = {"create_host_path": vol.create_host_path}
    elif vol.type == "volume":
        out["volume"] = {"nocopy": True} if vol.nocopy else {}
    elif vol.tmpfs_size:
        out["tmpfs"] = {"size": vol.tmpfs_size}
    return out


def _service_network(net: model.ServiceNetwork) -> Doc | None:
    out: Doc = {}
    if net.aliases:
        out["aliases"] = list(net.aliases)
    if net.ipv4_address:
        out["ipv4_address"] = net.ipv4_address
    return out or None


def _dependency(dep: model.Dependency) -> Doc:
    out: Doc = {"condition": dep.condition, "required": dep.required}
    if dep.restart:
        out["restart"] = True
    return out


def _healthcheck(check: model.Healthcheck) -> Doc:
    out: Doc = {"test": list(check.test)} if check.test else {}
    for key in ("interval", "timeout", "start_period"):
        if getattr(check, key):
            out[key] = format_duration(getattr(check, key))
    if check.retries:
        out["retries"] = check.retries
    if check.disable:
        out["disable"] = True
    return out


def _ulimit(text: str) -> tuple[str, Any]:
    name, _, values = text.partition("=")
    soft, _, hard = values.partition(":")
    if not hard or hard == soft:
        return name, int(soft)
    return name, {"soft": int(soft), "hard": int(hard)}


def _network(net: model.Network) -> Doc:
    out: Doc = {"name": net.name}
    if net.external:
        out["external"] = True
        return out
    out["driver"] = net.driver
    if net.internal:
        out["internal"] = True
    pool = {key: getattr(net, key) for key in ("subnet", "gateway", "ip_range")
            if getattr(net, key)}
    if pool:
        out["ipam"] = {"config": [pool]}
    if net.labels:
        out["labels"] = dict(net.labels)
    return out


def _volume(vol: model.Volume) -> Doc:
    out: Doc = {"name": vol.name}
    if vol.external:
        out["external"] = True
        return out
    out["driver"] = vol.driver
    if vol.labels:
        out["labels"] = dict(vol.labels)
    return out


def _escape(node: Any) -> Any:
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, dict):
        return {key: _escape(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_escape(item) for item in node]
    return node
