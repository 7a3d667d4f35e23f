"""The ``pyker`` program: hand the command to the fork server when one runs, else run it here.

A pyker command spends most of its time importing pyker (~200 ms of Python modules), not
doing its work (a ``run --rm busybox true`` is ~60 ms once imported). The fork server
(:mod:`pyker.cli.forkserver`, ``pyker system forkserver start``) imports everything once and
forks a copy of itself per command, so this program only connects, passes its argv,
environment, umask, working directory and its stdin/stdout/stderr *descriptors* (SCM_RIGHTS:
the command writes to this program's terminal or pipe itself, no copy in between), relays
the signals it receives, and exits with the command's status. The command's behaviour is the
one of ``python -m pyker``: same code, same descriptors, same environment.

Without a server (or with ``PYKER_FORKSERVER=off``), the command runs in this process.

``client.c`` is the same program in C (the ``pyker`` that ``make`` installs where a compiler
exists): it starts in ~1 ms instead of the interpreter's ~20, and speaks the same protocol.

Start-up cost is the point, so this module imports only modules that are already loaded or
built in (``_socket`` and ``_signal`` rather than ``socket`` and ``signal``, which pull in
``enum``), and the console script that calls it does not import ``re``.
"""

import os
import sys

DEFAULT_RUN_ROOT = "/run/pyker"
SOCKET_NAME = "forkserver.sock"
PROTOCOL = b"pyker-fork 2"
# The signals a terminal or a supervisor sends to a command; each is passed on to it.
RELAYED = (1, 2, 3, 10, 12, 15, 28)  # HUP INT QUIT USR1 USR2 TERM WINCH


def socket_path(env=os.environ) -> str:
    return os.path.join(env.get("PYKER_RUN_ROOT") or DEFAULT_RUN_ROOT, SOCKET_NAME)


def _connect():
    import _socket

    if os.environ.get("PYKER_FORKSERVER") == "off":
        return None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(socket_path())
    except OSError:  # no server (ENOENT), or a stale socket (ECONNREFUSED)
        sock.close()
        return None
    return sock


def encode_request(argv: list[str], environb, umask: int) -> bytes:
    """Fields each ended by a NUL: protocol, umask (octal), argc, the arguments, then the
    environment's ``NAME=value`` entries; bytes as the kernel gave them (client.c sends the
    same)."""
    fields = [PROTOCOL, b"%o" % umask, b"%d" % len(argv), *map(os.fsencode, argv),
              *(name + b"=" + value for name, value in environb.items())]
    return b"\0".join(fields) + b"\0"


def decode_request(body: bytes):
    """``(argv, env, umask)`` of a request, or None if it is not one of this protocol."""
    fields = body.split(b"\0")
    if len(fields) < 4 or fields.pop() != b"" or fields[0] != PROTOCOL:
        return None
    try:
        umask, argc = int(fields[1], 8), int(fields[2])
    except ValueError:
        return None
    if not 0 <= argc <= len(fields) - 3:
        return None
    argv = [os.fsdecode(arg) for arg in fields[3:3 + argc]]
    env = {}
    for entry in fields[3 + argc:]:
        name, eq, value = entry.partition(b"=")
        if eq and name:  # as os.environ, which skips an entry without a name or "="
            env[os.fsdecode(name)] = os.fsdecode(value)
    return argv, env, umask


def _request(sock, argv: list[str]) -> bool:
    """Send the command; False if the server declined it (it is then run here)."""
    import _socket

    umask = os.umask(0o22)
    os.umask(umask)
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    body = encode_request(argv, os.environb, umask)
    try:
        fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2, cwd))  # int[4]
        sock.sendmsg([body], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
    except OSError:
        return False
    finally:
        os.close(cwd)
    reply = _recv(sock)
    return reply == b"ok"


def _recv(sock) -> bytes:
    try:
        return sock.recv(64)
    except OSError:
        return b""


def _relay_signals(sock) -> None:
    import _signal

    def relay(signum, _frame):
        try:
            sock.send(b"S%d" % signum)
        except OSError:
            pass

    for signum in RELAYED:
        _signal.signal(signum, relay)


def _wait(sock) -> int:
    """The command's exit status; 125 if the server vanished before telling it."""
    while True:
        message = _recv(sock)
        if message.startswith(b"X"):
            return int(message[1:])
        if not message:
            print("pyker: the fork server exited before the command ended", file=sys.stderr)
            return 125


def main() -> None:
    argv = sys.argv[1:]
    # Starting or stopping the server is never the server's own job (a stop it ran would
    # wait for itself).
    sock = None if argv[:2] == ["system", "forkserver"] else _connect()
    if sock is not None:
        if _request(sock, argv):
            _relay_signals(sock)
            os._exit(_wait(sock))
        sock.close()
    from pyker.cli.main import main as run_here

    run_here()
