"""Run a function in a forked child, for tests that change process state for good.

Capabilities dropped, a seccomp filter loaded, a namespace entered: none can be undone, so
such tests run the change in a child (youki's ``test_in_child_process``). The child reports
through a shared anonymous mapping rather than a pipe: writing to memory is not a syscall, so
even a child whose seccomp filter denies ``write`` and ``exit_group`` gets its words out.

    result = run_in_child(lambda: os.getuid())
    assert result == (0, "0")
"""

from __future__ import annotations

import faulthandler
import mmap
import os
import signal
import time
import traceback
from collections.abc import Callable
from typing import NamedTuple

_SIZE = 1 << 16


class ChildResult(NamedTuple):
    """``status``: the exit code, or ``-signal`` when killed (as ``subprocess``'s returncode).

    ``output``: ``str()`` of what the function returned ("" for None), or the traceback of
    what it raised (then the exit code is 1).
    """

    status: int
    output: str

    @property
    def shell_status(self) -> int:
        """What a shell's ``$?`` shows: 128 + the signal for a killed child (SIGSYS: 159)."""
        return 128 - self.status if self.status < 0 else self.status


def run_in_child(fn: Callable[[], object], *, timeout: float = 30.0) -> ChildResult:
    """Fork, run ``fn`` in the child, and return its :class:`ChildResult`.

    A child still running after ``timeout`` seconds is killed (the status then is -SIGKILL).
    """
    shared = mmap.mmap(-1, _SIZE)  # MAP_SHARED | MAP_ANONYMOUS: the child's writes reach us
    pid = os.fork()
    if pid == 0:  # pragma: no cover — the child never returns
        _child(fn, shared)
    try:
        status = _wait(pid, timeout)
        length = int.from_bytes(shared[:4], "little")
        return ChildResult(status, shared[4:4 + length].decode(errors="replace"))
    finally:
        shared.close()


def _child(fn: Callable[[], object], shared: mmap.mmap) -> None:
    # pytest's faulthandler catches SIGSEGV and re-raises it with syscalls; under a filter that
    # denies them the handler would run forever. The child dies by the plain signal instead.
    faulthandler.disable()
    code = 0
    try:
        result = fn()
        text = "" if result is None else str(result)
    except BaseException:  # noqa: BLE001 — everything goes back to the parent
        code = 1
        try:
            text = traceback.format_exc()
        except BaseException as err:  # noqa: BLE001 — a filter may deny what formatting needs
            text = repr(err)
    data = text.encode(errors="replace")[:_SIZE - 4]
    shared[4:4 + len(data)] = data
    shared[:4] = len(data).to_bytes(4, "little")
    os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
