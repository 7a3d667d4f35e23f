"""The fork server: pyker imported once, one forked copy per command (a zygote).

``pyker system forkserver start`` runs it in the background; :mod:`pyker.cli.client` (the
``pyker`` program) hands it each command over a unix socket in the run directory. The server
has imported every pyker module and warmed up (:mod:`pyker.cli.warmup`); a child it forked
ahead of time (:mod:`pyker.cli.forkchild`) takes each command and becomes what
``python -m pyker ARGS`` would have been: the client's stdin/stdout/stderr descriptors
(received with SCM_RIGHTS), its working directory (an open descriptor, so nothing is
resolved twice), environment, umask and argv, a session of its own, pyker's usual CLI entry
point. Each spare comes with an assistant (:mod:`pyker.cli.assistant`), a second process
for work its command does beside its own, which the server reaps. So the engine stays
daemonless (DESIGN.md): the server holds no state of
containers or images — every command reads the data root as it would when run directly —
and it only saves the interpreter start and the imports, ~250 ms a command. Whether the
sources changed is :mod:`pyker.cli.sourcewatch`'s answer (inotify).

Only a client of the server's own uid is served (SO_PEERCRED; the socket is 0600 too). A
signal the client receives is passed on to its command; a client that disappears (killed)
takes its command with it, as a killed ``pyker`` process would, unless the command said it
outlives its client (a foreground ``run`` whose process became the container's monitor:
:class:`pyker.cli.forkchild.ClientFront`). When pyker's source files
change, the server declines the next command (the client then runs it itself) and exits,
so it never runs stale code.

One process, one thread, a selectors loop: forking from a multi-threaded process is unsafe.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pyker.cli.client import decode_request
from pyker.cli.forkchild import MAX_REQUEST, OWN, Spare, fork_spare
from pyker.cli.sourcewatch import PACKAGE, SourceWatch
# The next spare (with its assistant) is forked this long after a command starts, or when
# no command runs any more: forked at once, they took CPU from the command and its own
# assistant, which use both cores for a container's first milliseconds.
REFILL_DELAY = 0.1
NAMESPACES = ("net", "mnt", "pid", "user", "uts", "ipc", "cgroup")


def preload() -> None:
    """Import every pyker module a command may need, so that no child imports anything."""
    import importlib
    import pkgutil

    skip = {"pyker.__main__"}
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="pyker."):
        if info.name not in skip:
            importlib.import_module(info.name)
    from pyker.cli.main import COMMANDS, command_parser

    for name in COMMANDS:
        command_parser(name)
    from pyker.security.seccomp import default_profile

    default_profile()  # parsed once here, shared by every child (a frozen value)


@dataclass(slots=True)
class Command:
    conn: socket.socket  # to the client
    pid: int
    pidfd: int
    ctl: socket.socket   # to the command's process (pyker.cli.forkchild)
    owned: bool = False  # the command outlives its client (forkchild.OWN)


@dataclass(slots=True)
class Server:
    listener: socket.socket
    sources: SourceWatch
    sel: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    commands: dict[int, Command] = field(default_factory=dict)  # by pid
    spare: Spare | None = None  # the next command's process, forked ahead (pyker.cli.forkchild)
    refill_at: float | None = None  # when to fork the next spare (time.monotonic)
    assistants: dict[int, int] = field(default_factory=dict)  # pidfd → pid, to reap
    stopping: bool = False

    def serve(self) -> None:
        """Until stopped and every running command has ended. A signal's handler only
        notes it; the wake-up pipe makes select() return so that the loop sees it."""
        wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        signal.set_wakeup_fd(wake_w)
        self.sel.register(wake_r, selectors.EVENT_READ, lambda fd: os.read(fd, 512))
        self.sel.register(self.listener, selectors.EVENT_READ, self._accept)
        self._refill()
        while not (self.stopping and not self.commands):
            timeout = None if self.refill_at is None else max(
                0.0, self.refill_at - time.monotonic())
            for key, _ in self.sel.select(timeout):
                key.data(key.fileobj)
            if self.refill_at is not None and time.monotonic() >= self.refill_at:
                self._refill()

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        if not self._trusted(conn):
            conn.close()
            return
        try:
            body, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 4)
        except OSError:
            conn.close()
            return
        try:
            request = self._parse(body, fds)
            if request is None or self.stopping or self.sources.changed():
                conn.send(b"no")  # the client runs the command itself
                if request is not None and not self.stopping:
                    self._stop()   # stale code: step down once the running commands end
                conn.close()
                return
            conn.send(b"ok")
            spare = self._hand_over(body, conn, fds)
        except OSError:
            conn.close()
            return
        finally:
            for fd in fds:
                os.close(fd)
        command = Command(conn=conn, pid=spare.pid, pidfd=spare.pidfd, ctl=spare.ctl)
        self.commands[spare.pid] = command
        self.sel.register(conn, selectors.EVENT_READ, lambda _c, cmd=command: self._relay(cmd))
        self.sel.register(spare.ctl, selectors.EVENT_READ, lambda _c, cmd=command: self._told(cmd))
        self.sel.register(spare.pidfd, selectors.EVENT_READ,
                          lambda _f, cmd=command: self._ended(cmd))
        if self.refill_at is None:  # while the command runs (REFILL_DELAY)
            self.refill_at = time.monotonic() + REFILL_DELAY

    def _sockets(self) -> list[socket.socket]:
        return [self.listener, *(s for c in self.commands.values() for s in (c.conn, c.ctl))]

    def _refill(self) -> None:
        self.refill_at = None
        if self.spare is None and not self.stopping:
            self.spare = fork_spare(self._sockets())
            self.sel.register(self.spare.pidfd, selectors.EVENT_READ, self._spare_died)
            self.assistants[self.spare.assistant_pidfd] = self.spare.assistant_pid
            self.sel.register(self.spare.assistant_pidfd, selectors.EVENT_READ,
                              self._assistant_ended)
            self._if_idle()

    def _assistant_ended(self, pidfd: int) -> None:
        """A spare's assistant exited: with its spare (the server stopping, or the spare
        killed) or with its command."""
        os.waitpid(self.assistants.pop(pidfd), 0)
        self.sel.unregister(pidfd)
        os.close(pidfd)

    def _if_idle(self) -> None:
        """With no command running, the spare may use a core to prepare its memory."""
        if self.spare is not None and not self.commands:
            self.spare.idle()

    def _hand_over(self, body: bytes, conn: socket.socket, fds: list[int]) -> Spare:
        """The request to the spare, which becomes the command; a spare killed meanwhile is
        replaced once.

        Raises:
            OSError: no fresh spare could take it either.
        """
        for attempt in (1, 2):
            spare = self._take_spare()
            try:
                spare.hand_over(body, conn, fds)
                return spare
            except OSError:
                spare.discard()
                if attempt == 2:
                    raise
        raise AssertionError("not reached")

    def _take_spare(self) -> Spare:
        """The spare, now this command's (a fresh one if it was missing)."""
        self._refill()
        spare, self.spare = self.spare, None
        self.sel.unregister(spare.pidfd)
        return spare

    def _spare_died(self, _pidfd) -> None:
        """Killed while it waited (nothing of a command's): reaped, replaced at once."""
        spare, self.spare = self.spare, None
        if spare is not None:
            self.sel.unregister(spare.pidfd)
            spare.discard()
        self._refill()

    @staticmethod
    def _trusted(conn: socket.socket) -> bool:
        """Same uid, and the same namespaces: a command must run where its client is (a
        client in another network namespace, `ip netns exec …`, runs its command itself)."""
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.geteuid():
            return False
        try:
            return all(os.stat(f"/proc/{pid}/ns/{ns}").st_ino
                       == os.stat(f"/proc/self/ns/{ns}").st_ino for ns in NAMESPACES)
        except OSError:
            return False

    @staticmethod
    def _parse(body: bytes, fds: list[int]):
        return decode_request(body) if len(fds) == 4 else None

    def _relay(self, cmd: Command) -> None:
        """A signal to pass on (``S<n>``), or the client's end: its command goes with it."""
        if self.commands.get(cmd.pid) is not cmd:
            # Ended in this same select round (_ended closed the socket): the client, told
            # by the command itself, may have left at the very moment its command ended.
            return
        try:
            message = cmd.conn.recv(64)
        except OSError:
            message = b""
        try:
            if message.startswith(b"S") and message[1:].isdigit():
                os.kill(cmd.pid, int(message[1:]))
            elif not message:
                self.sel.unregister(cmd.conn)
                if not cmd.owned:
                    os.kill(cmd.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _told(self, cmd: Command) -> None:
        """The command says it outlives its client (a container's monitor, see
        :class:`pyker.cli.forkchild.ClientFront`), or its socket closed (it exits)."""
        if self.commands.get(cmd.pid) is not cmd:
            return  # ended in this same select round (_ended closed the socket)
        try:
            message = cmd.ctl.recv(64)
        except OSError:
            message = b""
        if message == OWN:
            cmd.owned = True
        elif not message:
            self.sel.unregister(cmd.ctl)

    def _ended(self, cmd: Command) -> None:
        _, status = os.waitpid(cmd.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code  # killed by a signal: the shell's 128+n
        try:
            cmd.conn.send(b"X%d" % code)
        except OSError:
            pass
        self.sel.unregister(cmd.pidfd)
        os.close(cmd.pidfd)
        for sock in (cmd.conn, cmd.ctl):
            try:
                self.sel.unregister(sock)
            except KeyError:
                pass
            sock.close()
        del self.commands[cmd.pid]
        if not self.commands:
            self._refill()
        self._if_idle()

    def _stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            self.sel.unregister(self.listener)
            self.listener.close()
            if self.spare is not None:
                self.sel.unregister(self.spare.pidfd)
                self.spare.discard()
                self.spare = None


def run(path: Path) -> None:
    """Serve on ``path`` until stopped (SIGTERM, or stale sources), then remove it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    sources = SourceWatch()  # before the imports: a change while they run counts too
    preload()
    from pyker.cli.warmup import warm_up

    for failure in warm_up():  # the server's log says why it starts colder
        print(f"pyker fork server: warm-up: {failure}", file=sys.stderr, flush=True)
    # Every object alive now goes to the collector's permanent generation: a collection in
    # a child then never walks (and so never copies-on-write) the server's pages.
    import gc

    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    path.unlink(missing_ok=True)
    old_umask = os.umask(0o177)
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(64)
    server = Server(listener=listener, sources=sources)
    signal.signal(signal.SIGTERM, lambda *_: server._stop())
    signal.signal(signal.SIGINT, lambda *_: server._stop())
    try:
        server.serve()
    finally:
        path.unlink(missing_ok=True)


def pid_file(path: Path) -> Path:
    return path.with_suffix(".pid")


def running_pid(path: Path) -> int | None:
    """The server's pid if one answers on ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        probe.connect(str(path))
        return int(pid_file(path).read_text())
    except (OSError, ValueError):
        return None
    finally:
        probe.close()


def start(path: Path, *, log: Path, timeout: float = 30.0) -> int:
    """Start a server in the background (a no-op if one runs); its pid once it listens."""
    import time

    from pyker.errors import PykerError

    if (pid := running_pid(path)) is not None:
        return pid
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    first = os.fork()
    if first == 0:  # double fork: the server is nobody's child and has no terminal
        try:
            os.setsid()
            if os.fork():
                os._exit(0)
            null = os.open(os.devnull, os.O_RDONLY)
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            for target, fd in ((0, null), (1, out), (2, out)):
                os.dup2(fd, target)
            os.chdir("/")
            pid_file(path).write_text(str(os.getpid()))
            run(path)
            code = 0
        except BaseException:  # noqa: BLE001 — a forked child must not return
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    os.waitpid(first, 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (pid := running_pid(path)) is not None:
            return pid
        time.sleep(0.05)
    raise PykerError(f"the fork server did not start listening on {path}: see {log}")


def stop(path: Path, *, timeout: float = 10.0) -> int | None:
    """Stop the server (it finishes the commands it runs); its pid, None if none ran."""
    import time

    pid = running_pid(path)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.02)
    pid_file(path).unlink(missing_ok=True)
    return pid
