"""The container's filesystem view, built inside its new mount namespace (mount_namespaces(7)).

In order, as runc's rootfs_linux.go does it:

1. make every mount private, so nothing done here propagates back to the host;
2. bind the root filesystem onto itself (pivot_root(2) needs a mount point);
3. mount the spec's mounts under it: /proc, a tmpfs /dev with the default device nodes made
   by mknod(2) — in a user namespace, where mknod(2) of a device is refused, the host's
   nodes bound over empty files instead, as runc does —, /dev/pts with its own ptmx,
   /dev/shm, /dev/mqueue, a read-only /sys, and the bind mounts (/etc/hosts, /etc/hostname, /etc/resolv.conf, volumes);
4. pivot_root into it and detach the old root, which leaves the host's tree unreachable;
5. mask paths (/proc/kcore…: /dev/null or an empty read-only tmpfs bound over them) and make
   others read-only (/proc/sys…), then the whole root read-only if asked (``--read-only``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pyker.fs.safepath import resolve_in_root
from pyker.runtime.cgroupfs import mount_view
from pyker.kernel.mount import MountFlag, UmountFlag, mount, pivot_root, umount2
from pyker.kernel.mount_options import parse_options
from pyker.spec.runtime import LinuxDevice, Mount, Spec

_DEV_LINKS = (("/proc/self/fd", "dev/fd"), ("/proc/self/fd/0", "dev/stdin"),
              ("/proc/self/fd/1", "dev/stdout"), ("/proc/self/fd/2", "dev/stderr"),
              ("/proc/kcore", "dev/core"), ("pts/ptmx", "dev/ptmx"))


def _target(root: Path, destination: str) -> Path:
    """Where ``destination`` lands under ``root``, symlinks resolved *inside* the root.

    A hostile image cannot make ``/proc`` a symlink to the host's ``/etc``: the path is
    resolved as if ``root`` were ``/`` (see pyker.fs.safepath).
    """
    return resolve_in_root(root, destination)


def _ensure(path: Path, *, directory: bool) -> None:
    if path.exists() or path.is_symlink():
        return
    if directory:
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


# Flags a bind mount ignores on creation: they take effect on a remount (mount(2)).
_BIND_REMOUNT = MountFlag.MS_RDONLY | MountFlag.MS_NOSUID | MountFlag.MS_NODEV | MountFlag.MS_NOEXEC

# With the host's network (--network host), or a user namespace in a network namespace the
# host owns, sysfs cannot be mounted (only the owner of the network namespace may), so the
# host's /sys is bound read-only instead, as runc does.
_HOST_SYS = Mount(destination="/sys", type="bind", source="/sys", options=("rbind", "ro"))


def _mount_one(root: Path, m: Mount, *, has_netns: bool) -> None:
    if m.type == "cgroup":
        return  # mounted by prepare(), which knows the container's cgroup
    if m.type == "sysfs" and not has_netns:
        m = _HOST_SYS
    flags, propagation, data = parse_options(list(m.options))
    target = _target(root, m.destination)
    if flags & MountFlag.MS_BIND:
        _ensure(target, directory=Path(m.source).is_dir())
        mount(m.source, target, None, flags & ~_BIND_REMOUNT)
        if flags & _BIND_REMOUNT:
            mount(None, target, None,
                  (flags & ~MountFlag.MS_REC) | MountFlag.MS_REMOUNT | MountFlag.MS_BIND)
    else:
        _ensure(target, directory=True)
        mount(m.source or m.type, target, m.type, flags, data or None)
    if propagation:
        mount(None, target, None, propagation)


def _make_devices(root: Path, devices: tuple[LinuxDevice, ...]) -> None:
    old = os.umask(0)
    try:
        for dev in devices:
            path = _target(root, dev.path)
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[dev.type]
            mode = (dev.file_mode if dev.file_mode is not None else 0o666) & 0o7777
            try:
                os.mknod(path, kind | mode, os.makedev(dev.major, dev.minor))
            except FileExistsError:
                continue
            os.chown(path, dev.uid or 0, dev.gid or 0)
    finally:
        os.umask(old)
    _dev_links(root)


def _bind_devices(root: Path, devices: tuple[LinuxDevice, ...]) -> None:
    """The host's own nodes (``/dev/null``…) bound in: a user namespace may not mknod(2)."""
    for dev in devices:
        path = _target(root, dev.path)
        _ensure(path, directory=False)
        mount(dev.path, path, None, MountFlag.MS_BIND)
    _dev_links(root)


def _dev_links(root: Path) -> None:
    for source, link in _DEV_LINKS:
        try:
            os.symlink(source, root / link)
        except FileExistsError:
            pass


def prepare(spec: Spec, *, rootfs: Path) -> None:
    """Build the container's tree in the current (new, private) mount namespace."""
    mount(None, "/", None, MountFlag.MS_REC | MountFlag.MS_PRIVATE)
    mount(rootfs, rootfs, None, MountFlag.MS_BIND | MountFlag.MS_REC)
    # sysfs may be mounted only by the owner of the network namespace: not from inside a user
    # namespace that joined one the host made (a bridge network's, pyker.network.netns).
    userns = any(ns.type == "user" for ns in spec.linux.namespaces)
    has_netns = any(ns.type == "network" and not (ns.path and userns)
                    for ns in spec.linux.namespaces)
    for m in spec.mounts:
        _mount_one(rootfs, m, has_netns=has_netns)
    if any(ns.type == "user" for ns in spec.linux.namespaces):
        _bind_devices(rootfs, spec.linux.devices)
    else:
        _make_devices(rootfs, spec.linux.devices)


def mount_cgroups(spec: Spec, *, rootfs: Path) -> None:
    """The container's /sys/fs/cgroup, once the init is in its cgroup (and cgroup namespace)."""
    if spec.linux.cgroups_path and any(m.type == "cgroup" for m in spec.mounts):
        mount_view(_target(rootfs, "/sys/fs/cgroup"), spec.linux.cgroups_path)


def pivot(rootfs: Path) -> None:
    """Enter ``rootfs`` and drop the old root: ``pivot_root(".", ".")``, then detach it."""
    os.chdir(rootfs)
    pivot_root(".", ".")
    # The old root is now stacked under the new one at "/": make it private so detaching
    # it cannot propagate anywhere, then detach it.
    mount(None, ".", None, MountFlag.MS_REC | MountFlag.MS_SLAVE)
    umount2(".", UmountFlag.MNT_DETACH)
    os.chdir("/")


def _mask(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            mount("tmpfs", path, "tmpfs", MountFlag.MS_RDONLY, None)
        else:
            mount("/dev/null", path, None, MountFlag.MS_BIND)
    except FileNotFoundError:
        pass


def _readonly(path: str) -> None:
    try:
        mount(path, path, None, MountFlag.MS_BIND | MountFlag.MS_REC)
    except FileNotFoundError:
        return
    mount(None, path, None, MountFlag.MS_BIND | MountFlag.MS_REMOUNT | MountFlag.MS_RDONLY
          | MountFlag.MS_REC)


def finish(spec: Spec) -> None:
    """After pivot_root: masked and read-only paths, then a read-only root if asked."""
    for path in spec.linux.masked_paths:
        _mask(path)
    for path in spec.linux.readonly_paths:
        _readonly(path)
    if spec.root.readonly:
        try:
            mount(None, "/", None, MountFlag.MS_BIND | MountFlag.MS_REMOUNT | MountFlag.MS_RDONLY)
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise
