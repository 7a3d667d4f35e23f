"""Starting a container's process for its monitor: the init forked into its namespaces
and cgroup (or runc/crun handed the bundle), its stdio wired (pipes, or a pty the init opens
on the container's own devpts), and its exec awaited: an error report on a CLOEXEC pipe, or
EOF when ``execve`` succeeded.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from pyker.runtime import init as container_init
from pyker.runtime import cgroup_bridge, pidns, userns

if TYPE_CHECKING:
    from pyker.runtime.monitor import Plan


@dataclass(slots=True)
class Started:
    pid: int              # the process to wait for (the init, or runc/crun running it)
    stdin: int | None     # write end, or the pty master
    outputs: dict[int, str]  # read fds -> stream name
    container_pid: int = 0   # the container's init when ``pid`` is an external runtime
    signal_pid: int = 0      # where forwarded signals go, when not ``pid`` (userns helper)


class StartFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _pipe() -> tuple[int, int]:
    return os.pipe2(os.O_CLOEXEC)


def _console_size(master: int) -> None:
    """The container's terminal gets the user's size (a foreground ``-t`` on a terminal)."""
    import fcntl
    import termios

    if os.isatty(0):
        fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, bytes(8)))


def _receive_console(sock: socket.socket) -> int | None:
    """The pty master the init opened on the container's own devpts (runc's console socket)."""
    try:
        _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    except OSError:
        return None
    finally:
        sock.close()
    return fds[0] if fds else None


def _pipes(interactive: bool) -> tuple[tuple[int, int, int], dict[int, str], int | None]:
    out_r, out_w = _pipe()
    errs_r, errs_w = _pipe()
    if interactive:
        in_r, stdin = _pipe()
    else:
        in_r, stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
    return (in_r, out_w, errs_w), {out_r: "stdout", errs_r: "stderr"}, stdin


def spawn_external(plan: Plan) -> Started:
    """The same bundle run by runc or crun (the OCI spec is the seam): they own the cgroup."""
    from pyker.errors import PykerError
    from pyker.runtime import oci_runtime

    stdio, outputs, stdin = _pipes(plan.interactive)
    try:
        ext = oci_runtime.spawn_external(plan.container_id, plan.runtime, plan.bundle,
                                         state_root=plan.state_root, stdio=stdio)
    finally:
        for fd in set(stdio):
            os.close(fd)
    try:
        container_pid = ext.container_pid()
    except PykerError as err:
        raise StartFailed(125, str(err)) from err
    return Started(pid=ext.pid, stdin=stdin, outputs=outputs, container_pid=container_pid)


def spawn(plan: Plan, cgroup) -> Started:
    """Fork the container's init into a new PID namespace, in its cgroup; wait for its exec."""
    if plan.runtime != "pyker":
        return spawn_external(plan)
    go_r, go_w = _pipe()
    err_r, err_w = _pipe()
    console = None
    if plan.tty:
        # The pty is opened by the init *inside* the container (its devpts instance), so
        # that `tty` there names /dev/pts/0; the master comes back over this socket.
        console, console_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stdio, outputs, stdin = None, {}, None
    else:
        stdio, outputs, stdin = _pipes(plan.interactive)
    # With a user namespace, a helper creates it and forks the init (pyker.runtime.userns):
    # the PID namespace must be the new user namespace's, not one the monitor would make.
    helper = userns.Helper() if userns.new_user_namespace(plan.spec) else None
    join_files = cgroup_bridge.self_join_files(cgroup, user_namespace=helper is not None)
    pid_ns = next((ns for ns in plan.spec.linux.namespaces if ns.type == "pid"), None)
    if helper is None and pid_ns is not None:
        if pid_ns.path:  # --pid container:NAME: the init joins that container's namespace
            pidns.join_for_children(pid_ns.path)
        else:
            pidns.new_for_children()
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(err_r)
        if console is not None:
            console.close()

        def start_init() -> NoReturn:
            container_init.run(plan.spec, rootfs=plan.rootfs, stdio=stdio,
                               console=console_child if plan.tty else None, go_fd=go_r,
                               err_fd=err_w, seccomp=plan.seccomp, joined=helper is not None,
                               join_files=join_files or ())

        if helper is not None:
            try:  # while still the host's root: a namespace it owns can be joined only now
                container_init.join_namespaces(plan.spec)
            except OSError as err:
                container_init._fail(err_w, 125, str(err))
            helper.run(start_init, lambda message: container_init._fail(err_w, 125, message))
        start_init()
    os.close(go_r)
    os.close(err_w)
    if console is not None:
        console_child.close()
    for fd in set(stdio or ()):
        os.close(fd)
    init = pid
    refused: Exception | None = None
    try:
        if helper is not None:
            init = helper.start(pid, plan.spec)
        if init:
            # The init builds its mounts meanwhile and waits for "go" before anything that
            # needs its cgroup (pyker.runtime.init._join_cgroup).
            try:
                if cgroup is not None and not join_files:
                    cgroup.add_process(init)
            except Exception as err:  # noqa: BLE001 — reported below, with the init's own words
                refused = err
            else:
                try:
                    os.write(go_w, b"1")
                except BrokenPipeError as err:  # the init failed first: its report says why
                    refused = err
    finally:
        os.close(go_w)  # without "go", the init exits 125
    if console is not None:
        master = _receive_console(console)
        if master is not None:
            if plan.foreground:
                _console_size(master)
            outputs, stdin = {master: "stdout"}, master
    report = b""
    while chunk := os.read(err_r, 4096):  # EOF: execve succeeded (the pipe is O_CLOEXEC)
        report += chunk
    os.close(err_r)
    if report or not init or refused is not None:
        os.waitpid(pid, 0)
        if not report and refused is not None:
            raise StartFailed(125, f"cannot join the container's cgroup: {refused}")
        code, _, message = report.decode(errors="replace").partition(" ")
        raise StartFailed(int(code) if code.isdigit() else 125,
                          message or "user namespace: the helper exited before the init started")
    if init == pid:
        return Started(pid=pid, stdin=stdin, outputs=outputs)
    # The helper relays the init's exit status; signals go to the init itself.
    return Started(pid=pid, stdin=stdin, outputs=outputs, container_pid=init, signal_pid=init)


def exit_status(wait_status: int) -> tuple[int, int]:
    """(exit code as a shell reports it, signal number or 0)."""
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        return 128 + sig, sig
    return os.WEXITSTATUS(wait_status), 0
