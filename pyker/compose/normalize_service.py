"""One service of a compose file → :class:`model.Service`, key by key, from a table.

:data:`FIELDS` maps each key Compose allows (and pyker runs) to a small normaliser that takes
the raw value and returns Service fields; a key outside the table is an error, so a typo
(``imgae``) never passes silently, and a key Compose knows but pyker does not run
(:data:`UNSUPPORTED`) says so instead of being ignored. Two keys that set the same field
(``mem_limit`` and ``deploy.resources.limits.memory``, ``scale`` and ``deploy.replicas``)
must agree, as in Compose. ``restart`` wins over ``deploy.restart_policy``.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from typing import Any

from pyker.compose import model
from pyker.compose.dotenv import read_dotenv
from pyker.compose.fields import (At, Context, boolean, check_keys, duration, integer,
                                  last_wins, mapping, number, optional_mapping, pairs,
                                  scalar_text, size, string, strings)
from pyker.compose.healthcheck import parse_healthcheck
from pyker.compose.mounts import parse_volumes
from pyker.compose.ports import parse_expose, parse_ports
from pyker.compose.references import (check_exclusive, parse_depends_on, parse_links,
                                      parse_network_mode, parse_networks, parse_volumes_from)
from pyker.errors import ComposeError

Fields = dict[str, Any]
Normaliser = Callable[[Any, At, Context], Fields]

SERVICE_NAME = re.compile(r"[a-zA-Z0-9._-]+")
PROFILE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_RESTART = re.compile(r"no|always|unless-stopped|on-failure(:[0-9]+)?")
_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_BUILD_KEYS = ("context", "dockerfile", "args", "target", "labels")
_DEPLOY_KEYS = ("replicas", "resources", "restart_policy", "mode", "labels", "placement",
                "update_config", "rollback_config", "endpoint_mode")
_POLICIES = {"none": "no", "any": "always", "on-failure": "on-failure"}

#: Compose keys pyker does not run: refused by name rather than ignored.
UNSUPPORTED = frozenset({
    "annotations", "attach", "blkio_config", "cgroup", "cgroup_parent", "configs",
    "credential_spec", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
    "cpu_rt_period", "cpu_rt_runtime", "develop", "device_cgroup_rules", "devices",
    "dns_opt", "dns_search", "domainname", "external_links", "gpus", "group_add", "ipc",
    "isolation", "mac_address", "mem_swappiness", "oom_kill_disable",
    "oom_score_adj", "pid", "platform", "post_start", "pre_stop", "pull_policy", "runtime",
    "secrets", "shm_size", "storage_opt", "sysctls", "userns_mode", "uts"})


def _field(name: str, read: Callable[[Any, At], Any]) -> Normaliser:
    return lambda value, at, ctx: {name: read(value, at)}


def _argv(name: str) -> Normaliser:
    def read(value: Any, at: At, ctx: Context) -> Fields:
        if isinstance(value, list):
            return {name: strings(value, at)}
        if not isinstance(value, str):
            raise at.must_be("a string or a list")
        try:
            return {name: tuple(shlex.split(value))}  # Compose splits as a POSIX shell would
        except ValueError as err:
            raise at.fail(f'invalid {name} "{value}": {str(err).lower()}') from None
    return read


def _build(value: Any, at: At, ctx: Context) -> Fields:
    spec = {"context": value} if isinstance(value, str) else mapping(value, at)
    check_keys(spec, at, _BUILD_KEYS)
    context = string(spec.get("context") or ".", at.child(spec, "context"))
    if "://" in context or context.startswith("git@"):
        raise at.child(spec, "context").fail(
            f'remote build context "{context}" is not supported by pyker')
    if context == "~" or context.startswith("~/"):
        context = ctx.home + context[1:]
    args = [(key, val if val is not None else ctx.environ.get(key))
            for key, val, _ in pairs(spec.get("args") or [], at.child(spec, "args"))]
    labels = [(key, val or "") for key, val, _ in pairs(spec.get("labels") or [],
                                                      at.child(spec, "labels"))]
    return {"build": model.Build(
        context=os.path.normpath(os.path.join(ctx.project_dir, context)),
        dockerfile=string(spec.get("dockerfile") or "Dockerfile", at.child(spec, "dockerfile")),
        args=last_wins([(key, val) for key, val in args if val is not None]),
        target=string(spec.get("target") or "", at.child(spec, "target")),
        labels=last_wins(labels))}


def _environment(value: Any, at: At, ctx: Context) -> Fields:
    # "K" alone (or K: null) passes the project's K through, and nothing when K is unset.
    found = [(key, val if val is not None else ctx.environ.get(key))
             for key, val, _ in pairs(value, at)]
    return {"_environment": [(key, val) for key, val in found if val is not None]}


def _env_file(value: Any, at: At, ctx: Context) -> Fields:
    if not isinstance(value, (str, list)):
        raise at.must_be("a string or a list")
    entries = [value] if isinstance(value, str) else value
    found: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        where = at.item(value, i) if isinstance(value, list) else at
        spec = {"path": entry} if isinstance(entry, str) else mapping(entry, where)
        check_keys(spec, where, ("path", "required"))
        path = os.path.join(ctx.project_dir, string(spec.get("path") or "",
                                                    where.child(spec, "path")))
        required = boolean(spec.get("required", True), where.child(spec, "required"))
        if not required and not os.path.exists(path):
            continue
        try:
            found.extend(read_dotenv(os.path.normpath(path), ctx.environ).items())
        except ComposeError as err:
            if err.file:  # a fault inside the env file: its own file and line
                raise
            raise where.fail(err.reason) from None
    return {"_env_file": found}


def _restart(value: Any, at: At, ctx: Context) -> Fields:
    policy = string(value, at)
    if not _RESTART.fullmatch(policy):
        raise at.fail(f'invalid restart policy "{policy}": use no, always, '
                      "on-failure[:max-retries] or unless-stopped")
    return {"restart": policy}


def _labels(value: Any, at: At, ctx: Context) -> Fields:
    return {"labels": last_wins([(key, val or "") for key, val, _ in pairs(value, at)])}


def _extra_hosts(value: Any, at: At, ctx: Context) -> Fields:
    entries: list[str] = []
    if isinstance(value, dict):
        for host, addresses in value.items():
            where = at.child(value, host)
            for address in strings(addresses, where, single=True):
                entries.append(f"{host}:{address}")
        return {"extra_hosts": tuple(entries)}
    for i, entry in enumerate(strings(value, at)):
        sep = "=" if "=" in entry else ":"  # "host=ip" (newer) or "host:ip"
        host, found, address = entry.partition(sep)
        if not (host and found and address):
            raise at.item(value, i).fail(f'invalid extra host "{entry}": use HOST:IP')
        entries.append(f"{host}:{address}")
    return {"extra_hosts": tuple(entries)}


def _ulimits(value: Any, at: At, ctx: Context) -> Fields:
    from pyker.runtime.options import ULIMIT_NAMES  # the names run --ulimit takes

    found = []
    for name, limit in mapping(value, at).items():
        where = at.child(value, name)
        if name not in ULIMIT_NAMES:
            raise where.fail(f'unknown ulimit "{name}"')
        if isinstance(limit, dict):
            check_keys(limit, where, ("soft", "hard"))
            soft = integer(limit.get("soft"), where.child(limit, "soft"))
            hard = integer(limit.get("hard"), where.child(limit, "hard"))
        else:
            soft = hard = integer(limit, where)
        if hard >= 0 and soft > hard:
            raise where.fail(f"soft limit {soft} is above hard limit {hard}")
        found.append(f"{name}={soft}:{hard}")
    return {"ulimits": tuple(found)}


def _deploy(value: Any, at: At, ctx: Context) -> Fields:
    spec = mapping(value, at)
    check_keys(spec, at, _DEPLOY_KEYS)
    fields: Fields = {}
    if spec.get("replicas") is not None:
        fields["replicas"] = _replicas(spec["replicas"], at.child(spec, "replicas"))
    resources = optional_mapping(spec.get("resources"), at.child(spec, "resources"))
    limits = optional_mapping(resources.get("limits"), at.child(resources, "limits"))
    at_limits = at.child(spec, "resources").child(resources, "limits")
    if limits.get("cpus") is not None:
        fields["cpus"] = number(limits["cpus"], at_limits.child(limits, "cpus"))
    if limits.get("memory") is not None:
        fields["mem_limit"] = size(limits["memory"], at_limits.child(limits, "memory"))
    if limits.get("pids") is not None:
        fields["pids_limit"] = integer(limits["pids"], at_limits.child(limits, "pids"))
    reservations = optional_mapping(resources.get("reservations"),
                                    at.child(resources, "reservations"))
    if reservations.get("memory") is not None:
        fields["mem_reservation"] = size(reservations["memory"], at.child(
            spec, "resources").child(resources, "reservations").child(reservations, "memory"))
    policy = optional_mapping(spec.get("restart_policy"), at.child(spec, "restart_policy"))
    if policy.get("condition") is not None:
        fields["_deploy_restart"] = _deploy_restart(policy, at.child(spec, "restart_policy"))
    return fields


def _deploy_restart(policy: dict[str, Any], at: At) -> str:
    condition = string(policy["condition"], at.child(policy, "condition"))
    if condition not in _POLICIES:
        raise at.child(policy, "condition").fail(
            f'invalid condition "{condition}": use none, on-failure or any')
    attempts = policy.get("max_attempts")
    if condition == "on-failure" and attempts is not None:
        return f"on-failure:{integer(attempts, at.child(policy, 'max_attempts'))}"
    return _POLICIES[condition]


def _replicas(value: Any, at: At) -> int:
    replicas = integer(value, at)
    if replicas < 0:
        raise at.fail(f"invalid number of replicas {replicas}")
    return replicas


def _profiles(value: Any, at: At, ctx: Context) -> Fields:
    names = strings(value, at)
    for i, name in enumerate(names):
        if not PROFILE_NAME.fullmatch(name):
            raise at.item(value, i).fail(f'invalid profile name "{name}"')
    return {"profiles": names}


def _container_name(value: Any, at: At, ctx: Context) -> Fields:
    name = string(value, at)
    if not _CONTAINER_NAME.fullmatch(name):
        raise at.fail(f'invalid container name "{name}": use [a-zA-Z0-9][a-zA-Z0-9_.-]+')
    return {"container_name": name}


def _logging(value: Any, at: At, ctx: Context) -> Fields:
    """``logging: {driver, options}``; checked with the daemon's defaults at create
    (pyker.compose.translate), as Compose leaves that to the engine."""
    spec = mapping(value, at)
    check_keys(spec, at, ("driver", "options"))
    driver = string(spec.get("driver") or "", at.child(spec, "driver"))
    options = optional_mapping(spec.get("options"), at.child(spec, "options"))
    where = at.child(spec, "options")
    opts = tuple((str(key), scalar_text(item, where.child(options, key)) or "")
                 for key, item in options.items())
    return {"log_driver": driver, "log_opts": opts}


def _with_ctx(name: str, read: Callable[[Any, At, Context], Any]) -> Normaliser:
    return lambda value, at, ctx: {name: read(value, at, ctx)}


FIELDS: dict[str, Normaliser] = {
    "image": _field("image", string),
    "build": _build,
    "command": _argv("command"),
    "entrypoint": _argv("entrypoint"),
    "environment": _environment,
    "env_file": _env_file,
    "ports": _field("ports", parse_ports),
    "expose": _field("expose", parse_expose),
    "volumes": _with_ctx("volumes", parse_volumes),
    "volumes_from": _with_ctx("volumes_from", parse_volumes_from),
    "networks": _with_ctx("networks", parse_networks),
    "network_mode": _with_ctx("network_mode", parse_network_mode),
    "depends_on": _with_ctx("depends_on", parse_depends_on),
    "links": _with_ctx("links", parse_links),
    "healthcheck": _field("healthcheck", parse_healthcheck),
    "restart": _restart,
    **{key: _field(key, boolean)
       for key in ("init", "privileged", "read_only", "tty", "stdin_open")},
    **{key: _field(key, string)
       for key in ("user", "working_dir", "hostname", "stop_signal", "cpuset")},
    "container_name": _container_name,
    "stop_grace_period": _field("stop_grace_period", duration),
    "tmpfs": _field("tmpfs", lambda value, at: strings(value, at, single=True)),
    "dns": _field("dns", lambda value, at: strings(value, at, single=True)),
    **{key: _field(key, strings) for key in ("cap_add", "cap_drop", "security_opt")},
    "labels": _labels,
    "extra_hosts": _extra_hosts,
    "cpu_shares": _field("cpu_shares", integer),
    "cpus": _field("cpus", number),
    **{key: _field(key, size) for key in ("mem_limit", "mem_reservation", "memswap_limit")},
    "pids_limit": _field("pids_limit", integer),
    "ulimits": _ulimits,
    "deploy": _deploy,
    "scale": _field("replicas", _replicas),
    "profiles": _profiles,
    "logging": _logging,
}


def normalize_service(name: str, raw: Any, at: At, ctx: Context) -> model.Service:
    """One entry of ``services:``; ``at`` is where its name was written.

    Raises:
        ComposeError: ``FILE:LINE: service "web": <problem>`` for the first fault found.
    """
    if not SERVICE_NAME.fullmatch(name):
        raise at.error(f'invalid service name "{name}": use only [a-zA-Z0-9._-]')
    at = At(at.mark, "", f'service "{name}"')
    raw = mapping(raw, at)
    check_exclusive(raw, at)
    fields: Fields = {}
    origin: dict[str, str] = {}
    for key, value in raw.items():
        if key.startswith("x-") or value is None:
            continue
        where = at.child(raw, key)
        if key in UNSUPPORTED:
            raise where.error(f'{at.owner}: "{key}" is not supported by pyker')
        if key not in FIELDS:
            raise where.error(f'{at.owner}: unknown key "{key}"')
        for field, result in FIELDS[key](value, where, ctx).items():
            if field in fields and fields[field] != result:
                raise where.error(f"{at.owner}: can't set distinct values on "
                                  f'"{_source(origin[field], field)}" and '
                                  f'"{_source(key, field)}"')
            fields[field], origin[field] = result, key
    return _finish(name, fields, at)


_DEPLOY_SOURCES = {"replicas": "deploy.replicas", "cpus": "deploy.resources.limits.cpus",
                   "mem_limit": "deploy.resources.limits.memory",
                   "pids_limit": "deploy.resources.limits.pids",
                   "mem_reservation": "deploy.resources.reservations.memory"}


def _source(key: str, field: str) -> str:
    return _DEPLOY_SOURCES.get(field, key) if key == "deploy" else key


def _finish(name: str, fields: Fields, at: At) -> model.Service:
    env_file = fields.pop("_env_file", [])
    environment = fields.pop("_environment", [])
    fields["environment"] = last_wins(env_file + environment)  # environment overrides
    deploy_restart = fields.pop("_deploy_restart", None)
    if deploy_restart and "restart" not in fields:
        fields["restart"] = deploy_restart
    if not fields.get("image") and "build" not in fields:
        raise at.error(f"{at.owner} has neither an image nor a build context specified: "
                       "invalid compose project")
    if not fields.get("network_mode") and not fields.get("networks"):
        fields["networks"] = (model.ServiceNetwork(name="default"),)
    if fields.get("container_name") and fields.get("replicas", 1) > 1:
        raise at.error(f"{at.owner}: can't set container_name and scale above 1: "
                       "a container name must be unique")
    return model.Service(name=name, **fields)
