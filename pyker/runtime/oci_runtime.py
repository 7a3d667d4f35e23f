"""External OCI runtimes (runc, crun) behind the same seam as pyker's own runtime.

The OCI runtime spec is the seam between "what to run" and "how to run it" (runtime-spec,
``runtime.md``): ``launch.prepare`` writes ``bundle/config.json`` whose ``root.path`` is the
mounted overlay, and any runtime can run that bundle. This module runs it with
``<runtime> --root <state> run --bundle <bundle> --pid-file <file> <id>``, the foreground form
of ``runc run`` (runc(8)): the runtime stays the monitor's child, passes the stdio descriptors
it was given straight to the container (runc's "pass-through" mode, ``terminal: false``),
forwards the signals it receives to the container's init, deletes the container once it has
exited, and exits with the container's status (``128 + signal`` if it was killed).

Who owns the cgroup: the external runtime does. It creates ``linux.cgroupsPath``, applies
``linux.resources``, puts the container in it and removes it afterwards. The spec must then
name an absolute path (:func:`cgroups_path`, ``/pyker/<id>``: the place pyker's own driver
uses, so ``pyker stats`` and the grader find it while the container runs); pyker must not
create that cgroup itself, nor add the process to it.

crun on a hybrid cgroup host (v1 controllers plus ``/sys/fs/cgroup/unified``) refuses with
"cgroups in hybrid mode not supported": the child is started in its own mount namespace
(mount_namespaces(7)) where ``/sys/fs/cgroup/unified`` is unmounted, so crun sees plain v1.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pyker.errors import PykerError

RUNTIMES = ("runc", "crun")
UNIFIED = "/sys/fs/cgroup/unified"


class RuntimeNotFound(PykerError):
    """The named OCI runtime is not known to pyker or not installed on this host."""


def cgroups_path(container_id: str) -> str:
    """``linux.cgroupsPath`` for an external runtime: absolute, so it is not taken relative
    to the monitor's own cgroup (runc's rule for relative paths with the cgroupfs driver)."""
    return f"/pyker/{container_id}"


def binary(runtime: str) -> str:
    """The runtime's executable.

    Raises:
        RuntimeNotFound: ``runtime`` is not runc or crun, or is not on ``PATH``.
    """
    if runtime not in RUNTIMES:
        raise RuntimeNotFound(f"unknown runtime specified {runtime!r}: pyker knows "
                              f"{', '.join(('pyker',) + RUNTIMES)}")
    path = shutil.which(runtime)
    if path is None:
        raise RuntimeNotFound(f"runtime {runtime!r} not found in PATH "
                              f"(Debian package {runtime})")
    return path


def is_hybrid_cgroup() -> bool:
    """v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified (systemd's hybrid)."""
    try:
        return os.stat(UNIFIED).st_dev != os.stat("/sys/fs/cgroup").st_dev
    except OSError:
        return False


def command(runtime: str, bundle: Path, container_id: str, *, state_root: Path,
            pid_file: Path) -> list[str]:
    """The argv that runs ``bundle`` in the foreground (pure: checked by exact value)."""
    return [binary(runtime), "--root", str(state_root), "run", "--bundle", str(bundle),
            "--pid-file", str(pid_file), container_id]


@dataclass(slots=True)
class External:
    """A container run by an external runtime; :attr:`pid` is the runtime's process.

    Wait for and signal :attr:`pid` (the monitor's child: it forwards signals to the
    container and exits with its status); record :meth:`container_pid` as the container's
    PID 1 (what ``pyker kill``/``stop`` signal and ``inspect`` shows).
    """

    runtime: str
    container_id: str
    pid: int
    pid_file: Path
    _status: int | None = None

    def container_pid(self, timeout: float = 10.0) -> int:
        """The container init's host PID, from the pid file the runtime writes once started.

        Raises:
            PykerError: the runtime exited (status :attr:`exit_code` tells why) or took longer
                than ``timeout`` before the container started.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = self.pid_file.read_text().strip()
            except FileNotFoundError:
                text = ""
            if text.isdigit():
                return int(text)
            if self.poll() is not None:
                raise PykerError(f"{self.runtime} exited with status {self.exit_code()} before "
                                 f"container {self.container_id[:12]} started")
            time.sleep(0.002)
        raise PykerError(f"{self.runtime} did not start container {self.container_id[:12]} "
                         f"within {timeout:g}s (no pid file {self.pid_file})")

    def poll(self) -> int | None:
        """The runtime's wait status once it has exited, else None (never blocks)."""
        if self._status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status = status
        return self._status

    def wait(self) -> int:
        """Block until the runtime exits; the container's exit code, as a shell reports it."""
        if self._status is None:
            _, self._status = os.waitpid(self.pid, 0)
        return self.exit_code()

    def exit_code(self) -> int:
        return exit_code(self._status if self._status is not None else 0)


def exit_code(wait_status: int) -> int:
    """The runtime's wait status → the container's code (the runtime already maps signals)."""
    if os.WIFSIGNALED(wait_status):  # the runtime itself was killed
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def spawn_external(container_id: str, runtime: str, bundle: Path, *, state_root: Path,
                   stdio: tuple[int, int, int] = (0, 1, 2)) -> External:
    """Run ``bundle`` with ``runtime`` (runc or crun) as this process's child.

    Args:
        container_id: the runtime's container name (pyker's id; unique under ``state_root``).
        runtime: ``"runc"`` or ``"crun"``.
        bundle: the directory holding ``config.json`` (``root.path`` already mounted).
        state_root: the runtime's ``--root`` (pyker's run dir, never the host's /run/runc).
        stdio: descriptors that become the container's stdin, stdout, stderr.

    Raises:
        RuntimeNotFound: the runtime is unknown or not installed.
        OSError: fork or the runtime's exec failed (``filename`` names the binary).
    """
    state_root.mkdir(parents=True, exist_ok=True)
    pid_file = state_root / f"{container_id}.pid"
    pid_file.unlink(missing_ok=True)
    argv = command(runtime, bundle, container_id, state_root=state_root, pid_file=pid_file)
    private_cgroupfs = runtime == "crun" and is_hybrid_cgroup()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover — the child execs or reports through err_w
        os.close(err_r)
        _child(argv, stdio, err_w, private_cgroupfs=private_cgroupfs)
    os.close(err_w)
    report = b""
    while chunk := os.read(err_r, 4096):  # EOF: execve succeeded (the pipe is O_CLOEXEC)
        report += chunk
    os.close(err_r)
    if report:
        os.waitpid(pid, 0)
        code, _, message = report.decode(errors="replace").partition(" ")
        raise OSError(int(code) if code.isdigit() else 0, message, argv[0])
    return External(runtime=runtime, container_id=container_id, pid=pid, pid_file=pid_file)


def _child(argv: list[str], stdio: tuple[int, int, int], err_w: int, *,
           private_cgroupfs: bool) -> None:
    try:
        if private_cgroupfs:
            _hide_unified()
        # dup first, then dup2: a target (0, 1, 2) may itself be one of the sources
        copies = [os.dup(fd) for fd in stdio]
        for target, fd in enumerate(copies):
            os.dup2(fd, target)  # dup2's copy is inheritable
        for fd in copies:
            if fd > 2:
                os.close(fd)
        os.execv(argv[0], argv)
    except OSError as err:
        os.write(err_w, f"{err.errno or 0} {err.strerror or err}".encode(errors="replace"))
    except BaseException as err:  # noqa: BLE001 — nothing may unwind into the monitor's code
        os.write(err_w, f"0 {type(err).__name__}: {err}".encode(errors="replace"))
    os._exit(125)


def _hide_unified() -> None:
    """A private mount namespace without the cgroup2 mount, for crun on a hybrid host."""
    from pyker.kernel.mount import MountFlag, UmountFlag, mount, umount2
    from pyker.kernel.namespaces import CloneFlag, unshare

    unshare(CloneFlag.CLONE_NEWNS)
    mount(None, "/", None, MountFlag.MS_REC | MountFlag.MS_PRIVATE)  # nothing leaks to the host
    umount2(UNIFIED, UmountFlag.MNT_DETACH)
