"""The new mount API: fsopen(2), fsconfig(2), fsmount(2), move_mount(2) (Linux 5.2+).

mount(2) passes a filesystem's options as one string, copied into a single page by the kernel
(silently cut at 4095 bytes): too short for an overlay of a hundred image layers with long
paths. The new API splits mounting into steps on a *filesystem context* file descriptor:

1. ``fsopen("overlay")`` creates the context;
2. ``fsconfig(fd, FSCONFIG_SET_STRING, key, value)`` sets one parameter per call (a string is
   at most 255 bytes, ``strndup_user(value, 256)`` in fs/fsopen.c, but the calls are unlimited:
   overlay's ``lowerdir+`` appends one layer per call since 6.8);
3. ``fsconfig(fd, FSCONFIG_CMD_CREATE)`` builds the superblock;
4. ``fsmount(fd)`` makes a detached mount of it, returned as a file descriptor;
5. ``move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`` attaches it.

When a step fails, the kernel writes why into the context, readable from its fd (one message
per read(2): ``e overlay: ...``): :func:`fs_messages` returns them.

See fsopen(2), fsconfig(2), fsmount(2), move_mount(2) (man-pages 6.10) and
Documentation/filesystems/mount_api.rst.
"""

from __future__ import annotations

import enum
import errno
import os
from os import PathLike

from pyker.kernel import _libc

AT_FDCWD = -100

_MAX_MESSAGES = 8

#: Longest string value fsconfig(2) accepts, in bytes, without its NUL.
FSCONFIG_MAX_STRING = 255


class FsopenFlag(enum.IntFlag):
    FSOPEN_CLOEXEC = 1


class FsmountFlag(enum.IntFlag):
    FSMOUNT_CLOEXEC = 1


class FsconfigCmd(enum.IntEnum):
    """The ``cmd`` of fsconfig(2), from ``<linux/mount.h>``."""

    FSCONFIG_SET_FLAG = 0
    FSCONFIG_SET_STRING = 1
    FSCONFIG_SET_BINARY = 2
    FSCONFIG_SET_PATH = 3
    FSCONFIG_SET_PATH_EMPTY = 4
    FSCONFIG_SET_FD = 5
    FSCONFIG_CMD_CREATE = 6
    FSCONFIG_CMD_RECONFIGURE = 7
    FSCONFIG_CMD_CREATE_EXCL = 8


class MountAttr(enum.IntFlag):
    """``MOUNT_ATTR_*``: per-mount attributes given to fsmount(2) and mount_setattr(2)."""

    MOUNT_ATTR_RDONLY = 0x1
    MOUNT_ATTR_NOSUID = 0x2
    MOUNT_ATTR_NODEV = 0x4
    MOUNT_ATTR_NOEXEC = 0x8
    MOUNT_ATTR_NOATIME = 0x10
    MOUNT_ATTR_STRICTATIME = 0x20
    MOUNT_ATTR_NODIRATIME = 0x80
    MOUNT_ATTR_IDMAP = 0x100000
    MOUNT_ATTR_NOSYMFOLLOW = 0x200000


class MoveMountFlag(enum.IntFlag):
    MOVE_MOUNT_F_SYMLINKS = 0x1
    MOVE_MOUNT_F_AUTOMOUNTS = 0x2
    MOVE_MOUNT_F_EMPTY_PATH = 0x4
    MOVE_MOUNT_T_SYMLINKS = 0x10
    MOVE_MOUNT_T_AUTOMOUNTS = 0x20
    MOVE_MOUNT_T_EMPTY_PATH = 0x40


def fsopen(fsname: str, flags: FsopenFlag = FsopenFlag.FSOPEN_CLOEXEC) -> int:
    """Open a new filesystem context for ``fsname``; return its fd.

    Raises:
        OSError: ENOSYS before 5.2 (or under a seccomp filter that hides it), ENODEV for an
            unknown filesystem type.
    """
    return _libc.raw_syscall("fsopen", fsname.encode(), int(flags), path=fsname, flags=flags)


def fsconfig(fd: int, cmd: FsconfigCmd, key: str | None = None,
             value: str | bytes | None = None, aux: int = 0) -> None:
    """Set one parameter of a filesystem context, or run a command on it.

    Raises:
        OSError: named ``fsconfig <cmd> <key>=<value>``; EINVAL for an unknown key.
    """
    what = cmd.name if key is None else f"{cmd.name} {key}"
    if value is not None:
        what += f"={_libc.as_text(value)}"
    bvalue = value.encode() if isinstance(value, str) else value
    _libc.raw_syscall("fsconfig", fd, int(cmd), _libc.fsencode(key), bvalue, aux, path=what)


def fsmount(fd: int, flags: FsmountFlag = FsmountFlag.FSMOUNT_CLOEXEC,
            attr_flags: MountAttr = MountAttr(0)) -> int:
    """Turn a created context into a detached mount; return the mount's fd.

    Raises:
        OSError: named ``fsmount fd <fd> (<flags>)``.
    """
    what = f"fd {fd}" + (f" attr {_libc.flag_names(attr_flags)}" if attr_flags else "")
    return _libc.raw_syscall("fsmount", fd, int(flags), int(attr_flags), path=what,
                             flags=flags)


def move_mount(from_dfd: int, from_path: str | PathLike[str], to_dfd: int,
               to_path: str | PathLike[str],
               flags: MoveMountFlag = MoveMountFlag(0)) -> None:
    """Attach (or move) the mount at ``from_dfd``/``from_path`` on ``to_dfd``/``to_path``.

    Raises:
        OSError: named ``move_mount <from> to <to> (<flags>)``.
    """
    source = _libc.as_text(from_path) or f"fd {from_dfd}"
    dest = _libc.as_text(to_path)
    if to_dfd != AT_FDCWD and not dest.startswith("/"):
        dest = f"fd {to_dfd}/{dest}" if dest else f"fd {to_dfd}"
    _libc.raw_syscall("move_mount", from_dfd, os.fsencode(from_path), to_dfd,
                      os.fsencode(to_path), int(flags), path=source, path2=dest, sep=" to ",
                      flags=flags)


def fs_messages(fd: int) -> list[str]:
    """Drain the messages the kernel logged in a filesystem context (``e``/``w``/``i`` lines).

    The kernel keeps the last 8 (``fc_log``); ENODATA says there are no more.
    """
    out: list[str] = []
    for _ in range(_MAX_MESSAGES):
        try:
            msg = os.read(fd, 1024)
        except OSError as err:
            if err.errno == errno.ENODATA:
                break
            raise
        out.append(msg.decode(errors="replace").rstrip("\n"))
    return out
