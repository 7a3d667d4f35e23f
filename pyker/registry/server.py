"""A private registry on loopback for the labs: Debian's ``docker-registry`` (the CNCF
distribution registry v2, the program behind Docker Hub's ``registry:2`` image).

Everything the registry needs lives in one directory: ``config.yml`` (written here as JSON,
which is YAML), ``storage/`` (its filesystem driver's tree, where a lab can look at blobs and
tag links), ``htpasswd`` when users are given, ``registry.log`` and ``registry.pid``. It
listens on 127.0.0.1 only, over plain HTTP, which Docker (and pyker) allow for loopback
registries without any ``insecure-registries`` setting.

    reg = start(Path("/tmp/reg"), users={"student": "s3cret"})
    ...  # pyker push 127.0.0.1:<reg.port>/app:1.0
    reg.stop()               # or stop(Path("/tmp/reg")) from another process

The registry accepts only bcrypt entries in htpasswd (``$2y$``/``$2b$``); they are made with
the C library's ``crypt(3)`` (libxcrypt), so neither ``apache2-utils`` nor a Python bcrypt
module is needed. Command line: ``python -m pyker.registry.server start|stop DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pyker.errors import RegistryError
from pyker.fs.atomic import atomic_write

BINARY = "docker-registry"
READY_MARK = "listening on"


def bcrypt_hash(password: str, *, cost: int = 10) -> str:
    """A bcrypt hash of ``password`` from libcrypt's ``crypt_gensalt``/``crypt`` (``$2b$``)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    # rbytes NULL: libxcrypt draws the salt from the kernel's random source itself.
    setting = lib.crypt_gensalt(b"$2b$", cost, None, 0)
    if not setting:
        raise OSError(ctypes.get_errno(), "crypt_gensalt $2b$ failed", name)
    hashed = lib.crypt(password.encode(), setting)
    if not hashed or not hashed.startswith(b"$2"):
        raise OSError(ctypes.get_errno(), "crypt with a bcrypt setting failed", name)
    return hashed.decode()


def write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    lines = [f"{user}:{bcrypt_hash(password)}\n" for user, password in users.items()]
    atomic_write(path, "".join(lines).encode(), mode=0o600)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the registry binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(directory: Path, port: int, *, htpasswd: Path | None = None,
           auth: Mapping[str, object] | None = None) -> dict[str, object]:
    """The registry's configuration (``auth``, when given, is its ``auth`` section as is:
    ``{"token": {"realm": …, "service": …, "issuer": …, "rootcertbundle": …}}``)."""
    doc: dict[str, object] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "storage")},
                    # No "cache" key, so no in-memory descriptor cache: a lab that edits the
                    # storage on disk (a tampered blob) sees the registry serve what is there.
                    "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}",
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    if htpasswd is not None:
        doc["auth"] = {"htpasswd": {"realm": "pyker-lab-registry", "path": str(htpasswd)}}
    elif auth:
        doc["auth"] = dict(auth)
    return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalRegistry:
    directory: Path
    port: int
    pid: int

    @property
    def host(self) -> str:
        """The registry part of an image reference: ``127.0.0.1:5000``."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def storage(self) -> Path:
        return self.directory / "storage"

    def blob_data(self, digest: str) -> Path:
        """Where the registry's filesystem driver keeps a blob's bytes."""
        hexa = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"

    def stop(self) -> None:
        stop(self.directory)


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def start(directory: Path, *, port: int = 0, users: Mapping[str, str] | None = None,
          auth: Mapping[str, object] | None = None, timeout: float = 20.0,
          preexec_fn: Callable[[], None] | None = None) -> LocalRegistry:
    """Start ``docker-registry`` on 127.0.0.1 with its config and storage in ``directory``.

    ``port`` 0 picks a free one; ``users`` (name -> password) turns on htpasswd auth,
    ``auth`` sets another ``auth`` section (a token server's, see :func:`config`);
    ``preexec_fn`` runs in the child before exec (a test joins its network namespace there).
    Returns once the registry says it is listening.

    Raises:
        RegistryError: the binary is missing, or the registry exited or stayed silent.
    """
    binary = shutil.which(BINARY)
    if binary is None:
        raise RegistryError(f"{BINARY} not found: install the Debian package docker-registry")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "storage").mkdir(exist_ok=True)
    htpasswd = None
    if users:
        htpasswd = directory / "htpasswd"
        write_htpasswd(htpasswd, users)
    port = port or free_port()
    cfg = directory / "config.yml"
    doc = config(directory, port, htpasswd=htpasswd, auth=auth)
    atomic_write(cfg, json.dumps(doc, indent=2).encode())
    log_path = directory / "registry.log"
    with open(log_path, "wb") as log:
        # A session of its own: a Ctrl-C in the lab's terminal does not reach it.
        proc = subprocess.Popen([binary, "serve", str(cfg)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=preexec_fn, cwd=directory)
    atomic_write(directory / "registry.pid", f"{proc.pid}\n".encode())
    deadline = time.monotonic() + timeout
    while READY_MARK not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            (directory / "registry.pid").unlink(missing_ok=True)
            raise RegistryError(f"{BINARY} on 127.0.0.1:{port} did not start "
                                f"(log {log_path}):\n{_log_tail(log_path)}")
        time.sleep(0.05)
    _children[proc.pid] = proc
    return LocalRegistry(directory=directory, port=port, pid=proc.pid)


# Registries this process started, to reap them on stop (a zombie would keep its pid).
_children: dict[int, subprocess.Popen] = {}


def _is_ours(pid: int, directory: Path) -> bool:
    """The pid file may outlive the registry and the pid be reused: check its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    return any(a.endswith(BINARY.encode()) for a in argv[:1]) and \
        str(directory / "config.yml").encode() in argv


def stop(directory: Path, *, timeout: float = 10.0) -> bool:
    """Stop the registry started in ``directory``; False when none was running."""
    pid_file = directory / "registry.pid"
    try:
        pid = int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return False
    running = _is_ours(pid, directory)
    if running:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        proc = _children.get(pid)
        while (proc.poll() is None) if proc else _is_ours(pid, directory):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)
    _children.pop(pid, None)
    pid_file.unlink(missing_ok=True)
    return running


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m pyker.registry.server",
                                description="Run Debian's docker-registry on 127.0.0.1")
    sub = p.add_subparsers(dest="action", required=True)
    s = sub.add_parser("start")
    s.add_argument("directory", type=Path)
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD")
    t = sub.add_parser("stop")
    t.add_argument("directory", type=Path)
    args = p.parse_args(argv)
    if args.action == "stop":
        print("stopped" if stop(args.directory.resolve()) else "not running")
        return 0
    users = dict(u.split(":", 1) for u in args.user)
    reg = start(args.directory.resolve(), port=args.port, users=users or None)
    _children.clear()  # the registry outlives this command: it is stopped by `stop DIR`
    print(f"registry {reg.host} pid {reg.pid} (storage {reg.storage})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
