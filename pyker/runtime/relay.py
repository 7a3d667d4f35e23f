"""The monitor's relay: container output to the log, the terminal and attached clients;
the terminal's and the clients' input to the container; ctrl-p ctrl-q to detach."""

from __future__ import annotations

import errno
import os
import selectors
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from pyker.runtime.attach import Detector, frame
from pyker.runtime.logs import LogWriter

if TYPE_CHECKING:
    from pyker.runtime.monitor import Plan
    from pyker.runtime.spawn import Started


def drain(fd: int) -> None:
    """Empty a non-blocking wake-up pipe."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


class Relay:
    """Moves bytes: container output → log, terminal and attached clients; input → container."""

    def __init__(self, plan: Plan, started: Started, log: LogWriter,
                 server: socket.socket | None, on_detach: Callable[[bytes], None]) -> None:
        self.plan, self.started, self.log = plan, started, log
        self.on_detach = on_detach
        self.sel = selectors.DefaultSelector()
        self.clients: list[socket.socket] = []
        self.detector = Detector()
        self.pending = b""  # read from a file stdin, not yet taken by the container
        for fd, stream in started.outputs.items():
            self.sel.register(fd, selectors.EVENT_READ, stream)
        if plan.interactive and plan.foreground and started.stdin is not None:
            try:
                self.sel.register(0, selectors.EVENT_READ, "stdin")
            except PermissionError:  # a regular file or /dev/null: epoll(7) refuses them
                self._copy_file_stdin()
        if server is not None:
            self.sel.register(server, selectors.EVENT_READ, "listen")
        self.open_outputs = len(started.outputs)

    def _copy_file_stdin(self) -> None:
        """``run -i … < file``: a file cannot be polled, but it is always readable, so the
        copy is driven by the container's side instead: each time its stdin pipe can take
        more, a chunk of the file goes in (no thread: the monitor made a PID namespace for
        its children, and clone(2) refuses threads after that). EOF closes the pipe. With
        a terminal, Docker refuses a file as input; here it is ignored."""
        if self.plan.tty:
            return
        os.set_blocking(self.started.stdin, False)
        self.sel.register(self.started.stdin, selectors.EVENT_WRITE, "stdin-file")

    def _from_file(self) -> None:
        if not self.pending:
            self.pending = os.read(0, 65536)
            if not self.pending:
                self.sel.unregister(self.started.stdin)
                os.close(self.started.stdin)  # EOF reaches the container
                self.started.stdin = None
                return
        try:
            written = os.write(self.started.stdin, self.pending)
        except BlockingIOError:
            return
        except BrokenPipeError:  # the container closed its stdin: the rest is not wanted
            self.sel.unregister(self.started.stdin)
            os.close(self.started.stdin)
            self.started.stdin = None
            return
        self.pending = self.pending[written:]

    def _forward(self, stream: str, data: bytes) -> None:
        self.log.write(stream, data)
        if self.plan.foreground:
            try:
                os.write(1 if stream == "stdout" else 2, data)
            except OSError as err:  # the reader went away: the container goes on alone
                self.plan = replace(self.plan, foreground=False, interactive=False)
                if 0 in self.sel.get_map():  # the terminal's stdin goes with it
                    self.sel.unregister(0)
                # `run … | head`: the CLI ends as Docker's does, killed by SIGPIPE.
                self.on_detach(b"p" if err.errno == errno.EPIPE else b"d")
        for conn in list(self.clients):
            try:
                conn.sendall(frame(stream, data))
            except OSError:
                self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        self.clients.remove(conn)
        self.sel.unregister(conn)
        conn.close()

    def pump(self, timeout: float | None) -> None:
        for key, _ in self.sel.select(timeout):
            stream = key.data
            if stream == "wake":  # a signal arrived: the caller checks its child
                drain(key.fd)
            elif callable(stream):  # a descriptor the caller registered with its handler
                stream(key.fd)
            elif stream == "listen":
                conn, _ = key.fileobj.accept()
                conn.setblocking(True)
                conn.settimeout(2.0)
                self.clients.append(conn)
                self.sel.register(conn, selectors.EVENT_READ, "client")
            elif stream == "client":
                self._from_client(key.fileobj)
            elif stream == "stdin":
                self._from_terminal()
            elif stream == "stdin-file":
                self._from_file()
            else:
                self._from_container(key.fd, stream)

    def _from_container(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, 65536)
        except OSError as err:
            if err.errno == errno.EAGAIN:
                return
            data = b""  # EIO: the pty's last holder closed it
        if data:
            self._forward(stream, data)
        else:
            self.sel.unregister(fd)
            os.close(fd)
            self.open_outputs -= 1

    def _from_client(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
        else:
            self._to_container(data)

    def _from_terminal(self) -> None:
        data = os.read(0, 65536)
        if not data:
            self.sel.unregister(0)
            if not self.plan.tty and self.started.stdin is not None:
                os.close(self.started.stdin)  # EOF reaches the container (`echo hi | … cat`)
                self.started.stdin = None
            return
        if self.plan.tty:
            data, detached = self.detector.feed(data)
            if detached:
                self.sel.unregister(0)
                self.plan = replace(self.plan, foreground=False, interactive=False)
                self._to_container(data)
                self.on_detach(b"d")
                return
        self._to_container(data)

    def _to_container(self, data: bytes) -> None:
        if self.started.stdin is not None and data:
            try:
                os.write(self.started.stdin, data)
            except BrokenPipeError:
                pass

    def drain(self) -> None:
        while self.open_outputs:
            self.pump(0.2)
            if not self.sel.get_map():
                break
        for conn in list(self.clients):
            self._drop(conn)
