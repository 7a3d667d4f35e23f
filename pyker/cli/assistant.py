"""A fork server's spare comes with an assistant: a second process for one call of its command.

When the spare becomes a command, its assistant is offered to it (pyker.runtime.aside) and
runs its calls, one at a time, beside the command's own work, on the other core: a
container's network set-up while the command prepares the rest of the start, its release
while the command's monitor releases the rest. When the command exits, with or without a
call, the assistant sees its socket's end of file and exits too, as it does when the
spare is killed. It lives as long as its command: a foreground run's command is the
container's monitor, and its assistant (its own copy of the server's ~30 MB) waits with it.

The server forks it just before the spare, so that the two share the server's pages and
not each other's: each faults its own in while idle (forkchild.prefault), and a process
forked later, from the spare, would share and fault again every page of its parent. The
server reaps it when it ends (forkchild.Spare): a command that becomes a container's
monitor and lives on is not left with a zombie child.
"""

from __future__ import annotations

import os
import pickle  # here, not in a call: a fork server loads it before its spares
import socket
import threading
from collections.abc import Iterable

from pyker.errors import PykerError

MAX_MESSAGE = 1 << 20
NAME = "pyker-assistant"  # its name in ps and /proc/<pid>/comm (15 bytes at most)
IDLE = b"idle"  # from the spare: no command runs, fault your memory in now
WATCH_STACK = 64 << 10  # the command watcher's thread stack (threading.stack_size)


class Assistant:
    """Its pid, and a socket to it: the server's until it forks the spare, then the spare's
    (then its command's)."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock: socket.socket | None = sock

    def idle(self) -> None:
        try:
            self.sock.send(IDLE)
        except OSError:  # gone: the command will do without it
            pass

    def call(self, function, args: tuple) -> _Pending:
        """Send ``function(*args)``, with this process's environment, umask and working
        directory (a relative data root names the same place there)."""
        if self.sock is None:
            raise OSError("the assistant is gone")
        from pyker.cli.forkchild import promote

        promote(self.pid)  # it may be copying its memory at idle priority
        try:
            cwd = os.getcwd()
        except OSError:  # removed meanwhile: the assistant stays where it is
            cwd = None
        data = pickle.dumps((function, args, dict(os.environ), _umask(), cwd))
        if len(data) > MAX_MESSAGE:
            raise OSError(f"a call of {len(data)} bytes for the assistant (at most "
                          f"{MAX_MESSAGE})")
        self.sock.send(data)
        return _Pending(self)

    def forget(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _receive(self) -> tuple[bool, object]:
        try:
            data = self.sock.recv(MAX_MESSAGE)
        except OSError:
            data = b""
        # Not reached when interrupted (KeyboardInterrupt): the caller asks again, to undo
        # what the call made, and must still get its outcome.
        try:
            return pickle.loads(data)
        except Exception:  # noqa: BLE001 — nothing sent: the assistant died mid-call
            self.forget()
            return False, PykerError("the fork server's assistant ended without a result "
                                     "(its call may be half done)")


def _umask() -> int:
    """This process's umask, read without setting it: umask(2) can only swap it, and for
    that instant a file another thread creates would get mode bits it should not."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)  # before Linux 4.7: swapped, through the strictest value
    os.umask(mask)
    return mask


class _Pending:
    def __init__(self, helper: Assistant) -> None:
        self._helper = helper
        self._outcome: tuple[bool, object] | None = None

    @property
    def received(self) -> bool:
        return self._outcome is not None

    def result(self):
        if self._outcome is None:
            self._outcome = self._helper._receive()
        ok, payload = self._outcome
        if not ok:
            raise payload
        return payload


def fork(server_sockets: Iterable[socket.socket]) -> Assistant:
    """Fork the assistant from the fork server (which reaps it: see forkchild.Spare);
    ``server_sockets`` as for pyker.cli.forkchild.fork_spare."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            from pyker.cli.forkchild import let_go_of_server
            from pyker.kernel.prctl import set_name

            set_name(NAME)  # first: ps and the server's tests tell it from the spare by it
            ours.detach()
            let_go_of_server((theirs,), server_sockets)
            _serve(theirs)
        except BaseException:  # noqa: BLE001 — a forked child must never return into the server
            import traceback

            traceback.print_exc()
        os._exit(125)
    theirs.close()
    return Assistant(pid, ours)


def _serve(sock: socket.socket) -> None:
    """The assistant: fault its memory in while idle, then run its command's calls, one
    at a time, sending back each outcome, until the command closes its socket."""
    from pyker.cli.forkchild import prefault, take_environment

    busy = threading.Event()  # set while a call runs (_die_with_the_command)
    watched = False
    while True:
        try:
            body = sock.recv(MAX_MESSAGE)
        except OSError:
            body = b""
        if body == IDLE:
            prefault(sock)
            # Started here, off the first call's path (a thread's start took ~0.6 ms of it),
            # once the memory is copied: the watcher's small stack is not part of the copy.
            watched = watched or _die_with_the_command(sock, busy)
            continue
        if not body:  # the command is done (or had no use for us), or the spare is gone
            os._exit(0)
        busy.set()
        watched = watched or _die_with_the_command(sock, busy)
        try:
            function, args, environ, umask, cwd = pickle.loads(body)
            take_environment(environ)
            os.umask(umask)
            if cwd is not None:
                os.chdir(cwd)
            outcome = (True, function(*args))
        except BaseException as err:  # noqa: BLE001 — sent to the command, raised there
            outcome = (False, err)
        busy.clear()
        try:
            data = pickle.dumps(outcome)
        except Exception as err:  # noqa: BLE001 — an unpicklable value or exception
            data = pickle.dumps((False, PykerError(f"{outcome[1]} ({err})")))
        try:
            sock.send(data)
        except OSError:  # the command is gone: what the call made is its crash's leftover
            os._exit(0)


def _die_with_the_command(sock: socket.socket, busy: threading.Event) -> bool:
    """Exit as soon as the command's end of the socket closes: a killed command takes its
    call along, as it took the thread that ran it before, instead of letting the call go on
    making what nobody will undo (its container may be removed meanwhile). ``busy`` is set
    while a call runs: the exit status says whether one was cut (1). True once watching."""
    import select

    def watch() -> None:
        poller = select.poll()
        poller.register(sock, select.POLLRDHUP)
        while True:
            for _, events in poller.poll():
                if events & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
                    os._exit(1 if busy.is_set() else 0)

    # A poll loop needs no 8 MB stack, and the next copy of this process's memory
    # (pyker.cli.forkchild.prefault) would fault all of a default one in.
    previous = threading.stack_size(WATCH_STACK)
    try:
        threading.Thread(target=watch, name="command watch", daemon=True).start()
    finally:
        threading.stack_size(previous)
    return True
