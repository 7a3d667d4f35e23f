"""A container's volumes: made at create time, bind-mounted at each start (as dockerd does).

At ``create`` (:func:`resolve`), under the volumes lock, the container's requests become its
mount list, stored in its record: ``--volumes-from`` copies another container's volume and
bind mounts (its ``:ro``/``:rw`` overriding theirs), each ``VOLUME`` of the image that no
mount covers gets an anonymous volume, named volumes are created when missing, and ``-v``
makes a missing host directory. Every check runs before the first creation, so a refused
request leaves nothing behind. The container record is written under the same lock, so
``volume rm`` sees the new user or the volume is gone first.

At each start (:func:`oci_mounts`) the list becomes OCI mounts the init performs inside the
container's mount namespace (pyker.runtime.rootfs): ``rbind`` of the volume's ``_data`` or the
host path, ``ro`` as a remount, tmpfs with ``nosuid,nodev,noexec``. As they live in that
namespace only, they go with it: nothing is mounted on the host side. An empty volume first
receives the image's content at its target (Docker's copy-up, skipped with ``nocopy``).
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
from dataclasses import replace
from pathlib import Path

from pyker.errors import PykerError, UsageError, VolumeInUse
from pyker.fs.safepath import resolve_in_root
from pyker.runtime.state import container_files
from pyker.spec.runtime import Mount
from pyker.volume.mountspec import (
    TMPFS_DEFAULTS, MountSpec, check_unique, parse_volumes_from, with_readonly,
)
from pyker.volume.store import Users, VolumeStore


def store_of(containers_root: Path) -> VolumeStore:
    """The volume store beside ``<data-root>/containers``."""
    return VolumeStore(containers_root.parent)


def mounts_of(options: dict[str, object]) -> tuple[MountSpec, ...]:
    """The resolved mounts in a container record's options."""
    return tuple(MountSpec.from_dict(m) for m in options.get("mounts", ()) or ())


def users(containers_root: Path) -> Users:
    """A function: volume name → ids of the containers (running or not) that mount it."""
    def using(name: str) -> list[str]:
        found = []
        if not containers_root.is_dir():
            return found
        for path in container_files(containers_root):
            try:
                options = json.loads(path.read_bytes()).get("options", {})
            except (OSError, ValueError):
                continue  # a record being written or removed right now
            if any(m.get("type") == "volume" and m.get("source") == name
                   for m in options.get("mounts", ()) or ()):
                found.append(path.parent.name)
        return sorted(found)
    return using


def _from_containers(containers, refs: tuple[str, ...]) -> list[MountSpec]:
    shared: list[MountSpec] = []
    for raw in refs:
        ref, mode = parse_volumes_from(raw)
        record = containers.resolve(ref)  # ContainerNotFound: "No such container"
        shared += [with_readonly(m, mode) for m in mounts_of(record.options)
                   if m.type != "tmpfs"]
    return shared


def plan(containers, image_volumes: tuple[str, ...], mounts: tuple[MountSpec, ...],
         volumes_from: tuple[str, ...]) -> tuple[MountSpec, ...]:
    """The container's mounts, checked, before anything is created: the user's first, then
    those of ``--volumes-from`` and the image's ``VOLUME`` paths they leave uncovered.

    Raises:
        UsageError: a duplicate target, a ``--mount`` bind source that does not exist.
        ContainerNotFound: a ``--volumes-from`` container.
    """
    check_unique(mounts)
    taken = {m.target for m in mounts}
    out = list(mounts)
    for m in _from_containers(containers, volumes_from):
        if m.target not in taken:
            out.append(m)
            taken.add(m.target)
    for path in sorted(image_volumes):
        target = posixpath.normpath("/" + path.lstrip("/"))
        if target not in taken and target != "/":
            out.append(MountSpec(type="volume", target=target, anonymous=True))
            taken.add(target)
    for m in out:
        if m.type == "bind" and not m.create_source and not os.path.exists(m.source):
            raise UsageError(f'invalid mount config for type "bind": bind source path does '
                             f"not exist: {m.source}")
    return tuple(out)


def resolve(volumes: VolumeStore, mounts: tuple[MountSpec, ...]) -> tuple[
        tuple[MountSpec, ...], list[str]]:
    """Create what :func:`plan` asks (call under ``volumes.locked()``): the mounts with every
    volume named, and the names of the volumes made now (to undo on a later failure)."""
    made: list[str] = []
    out = []
    try:
        for m in mounts:
            if m.type == "volume":
                fresh = not m.source or not (volumes.dir / m.source).exists()
                labels = dict(label.partition("=")[::2] for label in m.labels)
                volume = volumes.create(m.source, labels=labels, anonymous=not m.source)
                if fresh:
                    made.append(volume.name)
                m = replace(m, source=volume.name, anonymous=m.anonymous or not m.source,
                            labels=())
            elif m.type == "bind" and m.create_source and not os.path.exists(m.source):
                os.makedirs(m.source, mode=0o755, exist_ok=True)
            out.append(m)
    except BaseException:
        undo(volumes, made)
        raise
    return tuple(out), made


def undo(volumes: VolumeStore, names: list[str]) -> None:
    """Remove volumes made for a container whose creation failed (no user yet)."""
    for name in names:
        try:
            volumes._remove(name, lambda _name: [], force=True)
        except OSError:
            pass


def remove_anonymous(containers_root: Path, options: dict[str, object]) -> list[str]:
    """``rm -v``: the container's anonymous volumes that no other container uses."""
    store, using, removed = store_of(containers_root), users(containers_root), []
    for m in mounts_of(options):
        if m.type == "volume" and m.anonymous:
            try:
                store.remove(m.source, using, force=True)
                removed.append(m.source)
            except VolumeInUse:
                continue  # shared through --volumes-from: Docker keeps it too
    return removed


def copy_up(rootfs: Path, target: str, data: Path) -> None:
    """An empty volume receives the image's content at ``target`` (owner and mode of the
    directory too), followed *inside* the rootfs: an image's symlink cannot lead to the
    host's files. ``cp -a`` keeps owners, modes, links, xattrs and device nodes."""
    source = resolve_in_root(rootfs, target)
    if not source.is_dir() or any(data.iterdir()):
        return
    st = source.stat()
    os.chown(data, st.st_uid, st.st_gid)
    os.chmod(data, st.st_mode & 0o7777)
    if not any(source.iterdir()):
        return
    done = subprocess.run(["cp", "-a", "--", f"{source}/.", f"{data}/"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise PykerError(f"copy of {target} from the image into volume {data.parent.name}: "
                         f"{done.stderr.strip()}")


def oci_mounts(containers_root: Path, mounts: tuple[MountSpec, ...],
               rootfs: Path) -> tuple[Mount, ...]:
    """The OCI mounts of one start, parents before children (Docker sorts by depth)."""
    store = store_of(containers_root)
    out = []
    for m in sorted(mounts, key=lambda m: m.target.count("/")):
        ro = ("ro",) if m.readonly else ()
        if m.type == "tmpfs":
            out.append(Mount(destination=m.target, type="tmpfs", source="tmpfs",
                             options=(*TMPFS_DEFAULTS, *m.options, *ro)))
        elif m.type == "bind":
            out.append(Mount(destination=m.target, type="bind", source=m.source,
                             options=("rbind", m.propagation or "rprivate", *ro)))
        else:
            data = store.data_dir(m.source)
            if not data.is_dir():
                raise PykerError(f"get {m.source}: no such volume (mounted at {m.target})")
            if not m.nocopy:
                copy_up(rootfs, m.target, data)
            out.append(Mount(destination=m.target, type="bind", source=str(data),
                             options=("rbind", "rprivate", *ro)))
    return tuple(out)


def inspect_mounts(containers_root: Path, options: dict[str, object]) -> list[dict]:
    """``Mounts`` of ``docker container inspect``."""
    store, out = store_of(containers_root), []
    for m in mounts_of(options):
        doc: dict[str, object] = {"Type": m.type}
        if m.type == "volume":
            doc.update(Name=m.source, Source=str(store.data_dir(m.source)),
                       Destination=m.target, Driver="local", Mode=m.mode,
                       RW=not m.readonly, Propagation="")
        else:
            doc.update(Source=m.source if m.type == "bind" else "", Destination=m.target,
                       Mode=m.mode, RW=not m.readonly,
                       Propagation=m.propagation if m.type == "bind" else "")
        out.append(doc)
    return out
