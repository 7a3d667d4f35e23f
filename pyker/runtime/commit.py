"""``pyker commit``: a container's upper directory becomes the top layer of a new image.

The upper dir already is the changeset (see :mod:`pyker.fs.whiteout`): it is written as an
OCI layer tar, its own mount points left out (Docker's init layer), and stacked on the
container's image. The new config is the one Docker writes (moby ``daemon/commit.go``): the
``--change`` instructions first, then every field they leave unset taken from the
*container's* config, that is the image's config as ``run`` overrode it (``-e``, ``-w``,
``-u``, ``--entrypoint``, the command). One rule of that merge matters: an ``ENTRYPOINT``
change drops the container's command, as ``--entrypoint`` does at run time.

A running container is committed as its upper dir stands (Docker pauses it first; pyker
does not freeze it yet, so a file being written during the commit may be caught half way).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace

from pyker.fs.layer import write_layer
from pyker.image.reference import Reference
from pyker.image.store import Image, ImageStore, now_rfc3339
from pyker.runtime.changes import diff, is_init_path
from pyker.runtime.container import Paths
from pyker.runtime.options import RunOptions
from pyker.runtime.state import ContainerStore, Record
from pyker.spec.image import ContainerConfig, HistoryEntry


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitRequest:
    changes: ContainerConfig = ContainerConfig()  # -c, applied to an empty config
    comment: str = ""               # -m
    author: str = ""                # -a
    tags: tuple[Reference, ...] = ()


def _merge_env(first: tuple[str, ...], then: tuple[str, ...]) -> tuple[str, ...]:
    keys = {e.partition("=")[0] for e in first}
    return (*first, *(e for e in then if e.partition("=")[0] not in keys))


def container_config(image: ContainerConfig, opts: RunOptions) -> ContainerConfig:
    """The container's config: the image's, overridden by the run line (Docker's Config)."""
    if opts.entrypoint is not None:
        entrypoint = tuple(opts.entrypoint) or None
        cmd = tuple(opts.command) or None  # --entrypoint drops the image's CMD
    else:
        entrypoint, cmd = image.entrypoint, tuple(opts.command) or image.cmd
    env = list(image.env)
    for item in opts.env:
        key = item.partition("=")[0]
        env = [e for e in env if e.partition("=")[0] != key] + [item]
    return replace(image, entrypoint=entrypoint, cmd=cmd, env=tuple(env),
                   working_dir=opts.workdir or image.working_dir, user=opts.user or image.user,
                   labels={**image.labels, **opts.labels})


def merge(user: ContainerConfig, base: ContainerConfig) -> ContainerConfig:
    """Docker's ``merge(userConf, imageConf)``: what ``-c`` set wins, the rest comes from base."""
    entrypoint, cmd = user.entrypoint, user.cmd
    if not user.entrypoint:
        if not user.cmd:
            cmd = base.cmd
        if user.entrypoint is None:
            entrypoint = base.entrypoint
    return replace(
        user, entrypoint=entrypoint, cmd=cmd, env=_merge_env(user.env, base.env),
        user=user.user or base.user, working_dir=user.working_dir or base.working_dir,
        labels={**base.labels, **user.labels}, stop_signal=user.stop_signal or base.stop_signal,
        exposed_ports=tuple(sorted(set(base.exposed_ports) | set(user.exposed_ports))),
        volumes=tuple(sorted(set(base.volumes) | set(user.volumes))),
        on_build=user.on_build or base.on_build,
        healthcheck=user.healthcheck or base.healthcheck,
        shell=user.shell if user.shell is not None else base.shell)


def commit(images: ImageStore, containers: ContainerStore, record: Record,
           request: CommitRequest) -> Image:
    """Write the container's changes as a layer and its config as a new image.

    Raises:
        ImageNotFound: the container's image was removed since (``rmi -f``).
        ArchiveError: the upper dir holds what a layer cannot carry (a device node).
    """
    wanted = request.changes
    parent = images.get(record.image_id)
    base = container_config(parent.config.config, RunOptions.from_dict(record.options))
    config = merge(wanted, base)
    paths = Paths(root=containers.dir(record.id))
    lowers = [layer.path for layer in reversed(images.layers_of(parent))]
    empty = not diff(paths.upper, lowers)
    created = now_rfc3339()
    step = HistoryEntry(created=created, created_by=" ".join(base.cmd or ()),
                        author=request.author, comment=request.comment, empty_layer=empty)
    image_config = replace(parent.config, config=config, created=created, author=request.author,
                           history=(*parent.config.history, step))
    images.create()
    with tempfile.TemporaryFile(dir=images.tmp_dir) as spool:
        if not empty:
            # Spooled outside the lock: walking a large upper dir must not stall other writers.
            write_layer(paths.upper, spool, root_is_upper=True, exclude=is_init_path,
                        shift=images.shift)
            spool.seek(0)
        with images.locked():
            layers = list(parent.manifest.layers)
            if not empty:
                desc, layer = images.add_layer(spool, name=f"container {record.id[:12]}")
                layers.append(desc)
                image_config = replace(image_config,
                                       diff_ids=(*parent.config.diff_ids, layer.diff_id))
            return images.commit(image_config, layers, tags=list(request.tags),
                                 parent=parent.id)
