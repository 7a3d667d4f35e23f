"""Container lifecycle: create, start (foreground or detached), stop, kill, remove, wait.

``create`` writes the record and the container's directories; ``start`` mounts its root
filesystem (the image's layers under its own upper dir), writes the OCI spec of this start
and forks the monitor that owns the container until it ends. Everything else acts on the
record and on the processes it names, re-checked against the process table.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path

from pyker.errors import ContainerNotFound, ContainerStateError, PykerError
from pyker.image.store import Image, ImageStore, now_rfc3339
from pyker.runtime.options import RunOptions
from pyker.runtime.state import ContainerStore, Record, State, alive, new_id

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


@dataclass(frozen=True, slots=True, kw_only=True)
class Paths:
    root: Path            # <data-root>/containers/<id>

    @property
    def upper(self) -> Path:
        return self.root / "upper"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def rootfs(self) -> Path:
        return self.root / "merged"

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def log(self) -> Path:
        return self.root / f"{self.root.name}-json.log"

    @property
    def volatile_boot(self) -> Path:
        """The boot the rootfs was last mounted volatile in (its ``boot_id``)."""
        return self.root / "volatile-boot"


def _check_name(name: str, store: ContainerStore) -> None:
    if not name:
        return
    if not set(name) <= NAME_CHARS or not name[0].isalnum():
        raise PykerError(f'Invalid container name ("{name}"), only [a-zA-Z0-9][a-zA-Z0-9_.-] '
                         "are allowed")
    for other in store.all():
        if other.name == name:
            raise ContainerStateError(
                f'Conflict. The container name "/{name}" is already in use by container '
                f'"{other.id}". You have to remove (or rename) that container to be able to '
                "reuse that name.")


def _default_name(container_id: str) -> str:
    # Docker draws "adjective_scientist"; a short, readable, unique name serves the same use.
    return f"pyker_{container_id[:8]}"


def _network_files(hostname: str, *, host: bool, added: str) -> tuple[str, str]:
    """/etc/hosts and /etc/resolv.conf for the container, bound in at each start (a bridge
    network rewrites them then: pyker.runtime.network_bridge). ``added``: the ``--add-host``
    lines.

    With the host's network the container resolves names as the host does (Docker copies
    the host's files, the added names after them); in a network namespace of its own with
    only ``lo`` there is no resolver to name yet, so resolv.conf stays empty.
    """
    hosts = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             f"{added}127.0.1.1\t{hostname}\n")
    resolv = ""
    if host:
        for name in ("hosts", "resolv.conf"):
            try:
                text = Path("/etc", name).read_text()
            except OSError:
                continue
            if name == "hosts":
                hosts = (text if not text or text.endswith("\n") else text + "\n") + added
            else:
                resolv = text
    return hosts, resolv


def create(store: ContainerStore, image: Image, opts: RunOptions) -> Record:
    """A new container's record and directories; its volumes made first (when it has any),
    with the record written under the volumes lock (see pyker.runtime.volumes)."""
    from pyker.runtime.specgen import command
    from pyker.security import capabilities

    _check_name(opts.name, store)
    # Docker refuses an unknown capability or stop signal at create, not at a later start.
    capabilities.resolve(opts.cap_add, opts.cap_drop, privileged=opts.privileged)
    if not opts.stop_signal and image.config.config.stop_signal:
        opts = replace(opts, stop_signal=image.config.config.stop_signal)
    if opts.stop_signal:
        from pyker.runtime.options import signal_number

        signal_number(opts.stop_signal)
    args = command(opts, image)
    if not (opts.mounts or opts.volumes_from or image.config.config.volumes):
        return _create(store, image, opts, args)
    from pyker.runtime import volumes

    planned = volumes.plan(store, image.config.config.volumes, opts.mounts, opts.volumes_from)
    vstore = volumes.store_of(store.root)
    with vstore.locked():
        mounts, made = volumes.resolve(vstore, planned)
        try:
            return _create(store, image, replace(opts, mounts=mounts), args)
        except BaseException:
            volumes.undo(vstore, made)
            raise


def _create(store: ContainerStore, image: Image, opts: RunOptions,
            args: tuple[str, ...]) -> Record:
    container_id = new_id()
    hostname = opts.hostname or container_id[:12]
    added = ""
    if opts.network in ("none", "host") and opts.add_hosts:
        from pyker.network.resolvconf import added_hosts

        added = added_hosts(opts.add_hosts)  # host-gateway fails here, before any write
    hosts, resolv = _network_files(hostname, host=opts.network == "host", added=added)
    paths = Paths(root=store.dir(container_id))
    for d in (paths.upper, paths.work, paths.rootfs, paths.bundle):
        d.mkdir(parents=True)
    (paths.root / "hostname").write_text(hostname + "\n")
    (paths.root / "hosts").write_text(hosts)
    (paths.root / "resolv.conf").write_text(resolv)
    record = Record(id=container_id, name=opts.name or _default_name(container_id),
                    image_id=image.id, image_ref=opts.image, created=now_rfc3339(),
                    path=args[0], args=args[1:], options=opts.to_dict(), state=State())
    # A --rm container does not outlive a crash of the host (Docker's daemon removes those
    # at its next start; its overlay is volatile here): its record needs no fsync (two cost
    # ~1.5 ms of each `run --rm`). A record a crash left empty is skipped by every reader.
    store.save(record, durable=not opts.auto_remove)
    from pyker import events

    events.container(store.root.parent, "create", record)
    return record


def mount_rootfs(images: ImageStore, image: Image, paths: Paths, *,
                 volatile: bool = False) -> None:
    """The container's overlay on ``paths.rootfs``; ``volatile`` for a ``--rm`` container,
    whose changes are deleted with it: its unmount then skips the sync of the host's disk
    (Podman mounts ``--rm`` containers so too)."""
    from pyker.fs.overlay import mount_overlay

    if os.path.ismount(paths.rootfs):
        return
    lowers = images.lower_dirs(image, paths.root)
    if not lowers:  # an image with no layer (scratch + metadata): an empty lower dir
        empty = paths.root / "empty"
        empty.mkdir(exist_ok=True)
        lowers = [empty]
    _forget_volatile(paths)
    mount_overlay(lowers, paths.upper, paths.work, paths.rootfs, volatile=volatile)
    if volatile:
        paths.volatile_boot.write_text(BOOT_ID.read_text())


def _forget_volatile(paths: Paths) -> None:
    """Let the kernel mount the overlay again after a volatile mount of the same boot.

    The mark it left refuses any new mount, since a crash may have lost upper writes; in the
    same boot nothing was lost (the page cache holds them), so the mark may go. After a
    restart, the changes may be gone: say so rather than run on a damaged filesystem.
    """
    from pyker.fs.overlay import volatile_marker

    marker = volatile_marker(paths.work)
    if not marker.exists():
        return
    try:
        same_boot = paths.volatile_boot.read_text() == BOOT_ID.read_text()
    except OSError:
        same_boot = False
    if not same_boot:
        raise PykerError(f"container {paths.root.name[:12]}: its filesystem was mounted "
                         "without sync (--rm) and the host restarted since, so its changes "
                         "may be lost: remove the container")
    shutil.rmtree(marker)


def unmount_rootfs(paths: Paths) -> None:
    from pyker.fs.overlay import umount

    while os.path.ismount(paths.rootfs):
        umount(paths.rootfs, detach=True)


def signal_container(store: ContainerStore, record: Record, sig: int) -> None:
    """Send ``sig`` to the container's init; a paused one is thawed after, as runc does, for
    a frozen task acts on no signal (SIGKILL included) until it is thawed."""
    s = record.state
    if s.status not in ("running", "paused", "restarting") or not alive(s.pid, s.pid_start):
        raise ContainerStateError(f"container {record.id[:12]} is not running")
    from pyker import events

    # Before the signal: a SIGKILL'd init's monitor records "die" at once.
    events.container(store.root.parent, "kill", record, signal=str(int(sig)))
    os.kill(s.pid, sig)
    if s.status == "paused":
        from pyker.runtime.stats import thaw_if_paused

        thaw_if_paused(store, record)


def kill(store: ContainerStore, record: Record, sig: int) -> None:
    """``pyker kill``: the signal, and the container counts as stopped by hand, as Docker's
    kill does: its restart policy waits for the next start."""
    if record.state.status in ("running", "paused", "restarting"):
        store.update_options(record.id, lambda options: {**options, "stop_requested": True})
    signal_container(store, record, sig)


def wait_monitor_gone(record: Record, timeout: float = 10) -> None:
    """Wait for the monitor to finish its own cleanup before the directory goes away."""
    deadline = time.monotonic() + timeout
    s = record.state
    if s.monitor_pid == os.getpid():  # --rm: the monitor removes its own container
        return
    while alive(s.monitor_pid, s.monitor_start) and time.monotonic() < deadline:
        time.sleep(0.01)


def wait_stopped(store: ContainerStore, container_id: str, timeout: float | None) -> Record:
    """Poll until the container is neither running nor restarting (or the timeout ends)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        record = store.load(container_id)
        if record.state.status not in ("running", "paused", "restarting"):
            return record
        if deadline is not None and time.monotonic() >= deadline:
            return record
        time.sleep(0.02)


def _stopped(store: ContainerStore, record: Record, timeout: float) -> Record:
    """:func:`wait_stopped`; a ``--rm`` container its monitor removed between two looks
    stopped too (Docker's stop of an auto-removed container succeeds)."""
    try:
        return wait_stopped(store, record.id, timeout)
    except ContainerNotFound:
        if not record.options.get("auto_remove"):
            raise
        return replace(record, state=replace(record.state, status="exited", pid=0))


def stop(store: ContainerStore, record: Record, *, timeout: float | None = None,
         stop_signal: int | None = None, restarting: bool = False) -> Record:
    """Docker's stop: the stop signal, ``timeout`` seconds of grace, then SIGKILL. Unless
    given, both are the container's (--stop-signal or the image's STOPSIGNAL, and
    --stop-timeout), else SIGTERM and 10 s. ``restarting``: the stop of a ``restart``,
    after which a ``--rm`` container stays to be started again (Docker's
    HasBeenManuallyRestarted)."""
    if record.state.status not in ("running", "paused", "restarting"):
        return record
    if stop_signal is None:
        from pyker.runtime.options import signal_number

        own = record.options.get("stop_signal")
        stop_signal = signal_number(own) if own else signal.SIGTERM
    if timeout is None:
        own_timeout = record.options.get("stop_timeout")
        timeout = 10 if own_timeout is None else own_timeout
    store.update_options(record.id, lambda options: {
        **options, "stop_requested": True, **({"restart_requested": True}
                                                if restarting else {})})
    try:
        signal_container(store, record, stop_signal)
    except (ContainerStateError, ProcessLookupError):
        return _stopped(store, record, 5)
    done = _stopped(store, record, timeout)
    if done.state.status in ("running", "paused", "restarting"):
        try:
            signal_container(store, done, signal.SIGKILL)
        except (ContainerStateError, ProcessLookupError):
            pass
        done = _stopped(store, record, 10)
    # As Docker's stop, return once the container is cleaned up (its network released: a
    # `network rm` may follow); its "stop" event then comes after "network disconnect".
    wait_monitor_gone(done)
    from pyker import events

    events.container(store.root.parent, "stop", done)
    return done


def remove(store: ContainerStore, record: Record, *, force: bool = False,
           volumes: bool = False, released: bool = False) -> Path | None:
    """Remove the container (``force``: kill it first); ``volumes`` (``rm -v``): its
    anonymous volumes too, once no other container uses them.

    The container's directory leaves the store in one rename(2) (a ``.tmp-<pid>-`` name
    that no listing reads and that :func:`pyker.fs.atomic.sweep_temporaries` deletes once
    its remover is dead), then its files are deleted. ``released``: the caller is its
    monitor, which has just unmounted its root and removed its cgroup and network; the
    files are left to it (the returned directory), to delete once its CLI has the exit code.
    """
    if record.state.status in ("running", "paused", "restarting"):
        if not force:
            raise ContainerStateError(
                f"cannot remove container {record.id[:12]}: container is running: "
                "stop the container before removing or force remove")
        try:
            signal_container(store, record, signal.SIGKILL)
        except (ContainerStateError, ProcessLookupError):
            pass
        if record.options.get("auto_remove") and _removed_by_monitor(store, record.id, 10):
            return  # --rm: its monitor removed it (and its anonymous volumes) on exit
        try:
            wait_stopped(store, record.id, 10)
        except ContainerNotFound:
            return
    try:
        wait_monitor_gone(store.load_raw(record.id))
    except ContainerNotFound:  # a --rm container's monitor was quicker
        return
    paths = Paths(root=store.dir(record.id))
    if not released:
        from pyker.runtime.cgroup_bridge import destroy_cgroup

        unmount_rootfs(paths)
        destroy_cgroup(record.id)
        from pyker.runtime import network_bridge

        if network_bridge.settings(paths.root) is not None:  # its monitor died before cleaning
            network_bridge.teardown(network_bridge.Context(containers=store, run_root=None),
                                    record.id, paths.root)
    from pyker.fs import atomic

    atomic.sweep_temporaries(store.root)  # what removers killed midway left
    trash = store.root / f"{atomic.temp_prefix()}{record.id}"
    try:
        os.rename(paths.root, trash)
    except FileNotFoundError:  # another remover was quicker: the removal is its to finish
        return None
    from pyker import events

    events.container(store.root.parent, "destroy", record)
    if volumes:
        from pyker.runtime.volumes import remove_anonymous

        remove_anonymous(store.root, record.options)
    if released:
        return trash
    shutil.rmtree(trash)
    return None


def _removed_by_monitor(store: ContainerStore, container_id: str, timeout: float) -> bool:
    """Whether a --rm container's directory went within ``timeout``: its monitor removes
    it once it has exited, and a second remover here would race it for the same files."""
    deadline = time.monotonic() + timeout
    while store.dir(container_id).exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
