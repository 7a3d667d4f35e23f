"""A compose service, as the run options of one of its containers.

Every compose key lands on the same :class:`~pyker.runtime.options.RunOptions` field that
the matching ``docker run`` flag fills, checked by the same parsers, so a service behaves
exactly as the ``run`` line a student would type for it. The configuration hash (Compose's
``com.docker.compose.config-hash`` label) is taken from the service as loaded, so that
``up`` can tell which containers no longer match their file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace

from pyker.compose import model
from pyker.errors import ComposeError

LABEL_PROJECT = "com.docker.compose.project"
LABEL_SERVICE = "com.docker.compose.service"
LABEL_NUMBER = "com.docker.compose.container-number"
LABEL_ONEOFF = "com.docker.compose.oneoff"
LABEL_HASH = "com.docker.compose.config-hash"
LABEL_IMAGE = "com.docker.compose.image"
LABEL_WORKDIR = "com.docker.compose.project.working_dir"
LABEL_FILES = "com.docker.compose.project.config_files"
LABEL_DEPENDS = "com.docker.compose.depends_on"
LABEL_VERSION = "com.docker.compose.version"
LABEL_NETWORK = "com.docker.compose.network"
LABEL_VOLUME = "com.docker.compose.volume"
COMPOSE_VERSION = "2.20.0-pyker"

#: What a container's identity does not depend on: changing the number of replicas or how
#: the image is built does not make the existing containers stale (Compose excludes them).
_NOT_HASHED = ("replicas", "build", "profiles", "depends_on")


def image_name(project: model.Project, svc: model.Service) -> str:
    """The image a service runs: its ``image:``, else Compose v2's ``<project>-<service>``."""
    return svc.image or f"{project.name}-{svc.name}"


def container_name(project: model.Project, svc: model.Service, number: int) -> str:
    return svc.container_name or f"{project.name}-{svc.name}-{number}"


def config_hash(svc: model.Service) -> str:
    # Unset logging leaves the hash as it was before the key existed: no needless recreate.
    doc = {k: v for k, v in asdict(svc).items()
           if k not in _NOT_HASHED and not (k in ("log_driver", "log_opts") and not v)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def labels(project: model.Project, svc: model.Service, number: int, *, image_id: str,
           oneoff: bool = False) -> dict[str, str]:
    depends = ",".join(f"{d.service}:{d.condition}:{str(d.restart).lower()}"
                       for d in svc.depends_on)
    return {**dict(svc.labels),
            LABEL_PROJECT: project.name, LABEL_SERVICE: svc.name,
            LABEL_NUMBER: str(number), LABEL_ONEOFF: "True" if oneoff else "False",
            LABEL_HASH: config_hash(svc), LABEL_IMAGE: image_id,
            LABEL_WORKDIR: project.working_dir, LABEL_FILES: ",".join(project.files),
            LABEL_DEPENDS: depends, LABEL_VERSION: COMPOSE_VERSION}


def _network(project: model.Project, svc: model.Service,
             names: dict[str, str]) -> tuple[str, str, tuple[str, ...]]:
    """(run's --network, --ip, --network-alias) for the service's first network."""
    mode = svc.network_mode
    if mode.startswith("service:"):
        return f"container:{names[mode.partition(':')[2]]}", "", ()
    if mode:
        return mode, "", ()
    if not svc.networks:
        return "none", "", ()
    first = svc.networks[0]
    # Docker Compose makes the service's name an alias on every network of the project, so
    # that other services reach it by DNS whatever its container is called.
    return (project.network(first.name).name, first.ipv4_address,
            (svc.name, *first.aliases))


def _mounts(project: model.Project, svc: model.Service):
    from pyker.volume import mountspec
    from pyker.volume.mountspec import MountSpec

    out = []
    for v in svc.volumes:
        if v.type == "bind":
            out.append(MountSpec(type="bind", source=v.source, target=v.target,
                                 readonly=v.read_only, mode="ro" if v.read_only else "rw",
                                 propagation=mountspec.DEFAULT_PROPAGATION,
                                 create_source=v.create_host_path))
        elif v.type == "volume":
            source = project.volume(v.source).name if v.source else ""
            out.append(MountSpec(type="volume", source=source, target=v.target,
                                 readonly=v.read_only, mode="ro" if v.read_only else "rw",
                                 nocopy=v.nocopy))
        else:
            size = f":size={v.tmpfs_size}" if v.tmpfs_size else ""
            out.append(mountspec.parse_tmpfs(f"{v.target}{size}"))
    out.extend(mountspec.parse_tmpfs(t) for t in svc.tmpfs)
    mounts = tuple(out)
    mountspec.check_unique(mounts)
    return mounts


def _volumes_from(entry: str, names: dict[str, str]) -> str:
    ref, _, mode = entry.partition(":")
    if ref == "container":  # container:NAME[:ro]
        name, _, mode = mode.partition(":")
        return f"{name}:{mode}" if mode else name
    return f"{names[ref]}:{mode}" if mode else names[ref]


def _links(entry: str, names: dict[str, str]) -> str:
    service, _, alias = entry.partition(":")
    return f"{names.get(service, service)}:{alias or service}"


def _healthcheck(svc: model.Service):
    from pyker.spec.image import Healthcheck

    hc = svc.healthcheck
    if hc is None:
        return None
    if hc.disable:
        return Healthcheck(test=("NONE",))
    from pyker.runtime.health import validate

    check = Healthcheck(test=hc.test, interval=hc.interval, timeout=hc.timeout,
                        start_period=hc.start_period, retries=hc.retries)
    validate(check)  # the daemon's checks (an interval under 1ms…), before anything exists
    return check


def _logging(svc: model.Service) -> dict[str, object]:
    """``logging:`` with daemon.json's defaults, checked as ``run --log-driver`` is."""
    from pyker import config
    from pyker.runtime.logdrivers import resolve

    engine = config.load()
    driver, opts = resolve(svc.log_driver, dict(svc.log_opts),
                           default_driver=engine.log_driver, default_opts=engine.log_opts)
    return {"log_driver": driver, "log_opts": opts}


def _limits(svc: model.Service):
    from pyker.cgroups.resources import Resources

    return Resources(memory=svc.mem_limit or None, memory_swap=svc.memswap_limit or None,
                     memory_reservation=svc.mem_reservation or None,
                     cpu_shares=svc.cpu_shares or None,
                     nano_cpus=int(round(svc.cpus * 1e9)) or None,
                     cpuset_cpus=svc.cpuset or None, pids_limit=svc.pids_limit or None)


def run_options(project: model.Project, svc: model.Service, *, number: int, image_id: str,
                names: dict[str, str], oneoff: bool = False):
    """The :class:`RunOptions` of container ``number`` of ``svc``.

    ``names`` maps every service to the name of its first container (for ``links``,
    ``volumes_from`` and ``network_mode: service:``).

    Raises:
        ComposeError: a value the run flags refuse, naming the service.
    """
    from pyker.errors import PykerError
    from pyker.network.ports import parse_publish
    from pyker.network.resolvconf import parse_add_host
    from pyker.runtime.options import (RunOptions, parse_restart, parse_security_opts,
                                       parse_ulimit)
    from pyker.security import capabilities

    try:
        capabilities.resolve(svc.cap_add, svc.cap_drop, privileged=svc.privileged)
        network, ip, aliases = _network(project, svc, names)
        publish = tuple(p.publish_flag() for p in svc.ports)
        for spec in publish:
            parse_publish(spec)
        for entry in svc.extra_hosts:
            parse_add_host(entry)
        restart, retries = parse_restart(svc.restart)
        seccomp, nnp, security_opt = parse_security_opts(list(svc.security_opt))
        opts = RunOptions(
            image=image_name(project, svc), command=svc.command or (),
            entrypoint=svc.entrypoint, name=container_name(project, svc, number),
            hostname=svc.hostname, env=tuple(f"{k}={v}" for k, v in svc.environment),
            workdir=svc.working_dir, user=svc.user, tty=svc.tty,
            interactive=svc.stdin_open, detach=True, network=network,
            ip=ip if svc.replicas == 1 else "", aliases=aliases, publish=publish,
            expose=svc.expose, dns=svc.dns, add_hosts=svc.extra_hosts,
            links=tuple(_links(entry, names) for entry in svc.links),
            cap_add=svc.cap_add, cap_drop=svc.cap_drop, privileged=svc.privileged,
            seccomp=seccomp, no_new_privileges=nnp, security_opt=security_opt,
            read_only=svc.read_only, ulimits=tuple(parse_ulimit(u) for u in svc.ulimits),
            limits=_limits(svc), restart=restart, max_retries=retries,
            labels=labels(project, svc, number, image_id=image_id, oneoff=oneoff),
            init=svc.init, mounts=_mounts(project, svc),
            volumes_from=tuple(_volumes_from(v, names) for v in svc.volumes_from))
        opts = replace(opts, **_logging(svc))
        health = _healthcheck(svc)
        if health is not None:
            opts = replace(opts, healthcheck=health)
        return opts
    except ComposeError:
        raise
    except PykerError as err:
        raise ComposeError(f'service "{svc.name}": {err}') from err
