"""The C library seen through ctypes, and the one way pyker turns a failed syscall into ``OSError``.

A libc wrapper returns -1 and leaves the reason in ``errno`` (errno(3)); ctypes keeps a private,
per-thread copy of it when the library is loaded with ``use_errno=True``, read back with
``ctypes.get_errno()``. A call interrupted by a signal fails with EINTR and is simply restarted
(signal(7), "Interruption of system calls"), as runc's ``retryOnEINTR`` does.

Errors are built like runc's ``mountError``: the message names the syscall, its path(s) and its
flags by their C names, e.g. ``mount overlay on /x (MS_NOSUID|MS_NODEV): No such file or
directory``. It is passed as the OSError's *strerror*, so ``OSError(errno, message)`` still
yields the errno's subclass (``FileNotFoundError``, ``PermissionError``...) and ``str(err)`` reads
``[Errno 2] mount overlay on /x ...``; ``err.syscall`` names the syscall for callers that branch
on it. ``filename`` is left unset on purpose: setting it would make ``str()`` repeat the path.

Syscalls that glibc does not wrap (pivot_root, the new mount API) go through syscall(2) with a
number from a per-architecture table, since ctypes cannot read ``<sys/syscall.h>``.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import functools
import os
import platform
from collections.abc import Callable
from os import PathLike

# Syscall numbers glibc has no wrapper for. The new mount API (429-432) comes from the unified
# table added in 5.0 for every architecture, so it is the same on both; pivot_root is not.
# Source: arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h.
_SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {"pivot_root": 155, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
               "fsmount": 432, "rt_sigaction": 13},
    "aarch64": {"pivot_root": 41, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
                "fsmount": 432, "rt_sigaction": 134},
}


@functools.cache
def libc() -> ctypes.CDLL:
    """The process's own C library (``dlopen(NULL)``), loaded on first use."""
    return ctypes.CDLL(None, use_errno=True)


def syscall_number(name: str, machine: str | None = None) -> int:
    """The number of syscall ``name`` on ``machine`` (default: this one).

    Raises:
        OSError: ENOSYS when the architecture or the syscall is not in the table, so that a
            caller with a fallback (the new mount API) takes it as "not implemented".
    """
    machine = machine or platform.machine()
    try:
        return _SYSCALL_NUMBERS[machine][name]
    except KeyError:
        known = ", ".join(sorted(_SYSCALL_NUMBERS))
        raise error(errno.ENOSYS, name,
                    path=f"(no syscall number known for machine {machine!r}; known: {known})")


def fsencode(path: str | bytes | PathLike[str] | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def flag_names(flags: int) -> str:
    """``MS_NOSUID|MS_NODEV`` for an IntFlag (unknown bits as hex), ``""`` for zero."""
    if not flags:
        return ""
    if isinstance(flags, enum.Flag):
        members = list(type(flags))  # canonical, one bit each, in value order
        names = [str(m.name) for m in members if m in flags]
        rest = int(flags) & ~sum(int(m) for m in members)
    else:
        names, rest = [], int(flags)
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def describe(syscall: str, *, path: object = None, path2: object = None, sep: str = " ",
             flags: int | None = None) -> str:
    """``<syscall> <path>[<sep><path2>] [(<flags>)]`` without the reason."""
    parts = [syscall]
    if path is not None:
        parts.append(as_text(path) + ("" if path2 is None else sep + as_text(path2)))
    elif path2 is not None:
        parts.append(as_text(path2))
    if flags:
        parts.append(f"({flag_names(flags)})")
    return " ".join(parts)


def error(err: int, syscall: str, *, path: object = None, path2: object = None,
          sep: str = " ", flags: int | None = None) -> OSError:
    """An ``OSError`` (of errno's subclass) whose message names syscall, paths and flags."""
    what = describe(syscall, path=path, path2=path2, sep=sep, flags=flags)
    exc = OSError(err, f"{what}: {os.strerror(err)}")
    exc.syscall = syscall  # type: ignore[attr-defined]
    return exc


def check(ret: int, syscall: str, *, path: object = None, path2: object = None,
          sep: str = " ", flags: int | None = None) -> int:
    """Return ``ret``, or raise the OSError for ``errno`` when it is -1."""
    if ret == -1:
        raise error(ctypes.get_errno(), syscall, path=path, path2=path2, sep=sep, flags=flags)
    return ret


def call(fn: Callable[..., int], *args: object, syscall: str, path: object = None,
         path2: object = None, sep: str = " ", flags: int | None = None) -> int:
    """Call a libc function, restart it on EINTR, and :func:`check` its result."""
    while True:
        ret = fn(*args)
        if ret != -1 or ctypes.get_errno() != errno.EINTR:
            return check(ret, syscall, path=path, path2=path2, sep=sep, flags=flags)


def raw_syscall(name: str, *args: int | bytes | None, path: object = None,
                path2: object = None, sep: str = " ", flags: int | None = None) -> int:
    """syscall(2) by name: integers go as ``long``, bytes as ``char *``, None as NULL."""
    fn = libc().syscall
    fn.restype = ctypes.c_long
    cargs = [a if a is None or isinstance(a, bytes) else ctypes.c_long(int(a)) for a in args]
    return call(fn, ctypes.c_long(syscall_number(name)), *cargs, syscall=name, path=path,
                path2=path2, sep=sep, flags=flags)


def as_text(value: object) -> str:
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return os.fspath(value) if isinstance(value, PathLike) else str(value)
