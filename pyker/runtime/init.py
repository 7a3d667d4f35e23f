"""The container's first process: the ordered setup between fork(2) and execve(2).

The monitor has already called ``unshare(CLONE_NEWPID)``, so this process is PID 1 of a new
PID namespace (pid_namespaces(7)) — with a user namespace, the monitor's helper did, already
root of that user namespace, so that every namespace made here is owned by it (see
pyker.runtime.userns). Then:

 1. a new session (setsid) and the stdio descriptors (a terminal comes after step 3);
 2. the other namespaces: mount, UTS, IPC, network (unless ``--network host``);
 3. the filesystem view (pyker.runtime.rootfs): mounts and devices, the cgroup view,
    pivot_root, masked paths;
 4. hostname, sysctls, rlimits, OOM score;
 5. the working directory and the executable, looked up in the container's own PATH;
 6. the monitor's "go", then its cgroup: on v1 it moves itself there (through the ``tasks``
    files it opened before pivot_root), else the monitor has moved it before saying go
    (with a cgroup namespace of its own: before the cgroup view of step 3, then the
    namespace is made);
 7. seccomp, capabilities and the user (in the order that keeps each step possible);
 8. every descriptor but stdio closed, then execve.

Everything this process runs is imported before it forks: after pivot_root the host's
Python files are out of reach. Any failure is written to the error pipe as ``<exit code> <message>`` and the process exits:
the monitor reports it (127 command not found, 126 not executable, 125 anything else, as
Docker). A successful execve closes the pipe (it is O_CLOEXEC): the monitor reads EOF.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import socket
import termios
from pathlib import Path
from typing import NoReturn

from pyker.kernel.namespaces import CloneFlag, sethostname, setns, unshare
from pyker.kernel.netif import set_up
from pyker.kernel.signals import reset_all
from pyker.runtime import privileges
from pyker.runtime import rootfs as container_fs
from pyker.runtime.privileges import InitError
from pyker.spec.runtime import Spec

NAMESPACE_FLAGS = {"mount": CloneFlag.CLONE_NEWNS, "uts": CloneFlag.CLONE_NEWUTS,
                   "ipc": CloneFlag.CLONE_NEWIPC, "network": CloneFlag.CLONE_NEWNET}
NS_PROC_NAMES = {"mount": "mnt", "uts": "uts", "ipc": "ipc", "network": "net"}


def join_namespaces(spec: Spec) -> None:
    """Enter the namespaces the spec names by path (a network namespace pyker prepared, or
    another container's: ``--network container:NAME``), unless already in them. With a user
    namespace, its helper joins them first, while it still has the host's privileges (a
    namespace the host owns cannot be joined from inside, nor its pinned file reached)."""
    for ns in spec.linux.namespaces:
        if ns.path and ns.type in NAMESPACE_FLAGS:
            proc = f"/proc/self/ns/{NS_PROC_NAMES[ns.type]}"
            if os.stat(ns.path).st_ino == os.stat(proc).st_ino:
                continue
            fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                setns(fd, NAMESPACE_FLAGS[ns.type])
            finally:
                os.close(fd)


def _unshare(spec: Spec) -> None:
    flags = CloneFlag(0)
    for ns in spec.linux.namespaces:
        if ns.type in NAMESPACE_FLAGS and not ns.path:
            flags |= NAMESPACE_FLAGS[ns.type]
    if flags:
        unshare(flags)
    if flags & CloneFlag.CLONE_NEWNET:
        set_up("lo")


def _private_cgroupns(spec: Spec) -> bool:
    return any(ns.type == "cgroup" and not ns.path for ns in spec.linux.namespaces)


def _open_joins(join_files: tuple[Path, ...]) -> list[tuple[Path, int]]:
    """The host's cgroup files this process moves itself with, opened while the host's
    tree is still in view (before pivot_root)."""
    opened = []
    for path in join_files:
        try:
            opened.append((path, os.open(path, os.O_WRONLY | os.O_CLOEXEC)))
        except OSError as err:
            raise InitError(125, f"cannot join the container's cgroup: open {path}: "
                                 f"{err.strerror}") from err
    return opened


def _join_cgroup(spec: Spec, go_fd: int, joins: list[tuple[Path, int]]) -> None:
    """Wait for the monitor to move this process into the container's cgroup, or, with
    ``joins`` (v1: pyker.cgroups.v1.manager.V1Manager.self_join_files, see _open_joins),
    for its "go" and then move itself, which spares the wait described below.

    Moving a process between cgroups waits for an RCU grace period (the threadgroup rwsem):
    10-30 ms here, runc pays it too. The set-up that does not depend on the cgroup (mounts,
    pivot, hostname, limits: everything but privileges and exec, see :func:`run`) overlaps
    that wait instead of following it. Nothing of the container's own runs before the move.
    The cgroup namespace is made after the move, so that its root is the container's cgroup.
    """
    if os.read(go_fd, 1) != b"1":  # the monitor died or refused: do not run unconfined
        os._exit(125)
    os.close(go_fd)
    for path, fd in joins:
        try:
            os.write(fd, b"0")
        except OSError as err:
            raise InitError(125, f"cannot join the container's cgroup: write {path}: "
                                 f"{err.strerror}") from err
        finally:
            os.close(fd)
    if _private_cgroupns(spec):
        unshare(CloneFlag.CLONE_NEWCGROUP)


def _stdio(stdio: tuple[int, int, int]) -> None:
    os.setsid()
    for target, fd in enumerate(stdio):
        if fd != target:
            os.dup2(fd, target)


def _console(sock: socket.socket) -> None:
    """Open the terminal on the container's devpts, hand the master to the monitor, and make
    the slave this session's controlling terminal and stdio (runc's console socket)."""
    master, slave = os.openpty()
    socket.send_fds(sock, [b"m"], [master])
    os.close(master)
    sock.close()
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)


def _sysctl(spec: Spec) -> None:
    for key, value in spec.linux.sysctl.items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)


def _rlimits(spec: Spec) -> None:
    for rl in spec.process.rlimits:
        which = getattr(resource, rl.type)
        try:
            resource.setrlimit(which, (rl.soft, rl.hard))
        except (ValueError, PermissionError) as err:
            current = resource.getrlimit(which)[1]
            raise InitError(125, f"setrlimit {rl.type} {rl.soft}:{rl.hard}: {err} (this host's "
                                 f"hard limit is {current} and cannot be raised without "
                                 "CAP_SYS_RESOURCE)") from err


def _oom_score(spec: Spec) -> None:
    if spec.process.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(spec.process.oom_score_adj))


def find_executable(name: str, env: tuple[str, ...]) -> str:
    """``name`` resolved like execvp(3) in the container's PATH; 127/126 as Docker reports."""
    if "/" in name:
        candidates = [name]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), "/usr/bin:/bin")
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate):
            if not os.access(candidate, os.X_OK):
                raise InitError(126, f'exec: "{name}": permission denied')
            return candidate
    if "/" in name:
        if os.path.isdir(name):
            raise InitError(126, f'exec: "{name}": is a directory')
        raise InitError(127, f'exec: "{name}": stat {name}: no such file or directory')
    raise InitError(127, f'exec: "{name}": executable file not found in $PATH')


def _cwd(spec: Spec) -> None:
    # Docker creates a missing working directory (it is root's at this point), runc would fail.
    os.makedirs(spec.process.cwd, exist_ok=True)


def default_signals() -> None:
    """Every signal back to its default action, none blocked: the state Docker's processes
    start in. Python ignores SIGPIPE and SIGXFSZ at start-up, a parent may have ignored
    others (even glibc's own 32 and 33), and an ignored signal stays ignored across
    execve(2): without this, ``yes | head`` in the container would not end. Python's
    handlers are left behind too: its own table must not call a handler that is gone."""
    reset_all()


def _close_fds(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 65536)


def run(spec: Spec, *, rootfs: Path, stdio: tuple[int, int, int] | None,
        console: socket.socket | None, go_fd: int, err_fd: int,
        seccomp: bytes | None = None, joined: bool = False,
        join_files: tuple[Path, ...] = ()) -> NoReturn:
    """Become the container's process; never returns (exec or _exit)."""
    try:
        if stdio is not None:
            _stdio(stdio)
        if not joined:  # else a user namespace's helper did, before making it
            join_namespaces(spec)
        _unshare(spec)
        joins = _open_joins(join_files)
        container_fs.prepare(spec, rootfs=rootfs)
        # A cgroup namespace's root is the cgroup it is made in, and /sys/fs/cgroup is
        # mounted from inside it: then the move comes first. Else as late as can be, before
        # the privileges go (seccomp may deny even the read of the monitor's "go"): a move
        # by the monitor overlaps the set-up, and the pages this copy of the monitor writes
        # meanwhile are not charged to the container's memory.
        early = _private_cgroupns(spec)
        if early:
            _join_cgroup(spec, go_fd, joins)
        container_fs.mount_cgroups(spec, rootfs=rootfs)
        container_fs.pivot(rootfs)
        container_fs.finish(spec)
        if console is not None:
            _console(console)
        if spec.hostname:
            sethostname(spec.hostname)
        _sysctl(spec)
        _rlimits(spec)
        _oom_score(spec)
        _cwd(spec)
        exe = find_executable(spec.process.args[0], spec.process.env)
        if not early:
            _join_cgroup(spec, go_fd, joins)
        privileges.drop(spec, seccomp)
        os.chdir(spec.process.cwd)
        default_signals()
        _close_fds(err_fd)
        env = dict(e.split("=", 1) for e in spec.process.env)
        os.execve(exe, list(spec.process.args), env)
    except InitError as err:
        _fail(err_fd, err.code, str(err))
    except OSError as err:
        code = 126 if err.errno in (errno.EACCES, errno.ENOEXEC, errno.EPERM) else 125
        _fail(err_fd, code, str(err.strerror or err))
    except BaseException as err:  # noqa: BLE001 — nothing may escape a forked child
        _fail(err_fd, 125, f"{type(err).__name__}: {err}")


def _fail(err_fd: int, code: int, message: str) -> NoReturn:
    try:
        os.write(err_fd, f"{code} {message}".encode(errors="replace"))
    finally:
        os._exit(code)
