"""The fork server's children: a spare forked ahead of time, which becomes the next command.

The server keeps one child forked in advance (:func:`fork_spare`). It lets go of the
server's descriptors and signal handlers, starts a session of its own, then waits on a
socket pair for a command. When a client's request comes, the server hands it over (the
request, the client's socket, stdin/stdout/stderr and working directory, with SCM_RIGHTS)
and forks the next spare while the command runs. The fork itself (~1 ms for the server's
35 MB here) and the new process's first steps are then off the client's path: measured
from the client, ~2 ms of a command.

A spare was forked from the server as it was then: the server never hands a request to one
older than its sources (it checks them first and steps down, killing its spare, when they
changed), and a spare whose server is gone sees its socket closed and exits.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from pyker.cli.client import decode_request

MAX_REQUEST = 1 << 20  # argv + environment; a larger one is refused
IDLE = b"idle"  # the server to its spare: no command runs, fault your memory in now
_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGQUIT,
                    signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


@dataclass(slots=True)
class Spare:
    """A child waiting for a command: its pid, a pidfd, the server's end of its socket."""

    pid: int
    pidfd: int
    ctl: socket.socket

    def hand_over(self, body: bytes, conn: socket.socket, fds: list[int]) -> None:
        """Give it the request: ``fds`` are the client's stdin, stdout, stderr and working
        directory; ``conn`` the client's socket, on which it will report its end.

        Raises:
            OSError: the spare is gone (killed meanwhile).
        """
        try:
            socket.send_fds(self.ctl, [body], [conn.fileno(), *fds])
        finally:
            self.ctl.close()

    def idle(self) -> None:
        """No command runs: let it fault its memory in (see :func:`_prefault`)."""
        try:
            self.ctl.send(IDLE)
        except OSError:  # gone: the server sees its pidfd and replaces it
            pass

    def discard(self) -> None:
        """Kill it and reap it (the server steps down, or it was never used)."""
        self.ctl.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError):
            pass  # reaped already
        os.close(self.pidfd)


def fork_spare(server_sockets: Iterable[socket.socket]) -> Spare:
    """Fork the next command's process; ``server_sockets`` are the server's Python socket
    objects, which the child lets go of without closing them twice."""
    ctl, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            ctl.detach()
            _wait_for_command(child_end, server_sockets)
        except BaseException:  # noqa: BLE001 — a forked child must never return into the server
            import traceback

            traceback.print_exc()
        os._exit(125)
    child_end.close()
    return Spare(pid=pid, pidfd=os.pidfd_open(pid), ctl=ctl)


def _wait_for_command(ctl: socket.socket, server_sockets: Iterable[socket.socket]) -> None:
    for sig in _DEFAULT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    os.setsid()
    # The server's sockets are let go of (detach: no close by a later finaliser, which could
    # hit a reused descriptor number), then every inherited descriptor is closed but ours.
    for sock in server_sockets:
        if sock.fileno() >= 0:
            sock.detach()
    mine = ctl.fileno()
    os.closerange(3, mine)
    os.closerange(mine + 1, 65536)
    while True:
        try:
            body, fds, _, _ = socket.recv_fds(ctl, MAX_REQUEST, 5, socket.MSG_CMSG_CLOEXEC)
        except OSError:
            os._exit(0)
        if body != IDLE or fds:
            break
        _prefault(ctl)
    ctl.close()
    request = decode_request(body) if len(fds) == 5 else None
    if request is None:  # the server closed our socket (it stops), or sent nothing usable
        os._exit(0)
    _become(request, report=fds[0], stdio=fds[1:4], cwd=fds[4])


def _prefault(ctl: socket.socket, chunk: int = 1 << 20) -> None:
    """Take now, while no client waits, the copy-on-write faults the command would meet.

    Every page a command touches is shared with the server until written, and CPython
    writes to most objects it reads (reference counts): a cached rebuild met ~970 such
    faults (~4 ms here) in its first milliseconds. Copying the private writable memory
    (~28 MB, ~20 ms of one core) while waiting brings that to ~20. Done when the server says
    it is idle (:data:`IDLE`: no command runs, so the copy takes no CPU from one), in chunks
    of ``chunk`` bytes: a command that arrives meanwhile is served at once, the rest left
    undone. Where the kernel lacks MADV_POPULATE_WRITE (before 5.14) nothing is done.
    """
    import select

    from pyker.kernel import memory

    done = 0
    for mapping in list(memory.private_writable()):
        for start in range(mapping.start, mapping.end, chunk):
            if select.select([ctl], [], [], 0)[0]:
                return  # a command is here
            try:
                memory.populate_write(start, min(chunk, mapping.end - start))
            except OSError as err:
                if err.errno == errno.EINVAL and not done:
                    return  # no MADV_POPULATE_WRITE on this kernel
                break  # this mapping cannot be (a guard region): the next one
            done += 1


def _become(request, *, report: int, stdio: list[int], cwd: int) -> None:
    """Become the command: the client's descriptors, directory, environment, then pyker."""
    argv, env, umask = request
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    os.fchdir(cwd)
    for fd in (*stdio, cwd):
        if fd > 2:
            os.close(fd)
    os.umask(umask)
    _take_environment(env)
    sys.argv = ["pyker", *argv]
    _reopen_stdio()
    from pyker.cli.main import main, on_exit

    _ExitReport(report).install(on_exit)  # report: received close-on-exec, as no exec needs it
    main()  # ends with os._exit


def _take_environment(env: dict[str, str]) -> None:
    """Make the process environment ``env``, changing only what differs from the server's:
    a client usually comes from the same shell, and each os.environ entry set or removed is a
    putenv/unsetenv and fresh objects (clearing then refilling all of them took ~1 ms)."""
    current = os.environ
    for name in [n for n in current if n not in env]:
        del current[name]
    for name, value in env.items():
        if current.get(name) != value:
            current[name] = value


class _ExitReport:
    """Send ``X<status>`` on the client's socket once the command is done, output flushed.

    The server sends it too, after reaping the process; this one comes before the kernel
    tears down the forked copy of the server (~2 ms), which the client need not wait for.
    Processes the command forks (monitors) close their copy: only the command reports.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def install(self, on_exit) -> None:
        on_exit(self.send)
        os.register_at_fork(after_in_child=self.forget)

    def send(self, status: int) -> None:
        if self.fd >= 0:
            try:
                os.write(self.fd, b"X%d" % (status & 0xFF))
            except OSError:  # the client is gone: nobody to tell
                pass

    def forget(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1


def _reopen_stdio() -> None:
    """New sys.std* objects on descriptors 0-2, buffered as Python would for the client's."""
    import io

    def text(fd: int, mode: str, errors: str, line: bool):
        return io.TextIOWrapper(io.open(fd, mode + "b", closefd=False), encoding="utf-8",
                                errors=errors, line_buffering=line)

    sys.stdin = text(0, "r", "strict", False)
    sys.stdout = text(1, "w", "strict", os.isatty(1))
    sys.stderr = text(2, "w", "backslashreplace", True)
