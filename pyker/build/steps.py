"""The build steps that change files: RUN, COPY/ADD and WORKDIR, each giving one layer.

A layer is a changeset, and overlay already computes one: mount the current image's layers
under an empty upper directory, make the change through the mount, and the upper directory
*is* the new layer (:func:`pyker.fs.layer.write_layer` spells its whiteouts the OCI way).

* **RUN** runs in a real pyker container created from the current image (its namespaces,
  capabilities and seccomp; the host's network, as Docker allows with ``--network host``,
  until pyker has its bridge — so ``apt-get install`` works), with the build args in its
  environment; the container's upper dir becomes the layer, minus the runtime's own mount
  points. The container is removed whatever happens, so a failed step leaves no container
  or mount.
* **COPY/ADD** and **WORKDIR** need no process: the image is mounted on a scratch overlay
  and the files are written into it (COPY/ADD in :mod:`pyker.build.copying`, which the
  builder reaches through the names this module re-exports).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pyker.errors import BuildError
from pyker.fs import atomic, safepath
from pyker.fs.layer import write_layer
from pyker.fs.unpack import IdShift
from pyker.image.store import Image, ImageStore
from pyker.runtime.changes import is_init_path
from pyker.runtime.container import Paths


class RunFailed(BuildError):
    """A RUN whose command exited non-zero: Docker's words, and Docker's exit status 1."""

    exit_code = 1

    def __init__(self, command: str, code: int) -> None:
        super().__init__(f"The command '{command}' returned a non-zero code: {code}")
        self.command = command
        self.code = code


# -- a scratch overlay of the current image -------------------------------------------------

@contextmanager
def mounted(store: ImageStore, image: Image | None) -> Iterator[Paths]:
    """The image mounted read-write on a throwaway overlay under the store's tmp dir.

    Yields the :class:`Paths` (``rootfs`` is the mount, ``upper`` the changes); on exit the
    overlay is unmounted, and the directory removed unless the caller took the upper.
    """
    from pyker.fs.overlay import mount_overlay, umount

    store.create()
    root = Path(tempfile.mkdtemp(prefix=atomic.temp_prefix() + "build-", dir=store.tmp_dir))
    paths = Paths(root=root)
    try:
        for d in (paths.upper, paths.work, paths.rootfs):
            d.mkdir()
        lowers = store.lower_dirs(image, root) if image else []
        if not lowers:  # scratch: an empty lower, as for an image without layers
            (root / "empty").mkdir()
            lowers = [root / "empty"]
        # Volatile: the upper is packed then deleted, its unmount need not sync the disk.
        mount_overlay(lowers, paths.upper, paths.work, paths.rootfs, volatile=True)
        try:
            yield paths
        finally:
            while os.path.ismount(paths.rootfs):
                umount(paths.rootfs, detach=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def unmount(paths: Paths) -> None:
    """Unmount early, so that the upper dir is packed with nothing writing to it."""
    from pyker.fs.overlay import umount

    while os.path.ismount(paths.rootfs):
        umount(paths.rootfs, detach=True)


def pack_upper(upper: Path, spool: BinaryIO, *, container: bool,
               shift: IdShift | None = None) -> None:
    """The upper dir as a layer tar into ``spool`` (rewound); a container's mount points
    (/etc/hosts, /dev…) are the runtime's, not the step's, and are left out. ``shift``: a
    remapped store's owners go back to container ids."""
    write_layer(upper, spool, root_is_upper=True, exclude=is_init_path if container else None,
                shift=shift)
    spool.seek(0)


def has_changes(upper: Path) -> bool:
    return any(upper.iterdir())


# -- RUN -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    argv: tuple[str, ...]
    shown: str                  # the command as the failure message shows it
    env: tuple[str, ...]        # build args as NAME=value (the image's env comes by itself)
    user: str = ""
    workdir: str = ""
    network: str = "host"       # "host" or "none"


def run_in_container(engine, image: Image, request: RunRequest, spool: BinaryIO,
                     *, on_start, on_remove) -> None:
    """Run ``request`` in a container of ``image``; its changes as a layer into ``spool``.

    ``on_start(container_id)`` is called before the command runs, ``on_remove(id)`` once
    the container is gone (the output's ``Running in`` / ``Removing intermediate``).

    Raises:
        RunFailed: the command exited non-zero (nothing is left behind).
        ExecError: the command could not be run (not found, not executable).
    """
    from pyker.runtime.container import create, remove
    from pyker.runtime.launch import Attach, start
    from pyker.runtime.options import RunOptions

    opts = RunOptions(image=image.id, command=request.argv, entrypoint=(), env=request.env,
                      user=request.user, workdir=request.workdir, network=request.network)
    record = create(engine.containers, image, opts)
    try:
        on_start(record.id)
        code = start(engine.images, engine.containers, record,
                     attach=Attach(foreground=True, interactive=False),
                     run_root=engine.config.run_root)
        if code != 0:
            raise RunFailed(request.shown, code)
        pack_upper(Paths(root=engine.containers.dir(record.id)).upper, spool, container=True,
                   shift=engine.images.shift)
    finally:
        remove(engine.containers, engine.containers.load(record.id), force=True)
        on_remove(record.id)


# -- WORKDIR -------------------------------------------------------------------------------

def make_dirs(rootfs: Path, path: str) -> bool:
    """WORKDIR: create ``path`` in the image if missing; whether it had to be created."""
    if safepath.resolve_in_root(rootfs, path).is_dir():
        return False
    parts = safepath.resolve_in_root(rootfs, path).relative_to(rootfs).parts
    root_fd = safepath.open_root(rootfs)
    try:
        os.close(safepath.open_dir(root_fd, tuple(parts), create=True))
    except OSError as err:
        raise BuildError(f"WORKDIR {path}: cannot create it: {err.strerror}") from err
    finally:
        os.close(root_fd)
    return True
