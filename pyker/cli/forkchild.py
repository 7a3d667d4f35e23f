"""The fork server's children: a spare forked ahead of time, which becomes the next command.

The server keeps one child forked in advance (:func:`fork_spare`), with its assistant
(pyker.cli.assistant). It lets go of the server's descriptors and signal handlers, starts a
session of its own, then waits on a socket pair for a command. When a client's request
comes, the server hands it over (the request, the client's socket, stdin/stdout/stderr and
working directory, with SCM_RIGHTS) and forks the next spare while the command runs, once
its first milliseconds are past (forkserver.REFILL_DELAY). The forks (~1 ms each for the
server's 35 MB here) and the new processes' first steps are then off the client's path:
measured from the client, ~2 ms of a command.

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
from typing import TYPE_CHECKING

from pyker.cli.client import decode_request

if TYPE_CHECKING:  # the assistant is the server's business: a command run without it
    from pyker.cli.assistant import Assistant  # never imports it (nor pickle)

MAX_REQUEST = 1 << 20  # argv + environment; a larger one is refused
IDLE = b"idle"  # the server to its spare: no command runs, fault your memory in now
OWN = b"own"  # a command to the server: I outlive my client (a container's monitor)
_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGQUIT,
                    signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)


@dataclass(slots=True)
class Spare:
    """A child waiting for a command: its pid, a pidfd, the server's end of its socket, and
    the pid and a pidfd of its assistant (pyker.cli.assistant), which the server reaps."""

    pid: int
    pidfd: int
    ctl: socket.socket
    assistant_pid: int
    assistant_pidfd: int

    def hand_over(self, body: bytes, conn: socket.socket, fds: list[int]) -> None:
        """Give it the request: ``fds`` are the client's stdin, stdout, stderr and working
        directory; ``conn`` the client's socket, on which it will report its end. ``ctl``
        stays open: the command may say on it that it outlives its client (:data:`OWN`).

        Raises:
            OSError: the spare is gone (killed meanwhile); ``ctl`` is closed then.
        """
        promote(self.pid)
        try:
            socket.send_fds(self.ctl, [body], [conn.fileno(), *fds])
        except BaseException:
            self.ctl.close()
            raise

    def idle(self) -> None:
        """No command runs: let it fault its memory in (see :func:`prefault`)."""
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
    """Fork the next command's process, and its assistant first; ``server_sockets`` are the
    server's Python socket objects, which the children let go of without closing them twice.
    Both are forked before either faults its memory in (pyker.cli.assistant)."""
    server_sockets = list(server_sockets)
    from pyker.cli import assistant

    helper = assistant.fork(server_sockets)
    try:
        ctl, child_end = socket.socketpair(socket.AF_UNIX,
                                           socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        pid = os.fork()
    except BaseException:
        helper.forget()  # its end of file: it exits
        os.waitpid(helper.pid, 0)
        raise
    if pid == 0:
        try:
            ctl.detach()
            _wait_for_command(child_end, server_sockets, helper)
        except BaseException:  # noqa: BLE001 — a forked child must never return into the server
            import traceback

            traceback.print_exc()
        os._exit(125)
    helper.forget()  # the spare's now
    child_end.close()
    return Spare(pid=pid, pidfd=os.pidfd_open(pid), ctl=ctl, assistant_pid=helper.pid,
                 assistant_pidfd=os.pidfd_open(helper.pid))


def let_go_of_server(keep: Iterable[socket.socket],
                     server_sockets: Iterable[socket.socket]) -> None:
    """In a child of the server: default signal handling, a session of its own, and no
    descriptor of the server's but those of ``keep``."""
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
    low = 3
    for fd in sorted(sock.fileno() for sock in keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _wait_for_command(ctl: socket.socket, server_sockets: Iterable[socket.socket],
                      helper: Assistant) -> None:
    let_go_of_server((ctl, helper.sock), server_sockets)
    while True:
        try:
            body, fds, _, _ = socket.recv_fds(ctl, MAX_REQUEST, 5, socket.MSG_CMSG_CLOEXEC)
        except OSError:
            os._exit(0)
        if body != IDLE or fds:
            break
        helper.idle()
        prefault(ctl)
    global _SERVER
    _SERVER = ctl  # kept for ClientFront; processes the command forks close their copy
    os.register_at_fork(after_in_child=_forget_server)
    request = decode_request(body) if len(fds) == 5 else None
    if request is None:  # the server closed our socket (it stops), or sent nothing usable
        os._exit(0)
    from pyker.runtime import aside

    aside.offer(helper)
    _become(request, report=fds[0], stdio=fds[1:4], cwd=fds[4])


def prefault(ctl: socket.socket, chunk: int = 1 << 20) -> None:
    """Take now, while no client waits, the copy-on-write faults the command would meet.

    Every page a command touches is shared with the server until written, and CPython
    writes to most objects it reads (reference counts): a cached rebuild met ~970 such
    faults (~4 ms here) in its first milliseconds. Copying the private writable memory
    (~28 MB, ~20 ms of one core) while waiting brings that to ~20. Done when the server says
    it is idle (:data:`IDLE`: no command runs, so the copy takes no CPU from one), in chunks
    of ``chunk`` bytes: a command that arrives meanwhile is served at once, the rest left
    undone. Where the kernel lacks MADV_POPULATE_WRITE (before 5.14) nothing is done.

    "No command runs" is this server's view: the next command may be another server's, or
    another program's, right after this one's end (commands back to back, the benchmark's
    rounds). So the copy runs at SCHED_IDLE, on CPU time nobody else wants, and whoever hands
    this process work first raises it back (:func:`promote`): measured, a spare and its
    assistant copying at normal priority made the next command on the machine ~15 ms slower.
    """
    import select

    from pyker.kernel import memory

    _set_policy(0, os.SCHED_IDLE)
    try:
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
    finally:
        _set_policy(0, os.SCHED_OTHER)


def promote(pid: int) -> None:
    """Back to the normal scheduling policy, before ``pid`` (copying its memory at idle
    priority, see :func:`prefault`) is handed work: it must get to its next check at once,
    not when the machine is idle."""
    _set_policy(pid, os.SCHED_OTHER)


def _set_policy(pid: int, policy: int) -> None:
    try:
        os.sched_setscheduler(pid, policy, os.sched_param(0))
    except OSError:  # not allowed (no CAP_SYS_NICE to raise another's), or gone: as it was
        pass


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
    take_environment(env)
    sys.argv = ["pyker", *argv]
    _reopen_stdio()
    from pyker.cli.main import main, on_exit

    global _REPORT
    _REPORT = _ExitReport(report)  # received close-on-exec, as no exec needs it
    _REPORT.install(on_exit)
    main()  # ends with os._exit


def take_environment(env: dict[str, str]) -> None:
    """Make the process environment ``env``, changing only what differs from the server's:
    a client usually comes from the same shell, and each os.environ entry set or removed is a
    putenv/unsetenv and fresh objects (clearing then refilling all of them took ~1 ms)."""
    current = os.environ
    for name in [n for n in current if n not in env]:
        del current[name]
    for name, value in env.items():
        if current.get(name) != value:
            current[name] = value


_SERVER: socket.socket | None = None  # this command's socket to the server
_REPORT: _ExitReport | None = None     # its client's socket


def _forget_server() -> None:
    global _SERVER
    if _SERVER is not None:
        _SERVER.close()
        _SERVER = None


def client_front() -> ClientFront | None:
    """For a foreground ``run`` served by a fork server: the client, as the container's
    monitor sees who waits in front of it (pyker.runtime.monitor.Front). None when this
    process is not a fork server's command."""
    if _SERVER is None or _REPORT is None:
        return None
    return ClientFront(_SERVER, _REPORT)


class ClientFront:
    """The fork server's client, waiting for this command's exit status.

    A foreground ``run`` needs a monitor process that outlives the CLI's (a detach leaves
    the container running) and a CLI that waits for it. Served by a fork server, the
    process the user waits for is the client: the command's own process can be the
    monitor (no monitor forked: ~5 ms here), and tell the client the container's end
    (or a detach) with the exit report while it goes on, as a separate monitor would.
    Made once the command knows it becomes a monitor: from then on the server does not
    kill it when the client goes away, as it kills other commands (a killed ``pyker run``
    leaves its container to its monitor).
    """

    def __init__(self, server: socket.socket, report: _ExitReport) -> None:
        self._report = report
        try:
            server.send(OWN)
        except OSError:  # the server is gone: nobody kills this process either
            pass

    def detached(self, why: bytes) -> None:
        """ctrl-p ctrl-q (b"d": status 0) or stdout's reader gone (b"p": what dying of
        SIGPIPE would have reported, 128+13)."""
        self.ended(0 if why == b"d" else 128 + signal.SIGPIPE)

    def ended(self, code: int) -> None:
        self._report.send(code)
        self._report.forget()  # once: the process's own exit reports nothing more


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
