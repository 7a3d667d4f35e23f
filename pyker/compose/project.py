"""A loaded compose project against the engine: its containers, networks, volumes, images.

Nothing of a project is kept anywhere but in the engine's own objects: containers carry
Compose's ``com.docker.compose.*`` labels (project, service, number, configuration hash),
networks and volumes likewise, so ``ps``, ``down`` or a second ``up`` find what belongs
to the project by asking the engine, as Docker Compose v2 does with the Docker API.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import TextIO

from pyker.compose import model, translate
from pyker.compose.translate import (LABEL_NETWORK, LABEL_NUMBER, LABEL_ONEOFF,
                                     LABEL_PROJECT, LABEL_SERVICE, LABEL_VERSION,
                                     LABEL_VOLUME)
from pyker.engine import Engine
from pyker.errors import ComposeError, ImageNotFound, PykerError

RUNNING = ("running", "paused", "restarting")


class Progress:
    """Compose v2's plain progress lines on stderr: `` Container demo-web-1  Started``."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet

    def event(self, kind: str, name: str, status: str) -> None:
        if not self.quiet:
            print(f" {kind} {name}  {status}", file=self.stream, flush=True)


class ComposeProject:
    def __init__(self, project: model.Project, engine: Engine | None = None,
                 progress: Progress | None = None) -> None:
        self.project = project
        self.engine = engine or Engine()
        self.progress = progress or Progress()

    # -- what exists -----------------------------------------------------------------------

    def containers(self, services: Iterable[str] = (), *, oneoff: bool | None = False,
                   stopped: bool = True):
        """The project's container records (of ``services`` when given), by service then
        number. ``oneoff`` None takes ``compose run`` containers too."""
        wanted = set(services)
        out = []
        for record in self.engine.containers.all():
            labels = record.options.get("labels") or {}
            if labels.get(LABEL_PROJECT) != self.project.name:
                continue
            if wanted and labels.get(LABEL_SERVICE) not in wanted:
                continue
            if oneoff is not None and (labels.get(LABEL_ONEOFF) == "True") != oneoff:
                continue
            if not stopped and record.state.status not in RUNNING:
                continue
            out.append(record)
        return sorted(out, key=lambda r: (label(r, LABEL_SERVICE),
                                          int(label(r, LABEL_NUMBER) or 0), r.created))

    def names(self) -> dict[str, str]:
        """Each service's first container name (links, volumes_from, network_mode)."""
        return {svc.name: translate.container_name(self.project, svc, 1)
                for svc in self.project.services}

    def orphans(self):
        known = {svc.name for svc in self.project.services}
        return [r for r in self.containers(oneoff=None) if label(r, LABEL_SERVICE) not in known]

    # -- networks and volumes ----------------------------------------------------------------

    def ensure_networks(self, keys: Iterable[str]) -> None:
        for key in dict.fromkeys(keys):
            net = self.project.network(key)
            try:
                existing = self.engine.networks.get(net.name)
            except PykerError:
                existing = None
            if net.external:
                if existing is None:
                    raise ComposeError(f'network {net.name} declared as external, but could '
                                       "not be found")
                continue
            if existing is not None:
                if (existing.labels or {}).get(LABEL_PROJECT) not in (None, self.project.name):
                    print(f'WARN[0000] a network with name {net.name} exists but was not '
                          f'created for project "{self.project.name}"', file=sys.stderr)
                continue
            self.progress.event("Network", net.name, "Creating")
            self.engine.create_network(
                net.name, subnet=net.subnet or None, gateway=net.gateway or None,
                ip_range=net.ip_range or None, internal=net.internal,
                labels={**dict(net.labels), LABEL_PROJECT: self.project.name,
                        LABEL_NETWORK: net.key, LABEL_VERSION: translate.COMPOSE_VERSION})
            self.progress.event("Network", net.name, "Created")

    def ensure_volumes(self, keys: Iterable[str]) -> None:
        from pyker.runtime.volumes import store_of

        store = store_of(self.engine.containers_dir)
        for key in dict.fromkeys(keys):
            vol = self.project.volume(key)
            with store.locked():
                names = {v.name for v in store.list()}
                if vol.external:
                    if vol.name not in names:
                        raise ComposeError(f"external volume \"{vol.name}\" not found")
                    continue
                if vol.name in names:
                    continue
                self.progress.event("Volume", f'"{vol.name}"', "Creating")
                store.create(vol.name, labels={**dict(vol.labels),
                                               LABEL_PROJECT: self.project.name,
                                               LABEL_VOLUME: vol.key,
                                               LABEL_VERSION: translate.COMPOSE_VERSION})
            self.progress.event("Volume", f'"{vol.name}"', "Created")

    def networks_of(self, services: Iterable[str]) -> list[str]:
        return [n.name for name in services for n in self.project.service(name).networks]

    def volumes_of(self, services: Iterable[str]) -> list[str]:
        return [v.source for name in services for v in self.project.service(name).volumes
                if v.type == "volume" and v.source]

    # -- images ------------------------------------------------------------------------------

    def image_for(self, svc: model.Service, *, build: bool = False, no_cache: bool = False):
        """The service's image: built when asked or missing (with ``build:``), else found.

        Raises:
            ComposeError: no such image and nothing to build it from (no registry here).
        """
        name = translate.image_name(self.project, svc)
        if svc.build is not None and build:
            return self.build(svc, no_cache=no_cache)
        try:
            return self.engine.images.resolve(name)
        except ImageNotFound:
            if svc.build is not None:
                return self.build(svc, no_cache=no_cache)
            raise ComposeError(f'service "{svc.name}": image {name} not found, and the '
                               "service has no build section") from None

    def build(self, svc: model.Service, *, no_cache: bool = False, quiet: bool = False):
        from pathlib import Path

        from pyker.build.builder import BuildOptions, Builder
        from pyker.build.context import BuildContext
        from pyker.build.output import Output
        from pyker.build.steps import RunFailed
        from pyker.image import reference

        assert svc.build is not None
        name = translate.image_name(self.project, svc)
        context = svc.build.context
        dockerfile = str(Path(context, svc.build.dockerfile))
        options = BuildOptions(tags=(reference.parse_tagged(name),), no_cache=no_cache,
                               target=svc.build.target, build_args=dict(svc.build.args),
                               labels=dict(svc.build.labels))
        self.progress.event("Service", svc.name, "Building")
        try:
            with BuildContext.load(context, dockerfile) as ctx:
                image = Builder(self.engine, ctx, options,
                                Output(sys.stderr, quiet=quiet)).build()
        except RunFailed as err:
            raise ComposeError(f'service "{svc.name}" failed to build: {err}') from err
        except PykerError as err:
            raise ComposeError(f'service "{svc.name}" failed to build: {err}') from err
        self.progress.event("Service", svc.name, "Built")
        return image

    # -- containers ----------------------------------------------------------------------------

    def create(self, svc: model.Service, number: int, image, *, oneoff: bool = False,
               overrides: dict[str, object] | None = None):
        from dataclasses import replace

        from pyker.runtime.container import create

        opts = translate.run_options(self.project, svc, number=number, image_id=image.id,
                                     names=self.names(), oneoff=oneoff)
        if overrides:
            opts = replace(opts, **overrides)
        self.progress.event("Container", opts.name, "Creating")
        record = create(self.engine.containers, image, opts)
        self.progress.event("Container", opts.name, "Created")
        return record

    def recreate(self, record, svc: model.Service, number: int, image):
        """A changed service's container replaced by a new one of the same name: Compose
        says it in two lines (Recreate, Recreated), not as a stop, a removal and a create."""
        self.progress.event("Container", record.name, "Recreate")
        loud, self.progress.quiet = self.progress.quiet, True
        try:
            self.stop(record)
            self.remove(record)
            new = self.create(svc, number, image)
        finally:
            self.progress.quiet = loud
        self.progress.event("Container", record.name, "Recreated")
        return new

    def start(self, record) -> None:
        from pyker.runtime.launch import Attach, start

        self.progress.event("Container", record.name, "Starting")
        start(self.engine.images, self.engine.containers, record,
              attach=Attach(foreground=False, interactive=False),
              remove=bool(record.options.get("auto_remove")),
              run_root=self.engine.config.run_root)
        self._connect_more(record)
        self.progress.event("Container", record.name, "Started")

    def _connect_more(self, record) -> None:
        """A service on several networks: the first at create, the others connected once
        it runs (``network connect`` needs its namespace), as Compose does with the API."""
        service = label(record, LABEL_SERVICE)
        if label(record, LABEL_ONEOFF) == "True" or not service:
            return
        svc = self.project.service(service)
        if len(svc.networks) < 2 or svc.network_mode:
            return
        from pyker.runtime import network_bridge

        ctx = network_bridge.Context.of(self.engine.containers, self.engine.config.run_root)
        current = self.engine.containers.load(record.id)
        attached = (network_bridge.settings(self.engine.containers.dir(record.id)) or {}
                    ).get("networks", {})
        for extra in svc.networks[1:]:
            net = self.engine.networks.get(self.project.network(extra.name).name)
            if net.name not in attached:
                network_bridge.connect(ctx, current, net, ip=extra.ipv4_address,
                                       aliases=(svc.name, *extra.aliases))

    def stop(self, record, *, timeout: float | None = None) -> None:
        from pyker.runtime.container import stop
        from pyker.runtime.options import signal_number

        if record.state.status not in RUNNING:
            return
        svc = self._service_of(record)
        # The service's stop_signal, else the container's own (the image's STOPSIGNAL).
        sig = signal_number(svc.stop_signal) if svc is not None and svc.stop_signal else None
        if timeout is None:
            timeout = (svc.stop_grace_period / 1e9 if svc is not None and svc.stop_grace_period
                       else 10)
        self.progress.event("Container", record.name, "Stopping")
        stop(self.engine.containers, record, timeout=timeout, stop_signal=sig)
        self.progress.event("Container", record.name, "Stopped")

    def remove(self, record, *, volumes: bool = False) -> None:
        from pyker.runtime.container import remove

        self.progress.event("Container", record.name, "Removing")
        remove(self.engine.containers, self.engine.containers.load(record.id), force=True,
               volumes=volumes)
        self.progress.event("Container", record.name, "Removed")

    def _service_of(self, record) -> model.Service | None:
        try:
            return self.project.service(label(record, LABEL_SERVICE))
        except KeyError:
            return None

    # -- waiting on dependencies ---------------------------------------------------------------

    def wait_for(self, dep: model.Dependency, *, poll: float = 0.1) -> None:
        """Block until ``dep``'s condition holds for every container of its service.

        Raises:
            ComposeError: the dependency can no longer meet it (unhealthy, failed, exited).
        """
        records = self.containers([dep.service])
        if not records:
            if dep.required:
                raise ComposeError(f'service "{dep.service}" has no container to depend on')
            return
        # Compose announces the conditions it waits on (not a mere service_started).
        shown = {"service_healthy": "Healthy", "service_completed_successfully": "Exited"}
        for record in records:
            done = shown.get(dep.condition)
            if done:
                self.progress.event("Container", record.name, "Waiting")
            while not self._met(dep, self.engine.containers.load(record.id)):
                time.sleep(poll)
            if done:
                self.progress.event("Container", record.name, done)

    def _met(self, dep: model.Dependency, record) -> bool:
        state = record.state
        if dep.condition == "service_completed_successfully":
            if state.status in RUNNING or state.status == "created":
                return False
            if state.exit_code != 0:
                raise ComposeError(f'service "{dep.service}" didn\'t complete successfully: '
                                   f"exit {state.exit_code}")
            return True
        if dep.condition == "service_healthy":
            health = getattr(state, "health", None)
            if not health:
                raise ComposeError(f"container {record.name} has no healthcheck configured")
            if health.get("Status") == "unhealthy":
                raise ComposeError(f"dependency failed to start: container {record.name} "
                                   "is unhealthy")
            if state.status not in RUNNING:
                raise ComposeError(f"dependency failed to start: container {record.name} "
                                   f"exited ({state.exit_code})")
            return health.get("Status") == "healthy"
        return state.status in RUNNING or state.status == "exited"


def label(record, key: str) -> str:
    """A compose label of a container record ("" when absent)."""
    return (record.options.get("labels") or {}).get(key, "")
