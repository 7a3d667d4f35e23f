"""seccomp(2): load a classic BPF program that filters the calling thread's system calls.

On every syscall the kernel runs the filter over a ``struct seccomp_data`` (``<linux/seccomp.h>``)
and obeys the 32-bit value it returns: the action in the high 16 bits (``SECCOMP_RET_ALLOW``,
``SECCOMP_RET_ERRNO``...), data in the low 16 (the errno to fail with)::

    struct seccomp_data {
        int   nr;                    /* offset 0: syscall number, per architecture */
        __u32 arch;                  /* offset 4: AUDIT_ARCH_* of the calling ABI */
        __u64 instruction_pointer;   /* offset 8 */
        __u64 args[6];               /* offset 16 + 8*i, native byte order */
    };

The program is an array of ``struct sock_filter`` passed through a ``struct sock_fprog``
(``<linux/filter.h>``)::

    struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; };
    struct sock_fprog  { unsigned short len; struct sock_filter *filter; };

Filters stack and cannot be removed; they survive fork and execve. Loading one requires
either CAP_SYS_ADMIN or the no_new_privs bit (prctl(PR_SET_NO_NEW_PRIVS)): otherwise a
filter could trick a setuid program into misbehaving. The *caller* sets no_new_privs (or
keeps CAP_SYS_ADMIN); this wrapper holds no policy.

See seccomp(2), prctl(2) (``PR_SET_SECCOMP``), ``Documentation/userspace-api/seccomp_filter.rst``.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import platform

from pyker.kernel import _libc
from pyker.kernel.prctl import PrctlOption, SeccompMode, prctl

# seccomp(2) appeared in 3.17, after glibc stopped adding wrappers: it goes through syscall(2).
# Source: arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h.
SECCOMP_SYSCALL_NUMBERS = {"x86_64": 317, "aarch64": 277}

SECCOMP_SET_MODE_STRICT = 0
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3

SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
BPF_MAXINSNS = 4096


class SeccompRet(enum.IntEnum):
    """The actions a filter returns, most restrictive first (the kernel keeps the lowest)."""

    SECCOMP_RET_KILL_PROCESS = 0x80000000
    SECCOMP_RET_KILL_THREAD = 0x00000000
    SECCOMP_RET_TRAP = 0x00030000
    SECCOMP_RET_ERRNO = 0x00050000
    SECCOMP_RET_USER_NOTIF = 0x7FC00000
    SECCOMP_RET_TRACE = 0x7FF00000
    SECCOMP_RET_LOG = 0x7FFC0000
    SECCOMP_RET_ALLOW = 0x7FFF0000


class SeccompFilterFlag(enum.IntFlag):
    """``flags`` of ``SECCOMP_SET_MODE_FILTER``."""

    SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
    SECCOMP_FILTER_FLAG_LOG = 1 << 1
    SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
    SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
    SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5


class AuditArch(enum.IntEnum):
    """``seccomp_data.arch``: the ABI of the call (``<linux/audit.h>``).

    x32 has no value of its own: it is ``AUDIT_ARCH_X86_64`` with bit 30 set in the number.
    """

    AUDIT_ARCH_I386 = 0x40000003
    AUDIT_ARCH_X86_64 = 0xC000003E
    AUDIT_ARCH_ARM = 0x40000028
    AUDIT_ARCH_AARCH64 = 0xC00000B7


X32_SYSCALL_BIT = 0x40000000


class SockFprog(ctypes.Structure):
    """``struct sock_fprog``; ``filter`` points at ``len`` 8-byte ``struct sock_filter``."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_set_mode_filter(program: bytes,
                            flags: SeccompFilterFlag = SeccompFilterFlag(0)) -> None:
    """Load ``program`` (assembled ``struct sock_filter``s) as a filter of the calling thread.

    Falls back to ``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`` where seccomp(2) is missing
    (ENOSYS), which takes no flags.

    Raises:
        OSError: named ``seccomp SECCOMP_SET_MODE_FILTER <n> instructions (<flags>)``; EACCES
            without no_new_privs nor CAP_SYS_ADMIN, EINVAL for a program the kernel rejects,
            ENOMEM beyond the kernel's total size limit.
    """
    if len(program) % 8 or not 0 < len(program) // 8 <= BPF_MAXINSNS:
        raise _libc.error(errno.EINVAL, "seccomp", path=f"bad program size {len(program)}")
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.addressof(buf))
    what = f"SECCOMP_SET_MODE_FILTER {len(program) // 8} instructions"
    try:
        _seccomp(SECCOMP_SET_MODE_FILTER, int(flags), ctypes.byref(fprog), what, flags)
    except OSError as err:
        if err.errno != errno.ENOSYS or flags:
            raise
        prctl(PrctlOption.PR_SET_SECCOMP, SeccompMode.SECCOMP_MODE_FILTER,
              ctypes.addressof(fprog))


def _seccomp(operation: int, flags: int, args: object, what: str,
             flag_enum: SeccompFilterFlag) -> int:
    machine = platform.machine()
    if machine not in SECCOMP_SYSCALL_NUMBERS:
        raise _libc.error(errno.ENOSYS, "seccomp", path=f"(unknown machine {machine!r})")
    fn = _libc.libc().syscall
    fn.restype = ctypes.c_long
    return _libc.call(fn, ctypes.c_long(SECCOMP_SYSCALL_NUMBERS[machine]),
                      ctypes.c_long(operation), ctypes.c_long(flags), args,
                      syscall="seccomp", path=what, flags=flag_enum)


def seccomp_mode() -> int:
    """The calling thread's seccomp mode: 0 none, 1 strict, 2 filter (``PR_GET_SECCOMP``)."""
    return prctl(PrctlOption.PR_GET_SECCOMP)
