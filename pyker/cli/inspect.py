"""``inspect``, ``image inspect``, ``container inspect``: Docker's JSON documents and ``-f``.

The bare ``inspect`` looks for a container first, then an image, as Docker does.
"""

from __future__ import annotations

import argparse
import json
import sys

from pyker.engine import Engine
from pyker.errors import ContainerNotFound, ImageNotFound
from pyker.runtime.state import Record


def container_document(engine: Engine, record: Record) -> dict[str, object]:
    """The container as ``docker container inspect`` shows it (its key names and shape)."""
    from pyker.runtime import logdrivers
    from pyker.runtime.container import Paths

    s, o = record.state, record.options
    paths = Paths(root=engine.containers.dir(record.id))
    limits = o.get("limits", {})
    log_type, log_opts = logdrivers.config_of(o)
    doc = {
        "Id": record.id, "Created": record.created, "Path": record.path,
        "Args": list(record.args),
        "State": {"Status": s.status, "Running": s.status in ("running", "paused"),
                  "Paused": s.status == "paused", "Restarting": s.status == "restarting",
                  "OOMKilled": s.oom_killed, "Dead": s.status == "dead",
                  "Pid": s.pid if s.status in ("running", "paused") else 0,
                  "ExitCode": s.exit_code, "Error": s.error, "StartedAt": s.started_at,
                  "FinishedAt": s.finished_at},
        "Image": record.image_id, "LogPath": logdrivers.log_path(record, paths.root),
        "Name": "/" + record.name,
        "RestartCount": s.restart_count, "Driver": "overlay2", "Platform": "linux",
        "HostConfig": {
            "NetworkMode": o.get("network"), "AutoRemove": o.get("auto_remove"),
            "RestartPolicy": {"Name": o.get("restart"),
                              "MaximumRetryCount": o.get("max_retries")},
            "CapAdd": list(o.get("cap_add", ())) or None,
            "CapDrop": list(o.get("cap_drop", ())) or None,
            "Privileged": o.get("privileged"), "ReadonlyRootfs": o.get("read_only"),
            "SecurityOpt": list(o.get("security_opt", ())) or None,
            "Memory": limits.get("memory") or 0, "MemorySwap": limits.get("memory_swap") or 0,
            "MemoryReservation": limits.get("memory_reservation") or 0,
            "OomKillDisable": limits.get("oom_kill_disable"),
            "NanoCpus": limits.get("nano_cpus") or 0, "CpuShares": limits.get("cpu_shares") or 0,
            "CpuPeriod": limits.get("cpu_period") or 0, "CpuQuota": limits.get("cpu_quota") or 0,
            "CpusetCpus": limits.get("cpuset_cpus") or "",
            "CpusetMems": limits.get("cpuset_mems") or "",
            "PidsLimit": limits.get("pids_limit"), "Runtime": o.get("runtime"),
            "LogConfig": {"Type": log_type, "Config": log_opts},
            "PortBindings": _port_bindings(o), "PublishAllPorts": bool(o.get("publish_all")),
        },
        "Mounts": _mounts(engine, record),
        "NetworkSettings": network_settings(engine, record),
        "GraphDriver": {"Name": "overlay2", "Data": {
            "LowerDir": _lower_dirs(engine, record), "MergedDir": str(paths.rootfs),
            "UpperDir": str(paths.upper), "WorkDir": str(paths.work)}},
        "Config": {
            "Hostname": o.get("hostname") or record.id[:12], "User": o.get("user"),
            "Tty": o.get("tty"), "OpenStdin": o.get("interactive"),
            "Env": list(o.get("env", ())), "Cmd": list(o.get("command", ())) or None,
            "Image": record.image_ref, "WorkingDir": o.get("workdir"),
            "Entrypoint": o.get("entrypoint"), "Labels": o.get("labels") or {},
        },
    }
    exposed = _exposed(engine, record)
    if exposed:
        doc["Config"]["ExposedPorts"] = {key: {} for key in exposed}
        ports = doc["NetworkSettings"]["Ports"]
        if doc["NetworkSettings"]["SandboxKey"]:  # running: the unpublished ones are null
            doc["NetworkSettings"]["Ports"] = {k: ports.get(k) for k in sorted({*exposed, *ports})}
    # Left out when unset, as Docker's omitempty does (the image's STOPSIGNAL is set).
    if o.get("stop_signal"):
        doc["Config"]["StopSignal"] = o["stop_signal"]
    if o.get("stop_timeout") is not None:
        doc["Config"]["StopTimeout"] = o["stop_timeout"]
    # Both left out when there is no check, as Docker's omitempty does.
    if s.health is not None:
        doc["State"]["Health"] = s.health
    check = _healthcheck(engine, record)
    if check is not None:
        doc["Config"]["Healthcheck"] = check.to_dict()
    return doc


def _healthcheck(engine: Engine, record: Record):
    """The container's check: the image's HEALTHCHECK overridden by its --health-* flags."""
    from pyker.runtime.health import effective
    from pyker.runtime.options import RunOptions

    try:
        image = engine.images.get(record.image_id).config.config.healthcheck
    except ImageNotFound:  # removed since (rmi -f): the flags alone
        image = None
    return effective(image, RunOptions.from_dict(record.options).healthcheck)


def _mounts(engine: Engine, record: Record) -> list[dict[str, object]]:
    """Docker's Mounts: Type, Name, Source, Destination, Driver, Mode, RW, Propagation."""
    from pyker.runtime.volumes import inspect_mounts

    return inspect_mounts(engine.containers_dir, record.options)


def network_settings(engine: Engine, record: Record) -> dict[str, object]:
    """Docker's NetworkSettings: the default bridge's address at the top level, every
    network's endpoint under Networks, published ports under Ports."""
    from pyker.runtime.network_bridge import settings

    state = settings(engine.containers.dir(record.id)) or {}
    networks = {name: {"IPAMConfig": None, "Links": None, "Aliases": ep.get("Aliases"),
                       "MacAddress": ep["MacAddress"], "NetworkID": ep["NetworkID"],
                       "EndpointID": ep["EndpointID"], "Gateway": ep["Gateway"],
                       "IPAddress": ep["IPAddress"], "IPPrefixLen": ep["IPPrefixLen"],
                       "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0}
                for name, ep in state.get("networks", {}).items()}
    mode = record.options.get("network", "bridge")
    if not networks and mode in ("none", "host"):
        networks = {mode: {"NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                           "IPPrefixLen": 0, "MacAddress": ""}}
    default = networks.get("bridge", {})
    ports: dict[str, object] = {}
    for p in state.get("ports", ()):
        ports.setdefault(f"{p['container_port']}/{p['proto']}", []).append(
            {"HostIp": p["host_ip"], "HostPort": str(p["host_port"])})
    return {"Bridge": "", "SandboxKey": state.get("netns", ""), "Ports": ports,
            "Gateway": default.get("Gateway", ""), "IPAddress": default.get("IPAddress", ""),
            "IPPrefixLen": default.get("IPPrefixLen", 0),
            "MacAddress": default.get("MacAddress", ""), "Networks": networks}


def _find(engine: Engine, name: str, kind: str | None) -> dict[str, object]:
    from pyker.cli.images import _drop_none, inspect_document

    if kind in (None, "container"):
        try:
            return container_document(engine, engine.containers.resolve(name))
        except ContainerNotFound:
            if kind == "container":
                raise
    return _drop_none(inspect_document(engine, engine.images.resolve(name)))


def cmd_inspect(args: argparse.Namespace, kind: str | None = None) -> int:
    engine = Engine()
    kind = kind or getattr(args, "type", None)
    docs, status = [], 0
    for name in args.names:
        try:
            docs.append(_find(engine, name, kind))
        except (ImageNotFound, ContainerNotFound):
            what = {"image": "image", "container": "container"}.get(kind or "", "object")
            print(f"Error: No such {what}: {name}", file=sys.stderr)
            status = 1
    print_documents(docs, args.format)
    return status


def print_documents(docs: list[dict[str, object]], fmt: str | None) -> None:
    """Docker's inspect output: the JSON list, or ``-f``'s Go template once per document."""
    if fmt:
        from pyker.cli.gotemplate import compile as compile_template

        template = compile_template(fmt.replace("\\t", "\t").replace("\\n", "\n"))
        for doc in docs:
            sys.stdout.write(template.render(doc) + "\n")
    else:
        sys.stdout.write(json.dumps(docs, indent=4, ensure_ascii=False) + "\n")


def add_inspect(p: argparse.ArgumentParser, kind: str | None) -> None:
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-f", "--format", help="format output using a Go template")
    if kind is None:
        p.add_argument("--type", choices=["container", "image"])
    p.set_defaults(handler=lambda args: cmd_inspect(args, kind))


def _lower_dirs(engine, record) -> str:
    """The image's layers as overlayfs stacks them (topmost first), Docker's LowerDir."""
    from pyker.errors import ImageNotFound

    try:
        image = engine.images.get(record.image_id)
    except ImageNotFound:
        return ""
    return ":".join(str(layer.path) for layer in reversed(engine.images.layers_of(image)))


def _port_bindings(options) -> dict[str, object]:
    """``HostConfig.PortBindings``: -p as asked (an empty host port: any free one)."""
    from pyker.network import ports, ports_display

    return ports_display.port_bindings_config(
        b for text in options.get("publish", ()) for b in ports.parse_publish(text))


def _exposed(engine, record) -> list[str]:
    """``Config.ExposedPorts``' keys: the image's EXPOSE, --expose and the ports -p
    publishes, in Docker's "80/tcp" form."""
    from pyker.errors import ImageNotFound
    from pyker.network import ports

    try:
        image_ports = engine.images.get(record.image_id).config.config.exposed_ports
    except ImageNotFound:
        image_ports = ()
    o = record.options
    found = set(ports.exposed_ports(image_ports, o.get("expose", ())))
    found |= {(b.container_port, b.proto) for text in o.get("publish", ())
              for b in ports.parse_publish(text)}
    return [f"{port}/{proto}" for port, proto in sorted(found)]
