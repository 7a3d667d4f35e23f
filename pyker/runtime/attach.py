"""Attaching to a running container: the monitor's unix socket and the client that uses it.

The monitor listens on ``<run-root>/<id>/attach.sock``. A client receives the container's
output in frames — Docker's stream framing: one byte for the stream (1 stdout, 2 stderr),
three zero bytes, the length as a 32-bit big-endian number, then the bytes — and sends raw
bytes that become the container's input (when it was started with ``-i``).

The detach keys are Docker's, ctrl-p then ctrl-q: the client (or a foreground ``run -it``)
stops relaying and leaves the container running.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import sys
from pathlib import Path

STREAMS = {"stdout": 1, "stderr": 2}
DETACH = b"\x10\x11"  # ctrl-p ctrl-q
_HEADER = struct.Struct(">BxxxI")


def frame(stream: str, data: bytes) -> bytes:
    return _HEADER.pack(STREAMS[stream], len(data)) + data


class Detector:
    """Finds ctrl-p ctrl-q in a byte stream, even split across two reads."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to pass on, whether the detach sequence was typed)."""
        data = self._held + data
        self._held = b""
        at = data.find(DETACH)
        if at >= 0:
            return data[:at], True
        if data.endswith(DETACH[:1]):
            self._held, data = data[-1:], data[:-1]
        return data, False


def _via_fd(path: Path, action) -> None:
    """Bind or connect ``path`` even past sun_path's 108 bytes: through an O_PATH descriptor
    of its directory, ``/proc/self/fd/N/name`` is short whatever the data root is."""
    if len(os.fsencode(path)) < 100:
        action(str(path))
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        action(f"/proc/self/fd/{fd}/{path.name}")
    finally:
        os.close(fd)


def listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    _via_fd(path, server.bind)
    os.chmod(path, 0o600)
    server.listen(8)
    server.setblocking(False)
    return server


def client(path: Path, *, stdin: bool, tty: bool) -> bool:
    """Relay a terminal to the container until it exits (False) or the user detaches (True)."""
    import termios
    import tty as tty_mode

    saved = termios.tcgetattr(0) if stdin and tty and os.isatty(0) else None
    if saved is not None:
        tty_mode.setraw(0)
    try:
        return _relay(path, stdin=stdin)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _relay(path: Path, *, stdin: bool) -> bool:
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        _via_fd(path, sock.connect)
    except (FileNotFoundError, ConnectionRefusedError):
        from pyker.errors import ContainerStateError

        raise ContainerStateError("You cannot attach to a stopped container, start it first")
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "socket")
    if stdin and sys.stdin is not None:
        sel.register(0, selectors.EVENT_READ, "stdin")
    detector, buffer = Detector(), b""
    while True:
        for key, _ in sel.select():
            if key.data == "stdin":
                data = os.read(0, 65536)
                if not data:
                    sel.unregister(0)
                    continue
                data, detached = detector.feed(data)
                if data:
                    sock.sendall(data)
                if detached:
                    return True
                continue
            chunk = sock.recv(65536)
            if not chunk:
                return False
            buffer += chunk
            while len(buffer) >= _HEADER.size:
                stream, size = _HEADER.unpack_from(buffer)
                if len(buffer) < _HEADER.size + size:
                    break
                data = buffer[_HEADER.size:_HEADER.size + size]
                buffer = buffer[_HEADER.size + size:]
                os.write(1 if stream == 1 else 2, data)
