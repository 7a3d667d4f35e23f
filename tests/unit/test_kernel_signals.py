"""pyker.kernel.signals: dispositions reset through rt_sigaction(2), glibc's reserved ones too."""

from __future__ import annotations

import signal

import pytest

from forked import run_in_child
from pyker.kernel import _libc
from pyker.kernel.signals import reset_all, set_default


def _ignored_mask() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("SigIgn:")).split()[1], 16)


def _ignore_raw(signum: int) -> None:
    """SIG_IGN (handler 1) set the way glibc will not let a program do for 32 and 33."""
    _libc.raw_syscall("rt_sigaction", signum, (1).to_bytes(8, "little") + bytes(24), None, 8)


def test_reset_all_clears_every_ignored_signal_even_glibcs_own():
    def child() -> str:
        _ignore_raw(32)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        before = _ignored_mask()
        reset_all()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, ())
        return f"{before:x} {_ignored_mask():x} {sorted(blocked)}"

    status, output = run_in_child(child)
    assert status == 0, output
    before, after, blocked = output.split(" ", 2)
    assert int(before, 16) & (1 << 31) and int(before, 16) & (1 << (signal.SIGPIPE - 1))
    assert after == "0" and blocked == "[]"


def test_sigkill_cannot_be_reset_and_says_so():
    with pytest.raises(OSError, match=r"rt_sigaction 9"):
        set_default(signal.SIGKILL)
