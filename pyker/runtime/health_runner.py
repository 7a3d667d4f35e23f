"""A health probe's *runner*: the monitor's child that runs one check and reports it.

It leaves the monitor's signals, process group and descriptors behind, runs the test command
in the container as ``pyker exec`` would (:func:`pyker.runtime.execute.exec_in`), collects
at most MAX_OUTPUT bytes of its output, kills its process group past the timeout, and writes
one JSON result on the pipe the monitor's loop watches (:class:`pyker.runtime.health.Prober`).
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import TYPE_CHECKING, NoReturn

from pyker.kernel.fds import null_stdio

if TYPE_CHECKING:
    from pyker.runtime.state import ContainerStore

SECOND = 1_000_000_000
MAX_OUTPUT = 4096                  # bytes of a probe's output kept (Docker's)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_probe(store: ContainerStore, container_id: str, argv: tuple[str, ...], timeout: int,
            out: int) -> NoReturn:
    """Run one probe, write its result (one JSON object, after a ``pid N`` line once the
    command runs) on ``out`` and exit. Never returns into the monitor's code."""
    try:
        _detach_from_monitor(out)
        result = _probe(store, container_id, argv, timeout,
                        lambda pid: os.write(out, b"pid %d\n" % pid))
    except BaseException as err:  # noqa: BLE001 — a forked child must never unwind
        result = {"ExitCode": -1, "Output": f"health check: {err}"}
    try:
        os.write(out, json.dumps(result).encode())
    finally:
        os._exit(0)


def _detach_from_monitor(keep: int) -> None:
    """Shed what the monitor holds: its signal handlers (which forward to the container),
    the terminal's process group (a Ctrl-C is for the container, not for a probe), and its
    descriptors — a copy of the container's stdin held here would delay its EOF."""
    import gc

    gc.disable()  # no finalizer may close a descriptor number this process reuses
    signal.set_wakeup_fd(-1)
    for sig in (s for s in signal.valid_signals() if callable(signal.getsignal(s))):
        signal.signal(sig, signal.SIG_DFL)
    os.setpgid(0, 0)
    null_stdio()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def _probe(store: ContainerStore, container_id: str, argv: tuple[str, ...], timeout: int,
           announce) -> dict:
    """Exec ``argv`` in the container as ``pyker exec`` would; its exit code and output."""
    from pyker.errors import PykerError
    from pyker.runtime.execute import ExecRequest, exec_in

    record = store.load(container_id)
    if record.state.status == "paused":
        return {"skip": "paused"}
    try:
        running = exec_in(store, record, ExecRequest(args=argv))
    except PykerError as err:  # could not start (not found, not running): Docker logs -1
        return {"ExitCode": -1, "Output": str(err)}
    announce(running.command)
    output, finished = _collect(running.pipes.ours, running.joiner,
                                time.monotonic() + timeout / SECOND)
    if not finished:
        kill_group(running.command)  # it did setsid(): its children go with it
    _, status = os.waitpid(running.joiner, 0)
    if not finished:
        from pyker.runtime.health import go_duration_text  # here: health imports this module

        text = f"Health check exceeded timeout ({go_duration_text(timeout)})"
        return {"ExitCode": -1, "Output": f"{text}: {output}" if output else text}
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    return {"ExitCode": code, "Output": output}


def _collect(fds: dict[int, str], joiner: int, deadline: float) -> tuple[str, bool]:
    """Both streams into one buffer of at most MAX_OUTPUT bytes (then ``...``, as Docker's
    limitedBuffer), until the joiner exits; and whether it did before ``deadline``."""
    import select

    kept, truncated = bytearray(), False
    pidfd = os.pidfd_open(joiner)
    poller = select.poll()
    for fd in (*fds, pidfd):
        poller.register(fd, select.POLLIN)
    open_fds, finished = set(fds), False

    def take(fd: int) -> None:
        nonlocal truncated
        data = os.read(fd, 65536)
        if not data:
            poller.unregister(fd)
            open_fds.discard(fd)
            return
        room = MAX_OUTPUT - len(kept)
        kept.extend(data[:max(room, 0)])
        truncated = truncated or len(data) > room

    try:
        while not finished and (left := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(int(left * 1000) + 1):
                if fd == pidfd:
                    finished = True
                elif fd in open_fds:
                    take(fd)
        for fd in list(open_fds):  # what the command wrote before it exited
            os.set_blocking(fd, False)
            try:
                while fd in open_fds:
                    take(fd)
            except BlockingIOError:
                pass
    finally:
        os.close(pidfd)
        for fd in fds:
            os.close(fd)
    return kept.decode(errors="replace") + ("..." if truncated else ""), finished
