"""``exec``: a new process inside a running container, as ``runc exec`` builds it.

No new namespace is made: the process joins those of the container's init through the files
of ``/proc/<pid>/ns/`` (setns(2)), in two forks:

* the *joiner* (a child of the CLI) first makes itself non-dumpable, so that no process of the
  container can ptrace it or open its ``/proc/<pid>/exe`` and fds while it holds host
  resources (the CVE-2019-5736 class), then enters the container's user namespace if it has
  one (first: the others are owned by it, and joining it gives the capabilities to join
  them; the joiner becomes its root), then ipc, uts, net, pid, cgroup and mount —
  mount last, because it moves root and cwd, and every ``/proc/<pid>/ns`` file was opened
  before the first setns anyway. A PID namespace applies only to children (pid_namespaces(7)),
  so it forks;
* the *command* is that child: the CLI moves it into the container's cgroup while it waits,
  then it takes its stdio (a pty as controlling terminal with ``-t``), the working directory,
  and capabilities, no_new_privs and seccomp exactly as the init got them
  (:func:`pyker.runtime.privileges.drop` on the container's spec with this process's fields),
  closes every other descriptor and execs.

The joiner stays on the host's side of the PID namespace, waits for the command and exits
with its status; the CLI relays stdio (pyker.cli.execute, as Docker's CLI copies the streams and
puts the terminal in raw mode) and returns it. Everything the two children run after
setns is imported here first: once in the container's mount namespace, the host's Python
files are out of reach.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import termios
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

from pyker.errors import ExecError, PykerError
from pyker.kernel.namespaces import CloneFlag, setns
from pyker.kernel.prctl import set_dumpable
from pyker.runtime import init as container_init
from pyker.runtime import privileges
from pyker.runtime.privileges import InitError
from pyker.runtime.state import ContainerStore, Record, alive
from pyker.runtime.stats import StateConflict as NotRunning
from pyker.security import capabilities
from pyker.spec.runtime import Capabilities, Spec, User

#: Joined in this order; mount last (it changes root and cwd).
NAMESPACES = (("ipc", CloneFlag.CLONE_NEWIPC), ("uts", CloneFlag.CLONE_NEWUTS),
              ("net", CloneFlag.CLONE_NEWNET), ("pid", CloneFlag.CLONE_NEWPID),
              ("cgroup", CloneFlag.CLONE_NEWCGROUP), ("mnt", CloneFlag.CLONE_NEWNS))

#: Docker's prefix for a command that could not start (runc's words, through containerd).
#: <asm-generic/ioctls.h>: unlock a pty master; open its peer (Linux 4.13).
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441

START_FAILED = "OCI runtime exec failed: exec failed: unable to start container process: "


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecRequest:
    """What ``pyker exec`` was asked (Docker's ``ExecConfig``)."""

    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    interactive: bool = False
    tty: bool = False
    detach: bool = False


def running_pid(record: Record) -> int:
    """The host PID of a running, unpaused container's init.

    Raises:
        NotRunning: stopped, or paused (Docker's two messages).
    """
    s = record.state
    if s.status != "paused" and (s.status != "running" or not alive(s.pid, s.pid_start)):
        raise NotRunning(f"Container {record.id} is not running")
    if s.status == "paused":
        raise NotRunning(f"Container {record.id} is paused, unpause the container before exec")
    return s.pid


def _merge_env(base: tuple[str, ...], extra: tuple[str, ...], tty: bool) -> tuple[str, ...]:
    env: dict[str, str] = {}
    for item in base:
        key, _, value = item.partition("=")
        env[key] = value
    if tty and "TERM" not in env:
        env["TERM"] = "xterm"  # moby's CreateDaemonEnvironment, as for `run -t`
    for item in extra:
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
        elif key in os.environ:  # `-e NAME` takes the client's value, as Docker
            env[key] = os.environ[key]
    return tuple(f"{k}={v}" for k, v in env.items())


def exec_spec(spec: Spec, req: ExecRequest, rootfs: Path) -> Spec:
    """The container's spec with this exec's process fields (user resolved in ``rootfs``).

    Raises:
        ExecError: 126 when ``-u`` names a user the image does not have.
    """
    from pyker.runtime.users import resolve as resolve_user

    process = spec.process
    user, caps = process.user, process.capabilities
    if req.user:
        try:
            found = resolve_user(rootfs, req.user)
        except PykerError as err:
            raise ExecError(START_FAILED + str(err), 126) from err
        user = User(uid=found.uid, gid=found.gid, additional_gids=found.additional_gids,
                    umask=process.user.umask)
        if caps is not None:  # the same sets `run -u` would give this uid (specgen's rule)
            plan = capabilities.plan(caps.bounding, uid=user.uid)
            caps = Capabilities(**{k: tuple(sorted(getattr(plan, k))) for k in (
                "bounding", "effective", "inheritable", "permitted", "ambient")})
    return replace(spec, process=replace(
        process, args=req.args, env=_merge_env(process.env, req.env, req.tty),
        cwd=req.workdir or process.cwd, user=user, capabilities=caps, terminal=req.tty))


@dataclass(frozen=True, slots=True)
class _Pipes:
    stdio: tuple[int, int, int]    # the command's 0, 1, 2
    ours: dict[int, str]           # fds the CLI reads -> stream name
    stdin: int | None              # where the CLI writes the user's input (or pty master)


def _stdio(req: ExecRequest) -> _Pipes:
    if req.detach:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        return _Pipes((null, null, null), {}, None)
    if req.tty:  # the pty comes from the container's own devpts, once the joiner is in
        return _Pipes((), {}, None)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    if req.interactive:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
    else:
        in_r, in_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
    return _Pipes((in_r, out_w, err_w), {out_r: "stdout", err_r: "stderr"}, in_w)


def _cli_side(pipes: _Pipes) -> set[int]:
    return {*pipes.ours, *(() if pipes.stdin is None else (pipes.stdin,))}


def _own(pid: int, name: str) -> bool:
    """Whether the container has namespace ``name`` of its own (not the host's)."""
    return os.stat(f"/proc/{pid}/ns/{name}").st_ino != os.stat(f"/proc/self/ns/{name}").st_ino


NS_GET_USERNS = 0xB701  # <linux/nsfs.h> _IO(0xb7, 0x1): the owning user namespace, as an fd


def _host_owned(fd: int) -> bool:
    """Whether the namespace open on ``fd`` belongs to the host's user namespace."""
    owner = fcntl.ioctl(fd, NS_GET_USERNS, 0)
    try:
        return os.fstat(owner).st_ino == os.stat("/proc/self/ns/user").st_ino
    finally:
        os.close(owner)


def _open_namespaces(pid: int, start: int) -> list[tuple[int, CloneFlag]]:
    # A user namespace before the namespaces it owns: joining it gives the capabilities that
    # joining them requires (setns(2)); the joiner then becomes its root. A namespace the host
    # owns (a bridge network's, made before the container) is joined before it, while the
    # joiner is still the host's root. Namespaces the container shares with the host are not
    # joined: from inside a user namespace that would be refused, and it is a no-op anyway.
    names = [(name, flag) for name, flag in (("user", CloneFlag.CLONE_NEWUSER), *NAMESPACES)
             if _own(pid, name)]
    fds = [(os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag)
           for name, flag in names]
    if fds and fds[0][1] == CloneFlag.CLONE_NEWUSER:
        first = [(fd, flag) for fd, flag in fds[1:] if _host_owned(fd)]
        fds = first + [item for item in fds if item not in first]
    if not alive(pid, start):  # the PID was reused between the record and the open
        for fd, _ in fds:
            os.close(fd)
        raise NotRunning(f"Container with PID {pid} is not running")
    return fds


@dataclass(slots=True)
class Running:
    joiner: int        # the CLI's child; exits with the command's status
    command: int       # the command's host PID
    pipes: _Pipes
    stdin: int | None  # pipes.stdin while open (None once EOF has been passed on)


def start(record: Record, spec: Spec, req: ExecRequest, cgroup) -> Running:
    """Fork the joiner, put the command in ``cgroup``, and return once it has exec'd.

    Raises:
        ExecError: 127/126 (not found, not executable) with Docker's message; 125 otherwise.
    """
    ns_fds = _open_namespaces(record.state.pid, record.state.pid_start)
    pipes = _stdio(req)
    console = socket.socketpair() if req.tty and not req.detach else None
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    joiner = os.fork()
    if joiner == 0:
        for fd in (pid_r, go_w, err_r, *_cli_side(pipes)):
            os.close(fd)
        if console is not None:
            console[0].close()
        _joiner(spec, req, ns_fds, pipes.stdio, console=console and console[1], pid_w=pid_w,
                go_r=go_r, err_w=err_w)
    for fd in (pid_w, go_r, err_w, *set(pipes.stdio), *(fd for fd, _ in ns_fds)):
        os.close(fd)
    if console is not None:
        pipes = _receive_pty(console)
    try:
        command = int(os.read(pid_r, 32) or b"0")
        if command:
            cgroup.add_process(command)
            os.write(go_w, b"1")
    finally:
        os.close(pid_r)
        os.close(go_w)
    _check_started(err_r, joiner, pipes)
    return Running(joiner=joiner, command=command, pipes=pipes, stdin=pipes.stdin)


def _receive_pty(console: tuple[socket.socket, socket.socket]) -> _Pipes:
    """The pty master the joiner opened in the container (no fd: it failed, and says why)."""
    console[1].close()
    _, fds, _, _ = socket.recv_fds(console[0], 1, 1)
    console[0].close()
    return _Pipes((), {fds[0]: "stdout"}, fds[0]) if fds else _Pipes((), {}, None)


def _check_started(err_r: int, joiner: int, pipes: _Pipes) -> None:
    report = b""
    while chunk := os.read(err_r, 4096):  # EOF: execve succeeded (the pipe is O_CLOEXEC)
        report += chunk
    os.close(err_r)
    if report:
        os.waitpid(joiner, 0)
        for fd in _cli_side(pipes):
            os.close(fd)
        code, _, message = report.decode(errors="replace").partition(" ")
        raise ExecError(START_FAILED + message, int(code) if code.isdigit() else 125)


def _joiner(spec: Spec, req: ExecRequest, ns_fds: list[tuple[int, CloneFlag]],
            stdio: tuple[int, ...], *, console: socket.socket | None, pid_w: int, go_r: int,
            err_w: int) -> NoReturn:
    """Runs in the CLI's child: join the namespaces, fork the command, wait for it."""
    try:
        set_dumpable(False)  # before any namespace: nothing inside may ptrace or /proc us
        if req.detach:
            os.setsid()  # outlive the CLI and its terminal
        for fd, flag in ns_fds:
            setns(fd, flag)
            os.close(fd)
            if flag == CloneFlag.CLONE_NEWUSER:
                os.setresgid(0, 0, 0)  # root of the namespace, not the unmapped host root
                os.setgroups([])
                os.setresuid(0, 0, 0)
        if console is not None:
            stdio = _pty(console, spec.process.user.uid)
        command = os.fork()
        if command == 0:
            os.close(pid_w)
            _command(spec, req, stdio, go_r=go_r, err_w=err_w)
        os.write(pid_w, str(command).encode())
        os.close(pid_w)
        for fd in (go_r, err_w, *set(stdio)):
            os.close(fd)
        _, status = os.waitpid(command, 0)
        os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
    except BaseException as err:  # noqa: BLE001 — a forked child must never unwind
        container_init._fail(err_w, 125, _describe(err))


def _pty(console: socket.socket, uid: int) -> tuple[int, int, int]:
    """A pty of the container's devpts (so ``tty`` names it there); the master goes to the CLI.

    As runc's console socket: the master is opened from inside the mount namespace and
    passed back with SCM_RIGHTS, the slave is its peer (TIOCGPTPEER: no path lookup an
    attacker could race) and belongs to the command's user.
    """
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt(3)
    slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
    os.fchown(slave, uid, -1)
    socket.send_fds(console, [b"m"], [master])
    os.close(master)
    console.close()
    return slave, slave, slave


def _command(spec: Spec, req: ExecRequest, stdio: tuple[int, int, int], *, go_r: int,
             err_w: int) -> NoReturn:
    """The exec'd process: wait to be in the cgroup, then the init's last steps, then execve."""
    try:
        if os.read(go_r, 1) != b"1":  # the CLI died or failed to move us: never run unconfined
            os._exit(125)
        os.close(go_r)
        os.setsid()
        if req.tty:
            fcntl.ioctl(stdio[0], termios.TIOCSCTTY, 0)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        container_init._rlimits(spec)
        _chdir(spec.process.cwd)
        exe = container_init.find_executable(spec.process.args[0], spec.process.env)
        privileges.drop(spec)
        _chdir(spec.process.cwd)  # again as the user: a directory it may not enter fails here
        container_init.default_signals()
        os.closerange(3, err_w)
        os.closerange(err_w + 1, 65536)
        env = dict(e.split("=", 1) for e in spec.process.env)
        os.execve(exe, list(spec.process.args), env)
    except InitError as err:
        container_init._fail(err_w, err.code, str(err))
    except OSError as err:
        code = 126 if err.errno in (errno.EACCES, errno.ENOEXEC, errno.EPERM) else 125
        container_init._fail(err_w, code, _describe(err))
    except BaseException as err:  # noqa: BLE001
        container_init._fail(err_w, 125, _describe(err))


def _chdir(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as err:
        # runc's wording, which Docker passes through
        raise InitError(126, f'chdir to cwd ("{cwd}") set in config.json failed: '
                             f"{(err.strerror or str(err)).lower()}") from err


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError):
        return f"{err.filename}: {err.strerror}" if err.filename else str(err.strerror or err)
    return f"{type(err).__name__}: {err}"


def exec_in(store: ContainerStore, record: Record, req: ExecRequest) -> Running | None:
    """``pyker exec``: the started command, for the caller to relay (None when detached).

    Raises:
        NotRunning: the container is stopped or paused.
        ExecError: the command could not start (127 not found, 126 not executable).
    """
    import sys

    from pyker.cgroups import manager_for, migration
    from pyker.runtime.cgroup_bridge import path_of

    migration.warm()  # the command's move into the cgroup comes in a few ms
    pid = running_pid(record)
    spec = Spec.load(store.dir(record.id) / "bundle" / "config.json")
    xspec = exec_spec(spec, req, Path(f"/proc/{pid}/root"))
    cgroup = manager_for(spec.linux.cgroups_path or path_of(record.id))
    sys.stdout.flush()
    sys.stderr.flush()
    running = start(record, xspec, req, cgroup)
    return None if req.detach else running
