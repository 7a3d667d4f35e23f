"""Signal dispositions at the kernel's level, below what the C library lets a program set.

glibc keeps signals 32 and 33 (SIGCANCEL, SIGSETXID) for its threads: its sigaction(3), and
so Python's ``signal.signal``, refuse them. Yet a process can inherit one of them *ignored*
(an ignored disposition survives execve(2)), and a container must not start that way. The
rt_sigaction(2) syscall itself accepts them.
"""

from __future__ import annotations

import signal

from pyker.kernel import _libc

# struct sigaction as the kernel reads it on x86_64 and arm64 (both define SA_RESTORER):
# handler, flags, restorer, mask: 4 × 8 bytes. All zero is SIG_DFL, no flags, empty mask.
_KERNEL_SIGACTION_DEFAULT = bytes(32)
_SIGSET_SIZE = 8


def set_default(signum: int) -> None:
    """Give ``signum`` its default action, whatever the C library reserves.

    Raises:
        OSError: ``rt_sigaction <signum>: …`` (EINVAL for SIGKILL, SIGSTOP, or out of range).
    """
    _libc.raw_syscall("rt_sigaction", signum, _KERNEL_SIGACTION_DEFAULT, None, _SIGSET_SIZE,
                      path=signum)


def reset_all() -> None:
    """Every catchable signal back to its default action, none blocked."""
    for signum in range(1, signal.NSIG):
        if signum not in (signal.SIGKILL, signal.SIGSTOP):
            set_default(signum)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
