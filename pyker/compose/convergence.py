"""``up`` and ``down``: bring the engine to what the compose file says, and back.

``up`` walks the services dependencies first. For each one it compares the containers that
exist (found by their labels) with what the file asks: a container whose configuration hash
or image differs is recreated, a missing replica is created, a surplus one removed, a
stopped one started — and nothing else is touched, so a second ``up`` on an unchanged
project does nothing (Docker Compose's convergence). A service whose ``network_mode`` or
``volumes_from`` names a recreated service is recreated too: it held the old container's
namespace or volumes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pyker.compose import graph, translate
from pyker.compose.project import RUNNING, ComposeProject, label
from pyker.compose.translate import LABEL_HASH, LABEL_IMAGE, LABEL_NUMBER, LABEL_SERVICE


@dataclass(frozen=True, slots=True, kw_only=True)
class UpOptions:
    services: tuple[str, ...] = ()
    build: bool = False
    no_build: bool = False
    force_recreate: bool = False
    no_recreate: bool = False
    no_start: bool = False
    no_deps: bool = False
    remove_orphans: bool = False
    scale: dict[str, int] = field(default_factory=dict, hash=False)
    wait: bool = True              # honour depends_on conditions before starting dependents


def _depends_on_service(svc, other: str) -> bool:
    """Whether ``svc`` holds something of ``other``'s container (its netns, its volumes)."""
    return (svc.network_mode == f"service:{other}"
            or any(v.partition(":")[0] == other for v in svc.volumes_from))


def up(cp: ComposeProject, opts: UpOptions) -> list:
    """Converge; the records of the containers now standing for the services, in order.

    Raises:
        ComposeError: a dependency that cannot be met, an image that cannot be found or
            built; what creating or starting a container raises.
    """
    project = cp.project
    order = list(opts.services) if opts.no_deps else graph.start_order(project, opts.services)
    names = cp.names()
    for name in order:  # every service's options checked before anything exists
        translate.run_options(project, project.service(name), number=1, image_id="",
                              names=names)
    images = {}
    for name in order:  # every image next: a failed build leaves no half-started project
        svc = project.service(name)
        images[name] = cp.image_for(svc, build=opts.build and not opts.no_build)
    cp.ensure_networks(cp.networks_of(order))
    cp.ensure_volumes(cp.volumes_of(order))
    if opts.remove_orphans:
        for record in cp.orphans():
            cp.stop(record)
            cp.remove(record)
    recreated: set[str] = set()
    standing = []
    for name in order:
        svc = project.service(name)
        if not opts.no_deps and opts.wait:
            for dep in svc.depends_on:
                if dep.service in order:
                    cp.wait_for(dep)
        forced = opts.force_recreate or any(_depends_on_service(svc, r) for r in recreated)
        records, changed = _converge_service(cp, svc, images[name], opts, forced=forced)
        if changed:
            recreated.add(name)
        standing.extend(records)
    return standing


def _converge_service(cp: ComposeProject, svc, image, opts: UpOptions, *, forced: bool):
    replicas = opts.scale.get(svc.name, svc.replicas)
    want_hash = translate.config_hash(svc)
    existing = cp.containers([svc.name])
    by_number: dict[int, object] = {}
    for record in existing:
        number = int(label(record, LABEL_NUMBER) or 0)
        if number in by_number or not 1 <= number <= replicas:
            cp.stop(record)        # scaled down, or a duplicate number: Compose removes it
            cp.remove(record)
            continue
        by_number[number] = record
    out, changed = [], False
    for number in range(1, replicas + 1):
        record = by_number.get(number)
        if record is not None:
            stale = (label(record, LABEL_HASH) != want_hash
                     or label(record, LABEL_IMAGE) != image.id)
            if (stale or forced) and not opts.no_recreate:
                record, changed = cp.recreate(record, svc, number, image), True
                if not opts.no_start:
                    cp.start(record)
                record = cp.engine.containers.load(record.id)
            elif record.state.status not in RUNNING and not opts.no_start:
                cp.start(record)
                record = cp.engine.containers.load(record.id)
            else:
                cp.progress.event("Container", record.name, "Running")
        if record is None:
            record = cp.create(svc, number, image)
            if not opts.no_start:
                cp.start(record)
            record = cp.engine.containers.load(record.id)
        out.append(record)
    return out, changed


@dataclass(frozen=True, slots=True, kw_only=True)
class DownOptions:
    volumes: bool = False
    rmi: str = ""                  # "", "local" or "all"
    remove_orphans: bool = False
    timeout: float | None = None


def down(cp: ComposeProject, opts: DownOptions) -> None:
    """Stop and remove the project's containers (dependents first), then its networks, and
    with ``volumes`` its named volumes, with ``rmi`` its images."""
    project = cp.project
    if not project.files:  # `-p NAME down` with no file: the project is what its labels say
        opts = replace(opts, remove_orphans=True)
    order = graph.stop_order(project)
    records = cp.containers(oneoff=None)
    known = {svc.name for svc in project.services}
    rank = {name: i for i, name in enumerate(order)}
    for record in sorted(records, key=lambda r: rank.get(label(r, LABEL_SERVICE), -1)):
        if label(record, LABEL_SERVICE) not in known and not opts.remove_orphans:
            if label(record, "com.docker.compose.oneoff") != "True":
                continue
        cp.stop(record, timeout=opts.timeout)
        cp.remove(record, volumes=opts.volumes)
    if not opts.remove_orphans and cp.orphans():
        names = ", ".join(r.name for r in cp.orphans())
        print(f"WARN[0000] Found orphan containers ([{names}]) for this project. If you "
              "removed or renamed this service in your compose file, you can run this "
              "command with the --remove-orphans flag to clean it up.",
              file=cp.progress.stream)
    _remove_networks(cp)
    if opts.volumes:
        _remove_volumes(cp)
    if opts.rmi:
        _remove_images(cp, opts.rmi)


def _remove_networks(cp: ComposeProject) -> None:
    from pyker.errors import PykerError

    names = [net.name for net in cp.project.networks if not net.external]
    if not cp.project.files:
        names = [n.name for n in cp.engine.networks.list()
                 if (n.labels or {}).get(translate.LABEL_PROJECT) == cp.project.name]
    for name in names:
        try:
            existing = cp.engine.networks.get(name)
        except PykerError:
            continue
        if (existing.labels or {}).get(translate.LABEL_PROJECT) != cp.project.name:
            continue  # not ours: Compose leaves a same-named network alone
        cp.progress.event("Network", name, "Removing")
        cp.engine.remove_network(name)
        cp.progress.event("Network", name, "Removed")


def _remove_volumes(cp: ComposeProject) -> None:
    from pyker.runtime.volumes import store_of, users

    store = store_of(cp.engine.containers_dir)
    using = users(cp.engine.containers_dir)
    present = {v.name: v for v in store.list()}
    names = [vol.name for vol in cp.project.volumes if not vol.external]
    if not cp.project.files:
        names = [v.name for v in present.values()
                 if (v.labels or {}).get(translate.LABEL_PROJECT) == cp.project.name]
    for name in names:
        found = present.get(name)
        if found is None:
            continue
        if (found.labels or {}).get(translate.LABEL_PROJECT) != cp.project.name:
            continue
        cp.progress.event("Volume", name, "Removing")
        store.remove(name, using)
        cp.progress.event("Volume", name, "Removed")


def _remove_images(cp: ComposeProject, which: str) -> None:
    """``--rmi local``: the images Compose named itself (built, no ``image:``); ``all``:
    every service's image."""
    from pyker.errors import ImageNotFound, PykerError
    from pyker.image.removal import remove

    for svc in cp.project.services:
        if which == "local" and svc.image:
            continue
        name = translate.image_name(cp.project, svc)
        try:
            cp.engine.images.resolve(name)
        except ImageNotFound:
            continue
        cp.progress.event("Image", name, "Removing")
        try:
            remove(cp.engine.images, name, cp.engine.containers_using)
        except PykerError as err:
            print(f"WARN[0000] {name}: {err}", file=cp.progress.stream)
            continue
        cp.progress.event("Image", name, "Removed")
