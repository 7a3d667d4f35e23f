"""prctl(2): per-process (mostly per-thread) switches a container runtime flips before exec.

The ones a runtime needs: ``PR_SET_NO_NEW_PRIVS`` (execve can no longer grant privileges
through setuid bits or file capabilities; required to load a seccomp filter unprivileged),
``PR_SET_DUMPABLE`` (who may ptrace or read ``/proc/<pid>/`` files of the process),
``PR_SET_PDEATHSIG`` (a signal sent when the parent *thread* dies), ``PR_SET_CHILD_SUBREAPER``
(orphaned descendants are reparented to us instead of init, so a monitor can reap the
container's processes), the capability bounding set (``PR_CAPBSET_*``), ``PR_SET_KEEPCAPS``
(keep permitted capabilities across setuid from 0) and the ambient set (``PR_CAP_AMBIENT``).

See prctl(2), capabilities(7), seccomp(2).
"""

from __future__ import annotations

import ctypes
import enum
import functools

from pyker.kernel import _libc


class PrctlOption(enum.IntEnum):
    """The ``option`` of prctl(2), from ``<linux/prctl.h>``."""

    PR_SET_PDEATHSIG = 1
    PR_GET_PDEATHSIG = 2
    PR_GET_DUMPABLE = 3
    PR_SET_DUMPABLE = 4
    PR_GET_KEEPCAPS = 7
    PR_SET_KEEPCAPS = 8
    PR_SET_NAME = 15
    PR_GET_NAME = 16
    PR_GET_SECCOMP = 21
    PR_SET_SECCOMP = 22
    PR_CAPBSET_READ = 23
    PR_CAPBSET_DROP = 24
    PR_SET_CHILD_SUBREAPER = 36
    PR_GET_CHILD_SUBREAPER = 37
    PR_SET_NO_NEW_PRIVS = 38
    PR_GET_NO_NEW_PRIVS = 39
    PR_CAP_AMBIENT = 47


class CapAmbient(enum.IntEnum):
    """The sub-operations of ``PR_CAP_AMBIENT`` (its ``arg2``)."""

    PR_CAP_AMBIENT_IS_SET = 1
    PR_CAP_AMBIENT_RAISE = 2
    PR_CAP_AMBIENT_LOWER = 3
    PR_CAP_AMBIENT_CLEAR_ALL = 4


class SeccompMode(enum.IntEnum):
    """``arg2`` of ``PR_SET_SECCOMP``; a filter's ``arg3`` is the address of a sock_fprog."""

    SECCOMP_MODE_STRICT = 1
    SECCOMP_MODE_FILTER = 2


@functools.cache
def _lib() -> ctypes.CDLL:
    lib = _libc.libc()
    lib.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    return lib


def prctl(option: PrctlOption, arg2: int = 0, arg3: int = 0, arg4: int = 0,
          arg5: int = 0) -> int:
    """Call prctl(2) and return its non-negative result (a value for the ``GET`` options).

    Raises:
        OSError: named ``prctl <OPTION> <arg2>``; EINVAL for an option the kernel lacks.
    """
    option = PrctlOption(option)
    return _libc.call(_lib().prctl, int(option), arg2, arg3, arg4, arg5, syscall="prctl",
                      path=f"{option.name} {_arg_name(option, arg2)}")


def _arg_name(option: PrctlOption, arg2: int) -> str:
    if option is PrctlOption.PR_CAP_AMBIENT and arg2 in CapAmbient._value2member_map_:
        return CapAmbient(arg2).name
    return str(arg2)


def set_no_new_privs() -> None:
    """Forbid privilege gains through execve for this thread and its descendants, for good."""
    prctl(PrctlOption.PR_SET_NO_NEW_PRIVS, 1)


def set_dumpable(dumpable: bool) -> None:
    """Allow or forbid core dumps, ptrace and ``/proc/<pid>`` access by the same user."""
    prctl(PrctlOption.PR_SET_DUMPABLE, int(dumpable))


def set_pdeathsig(sig: int) -> None:
    """Get signal ``sig`` when the parent thread exits (0 clears it; reset by a setuid exec)."""
    prctl(PrctlOption.PR_SET_PDEATHSIG, int(sig))


def set_child_subreaper(enabled: bool = True) -> None:
    """Adopt orphaned descendants instead of letting them go to the namespace's init."""
    prctl(PrctlOption.PR_SET_CHILD_SUBREAPER, int(enabled))


def set_keepcaps(keep: bool) -> None:
    """Keep the permitted capabilities when all UIDs change from 0 to non-zero."""
    prctl(PrctlOption.PR_SET_KEEPCAPS, int(keep))


def capbset_read(cap: int) -> bool:
    """Whether capability number ``cap`` is in this thread's bounding set."""
    return bool(prctl(PrctlOption.PR_CAPBSET_READ, cap))


def capbset_drop(cap: int) -> None:
    """Remove capability number ``cap`` from the bounding set (needs CAP_SETPCAP)."""
    prctl(PrctlOption.PR_CAPBSET_DROP, cap)


def set_name(name: str) -> None:
    """Set the thread's ``comm`` (as ``ps`` shows it), cut to 15 bytes by the kernel."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    prctl(PrctlOption.PR_SET_NAME, ctypes.addressof(buf))
