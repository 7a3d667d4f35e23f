"""inotify(7): the kernel tells which files of a watched directory changed.

Only what pyker needs: a non-blocking instance, a watch per directory, and the events read so
far decoded into ``(mask, name)`` pairs. Each ``struct inotify_event`` is ``int wd; uint32_t
mask, cookie, len; char name[len]`` with ``name`` NUL-padded (inotify(7)).
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import struct

from pyker.kernel import _libc

_EVENT = struct.Struct("iIII")


class Mask(enum.IntFlag):
    """inotify event bits, from ``<sys/inotify.h>``."""

    IN_MODIFY = 0x2
    IN_ATTRIB = 0x4
    IN_CLOSE_WRITE = 0x8
    IN_MOVED_FROM = 0x40
    IN_MOVED_TO = 0x80
    IN_CREATE = 0x100
    IN_DELETE = 0x200
    IN_DELETE_SELF = 0x400
    IN_MOVE_SELF = 0x800
    IN_Q_OVERFLOW = 0x4000
    IN_IGNORED = 0x8000
    IN_ONLYDIR = 0x1000000
    IN_ISDIR = 0x40000000


IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC


def init(flags: int = IN_NONBLOCK | IN_CLOEXEC) -> int:
    """A new inotify instance: its descriptor."""
    fn = _libc.libc().inotify_init1
    fn.argtypes = [ctypes.c_int]
    return _libc.call(fn, flags, syscall="inotify_init1")


def add_watch(fd: int, path: str | os.PathLike[str], mask: Mask) -> int:
    """Watch ``path`` for ``mask``; the watch descriptor.

    Raises:
        OSError: ``inotify_add_watch <path>``; ENOSPC once ``max_user_watches`` are used.
    """
    fn = _libc.libc().inotify_add_watch
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    return _libc.call(fn, fd, os.fsencode(path), int(mask), syscall="inotify_add_watch",
                      path=path)


def read_events(fd: int) -> list[tuple[Mask, str]]:
    """Every event queued on the non-blocking ``fd``: ``(mask, name)``, name "" for the
    watched directory itself."""
    events: list[tuple[Mask, str]] = []
    while True:
        try:
            data = os.read(fd, 64 * 1024)
        except BlockingIOError:
            return events
        except OSError as err:
            if err.errno == errno.EINTR:
                continue
            raise
        if not data:
            return events
        offset = 0
        while offset + _EVENT.size <= len(data):
            _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            start = offset + _EVENT.size
            name = data[start:start + length].rstrip(b"\0")
            events.append((Mask(mask), os.fsdecode(name)))
            offset = start + length
