"""unshare(2), setns(2), sethostname(2), setdomainname(2): a process's private views of the system.

A namespace wraps one global resource so that the processes inside see their own instance:
the mount tree (``CLONE_NEWNS``), hostname and NIS domain (UTS), System V IPC and POSIX message
queues, process IDs, network stack, cgroup root, user and group IDs, and boot/monotonic clocks.
A container is mostly a process in a fresh set of them. unshare(2) moves the caller into new
namespaces; setns(2) joins an existing one through a file from ``/proc/<pid>/ns/`` (how ``exec``
enters a running container). A new PID or time namespace applies to the caller's *children*
only, and a new user namespace needs a single-threaded caller.

``CLONE_FS`` and ``CLONE_FILES`` are not namespaces but unshare(2) accepts them too: they give
the calling thread its own cwd/root/umask, or its own file descriptor table.

See namespaces(7), unshare(2), setns(2), sethostname(2), uts_namespaces(7).
"""

from __future__ import annotations

import ctypes
import enum
import functools

from pyker.kernel import _libc


class CloneFlag(enum.IntFlag):
    """``CLONE_*`` from ``<linux/sched.h>`` that unshare(2) and setns(2) take."""

    CLONE_NEWTIME = 0x00000080
    CLONE_FS = 0x00000200
    CLONE_FILES = 0x00000400
    CLONE_NEWNS = 0x00020000
    CLONE_NEWCGROUP = 0x02000000
    CLONE_NEWUTS = 0x04000000
    CLONE_NEWIPC = 0x08000000
    CLONE_NEWUSER = 0x10000000
    CLONE_NEWPID = 0x20000000
    CLONE_NEWNET = 0x40000000


@functools.cache
def _lib() -> ctypes.CDLL:
    lib = _libc.libc()
    lib.unshare.argtypes = [ctypes.c_int]
    lib.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return lib


def unshare(flags: CloneFlag) -> None:
    """Move the calling thread (process, for most namespaces) into new namespaces.

    Raises:
        OSError: named ``unshare (<flags>)``; EPERM without CAP_SYS_ADMIN, EINVAL for
            ``CLONE_NEWUSER`` in a multi-threaded process.
    """
    _libc.call(_lib().unshare, int(flags), syscall="unshare", flags=flags)


def setns(fd: int, nstype: CloneFlag = CloneFlag(0)) -> None:
    """Join the namespace that ``fd`` (an open ``/proc/<pid>/ns/<type>``) refers to.

    ``nstype`` 0 accepts any type; a flag makes the kernel check that ``fd`` is of that type.

    Raises:
        OSError: named ``setns fd <fd> (<nstype>)``.
    """
    _libc.call(_lib().setns, fd, int(nstype), syscall="setns", path=f"fd {fd}", flags=nstype)


def sethostname(name: str) -> None:
    """Set the hostname of the caller's UTS namespace (at most 64 bytes).

    Raises:
        OSError: named ``sethostname <name>``; EINVAL when too long, EPERM without
            CAP_SYS_ADMIN in the namespace's owning user namespace.
    """
    raw = name.encode()
    _libc.call(_lib().sethostname, raw, len(raw), syscall="sethostname", path=name)


def setdomainname(name: str) -> None:
    """Set the NIS domain name of the caller's UTS namespace (at most 64 bytes).

    Raises:
        OSError: named ``setdomainname <name>``.
    """
    raw = name.encode()
    _libc.call(_lib().setdomainname, raw, len(raw), syscall="setdomainname", path=name)
