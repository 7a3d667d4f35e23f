"""mount(2), umount2(2) and pivot_root(2): attaching filesystems to the tree a process sees.

A mount attaches a filesystem (or, with ``MS_BIND``, a subtree already visible elsewhere) on a
directory of the caller's mount namespace. The ``mountflags`` argument mixes three things, which
is why runc and crun keep them apart: per-mount attributes (``MS_RDONLY``, ``MS_NOSUID``...),
operations (``MS_BIND``, ``MS_MOVE``, ``MS_REMOUNT``) and propagation types (``MS_SHARED``,
``MS_PRIVATE``, ``MS_SLAVE``, ``MS_UNBINDABLE``), the last ones only in a call of their own.
The ``data`` string is filesystem-specific (``lowerdir=...`` for overlay) and the kernel copies
at most one page of it: see :mod:`pyker.kernel.fsmount` for the API without that limit.

pivot_root(2) swaps the root mount of the namespace for ``new_root`` and moves the old one to
``put_old``; it is how a container leaves the host's filesystem behind (``chroot`` only changes a
path prefix). glibc has no wrapper for it, so it goes through syscall(2).

See mount(2), umount(2), pivot_root(2), mount_namespaces(7).
"""

from __future__ import annotations

import ctypes
import enum
import functools
from os import PathLike

from pyker.kernel import _libc

StrPath = str | PathLike[str]


class MountFlag(enum.IntFlag):
    """``MS_*`` from ``<linux/mount.h>``; named as in C so errors print ``MS_BIND|MS_REC``."""

    MS_RDONLY = 1
    MS_NOSUID = 2
    MS_NODEV = 4
    MS_NOEXEC = 8
    MS_SYNCHRONOUS = 16
    MS_REMOUNT = 32
    MS_MANDLOCK = 64
    MS_DIRSYNC = 128
    MS_NOSYMFOLLOW = 256
    MS_NOATIME = 1024
    MS_NODIRATIME = 2048
    MS_BIND = 4096
    MS_MOVE = 8192
    MS_REC = 16384
    MS_SILENT = 32768
    MS_UNBINDABLE = 1 << 17
    MS_PRIVATE = 1 << 18
    MS_SLAVE = 1 << 19
    MS_SHARED = 1 << 20
    MS_RELATIME = 1 << 21
    MS_STRICTATIME = 1 << 24
    MS_LAZYTIME = 1 << 25


#: The propagation types: mount(2) wants them alone (plus ``MS_REC``), without a source.
PROPAGATION = (MountFlag.MS_SHARED | MountFlag.MS_PRIVATE | MountFlag.MS_SLAVE
               | MountFlag.MS_UNBINDABLE)


class UmountFlag(enum.IntFlag):
    """The ``flags`` of umount2(2)."""

    MNT_FORCE = 1
    MNT_DETACH = 2
    MNT_EXPIRE = 4
    UMOUNT_NOFOLLOW = 8


@functools.cache
def _lib() -> ctypes.CDLL:
    lib = _libc.libc()
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                          ctypes.c_char_p]
    lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return lib


def mount(source: StrPath | None, target: StrPath, fstype: str | None,
          flags: MountFlag = MountFlag(0), data: str | None = None) -> None:
    """Attach ``source`` (of type ``fstype``) on ``target``, as mount(2).

    Raises:
        OSError: named ``mount <source> on <target> (<flags>)``; the data string is left out
            of the message because it can be a page long.
    """
    _libc.call(_lib().mount, _libc.fsencode(source), _libc.fsencode(target),
               None if fstype is None else fstype.encode(), int(flags),
               None if data is None else data.encode(),
               syscall="mount", path=source if source is not None else "none",
               path2=target, sep=" on ", flags=flags)


def umount2(target: StrPath, flags: UmountFlag = UmountFlag(0)) -> None:
    """Detach the mount on ``target``, as umount2(2).

    Raises:
        OSError: named ``umount2 <target> (<flags>)``; EBUSY while in use without MNT_DETACH.
    """
    _libc.call(_lib().umount2, _libc.fsencode(target), int(flags), syscall="umount2",
               path=target, flags=flags)


def pivot_root(new_root: StrPath, put_old: StrPath) -> None:
    """Make ``new_root`` the root mount and move the old root under ``put_old``.

    The kernel's conditions (pivot_root(2)): ``new_root`` is a mount point other than the
    current root, ``put_old`` is at or under it, and neither the new root's parent mount nor
    the current root is shared. ``pivot_root(".", ".")`` then ``umount2(".", MNT_DETACH)`` is
    the usual idiom that needs no ``put_old`` directory.

    Raises:
        OSError: named ``pivot_root <new_root> <put_old>``; ENOSYS on an architecture whose
            syscall number is unknown.
    """
    _libc.raw_syscall("pivot_root", _libc.fsencode(new_root), _libc.fsencode(put_old),
                      path=new_root, path2=put_old)
