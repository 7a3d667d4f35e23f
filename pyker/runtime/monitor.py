"""The monitor: the small process that owns one container's life (conmon's role).

It is forked from the CLI (no new interpreter to start), puts the container's init in its
cgroup, relays its output to the json-lines log (and, for a foreground run, to the user's
terminal), waits for it, records how it ended (exit code, signal, OOM kill, times), applies
the restart policy, and cleans up: cgroup, rootfs mount, and with ``--rm`` the whole
container. A foreground ``pyker run`` waits for the monitor and exits with its status; a
detached one returns once the monitor reports the container started.
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyker.runtime import init as container_init
from pyker.runtime.logs import LogWriter, rfc3339_nano
from pyker.runtime.state import ContainerStore, process_start_time
from pyker.spec.runtime import Spec

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGWINCH)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """How to run one container (all paths absolute)."""

    container_id: str
    spec: Spec
    rootfs: Path
    log_path: Path
    foreground: bool      # relay output to the inherited stdout/stderr
    interactive: bool     # relay inherited stdin (or attach clients') to the container
    tty: bool
    restart: str = "no"
    max_retries: int = 0


@dataclass(slots=True)
class Started:
    pid: int
    stdin: int | None     # write end, or the pty master
    outputs: dict[int, str]  # read fds -> stream name


class StartFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _pipe() -> tuple[int, int]:
    return os.pipe2(os.O_CLOEXEC)


def spawn(plan: Plan, cgroup) -> Started:
    """Fork the container's init into a new PID namespace, in its cgroup; wait for its exec."""
    from pyker.kernel.namespaces import CloneFlag, unshare

    go_r, go_w = _pipe()
    err_r, err_w = _pipe()
    if plan.tty:
        master, slave = os.openpty()
        os.set_inheritable(slave, True)
        stdio, outputs, stdin = (slave, slave, slave), {master: "stdout"}, master
    else:
        out_r, out_w = _pipe()
        errs_r, errs_w = _pipe()
        if plan.interactive:
            in_r, stdin = _pipe()
        else:
            in_r, stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
        stdio, outputs = (in_r, out_w, errs_w), {out_r: "stdout", errs_r: "stderr"}
    if any(ns.type == "pid" and not ns.path for ns in plan.spec.linux.namespaces):
        # Only the *next* child enters the new namespace (as its PID 1); the monitor stays.
        unshare(CloneFlag.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(err_r)
        container_init.run(plan.spec, rootfs=plan.rootfs, stdio=stdio,
                           tty=stdio[0] if plan.tty else None, go_fd=go_r, err_fd=err_w)
    os.close(go_r)
    os.close(err_w)
    for fd in set(stdio):
        os.close(fd)
    try:
        if cgroup is not None:
            cgroup.add_process(pid)
        os.write(go_w, b"1")
    finally:
        os.close(go_w)
    report = b""
    while chunk := os.read(err_r, 4096):  # EOF: execve succeeded (the pipe is O_CLOEXEC)
        report += chunk
    os.close(err_r)
    if report:
        os.waitpid(pid, 0)
        code, _, message = report.decode(errors="replace").partition(" ")
        raise StartFailed(int(code) if code.isdigit() else 125, message)
    return Started(pid=pid, stdin=stdin, outputs=outputs)


def exit_status(wait_status: int) -> tuple[int, int]:
    """(exit code as a shell reports it, signal number or 0)."""
    if os.WIFSIGNALED(wait_status):
        sig = os.WTERMSIG(wait_status)
        return 128 + sig, sig
    return os.WEXITSTATUS(wait_status), 0


class Relay:
    """Moves bytes: container output → log (+ terminal), terminal input → container."""

    def __init__(self, plan: Plan, started: Started, log: LogWriter) -> None:
        self.plan, self.started, self.log = plan, started, log
        self.sel = selectors.DefaultSelector()
        for fd, stream in started.outputs.items():
            self.sel.register(fd, selectors.EVENT_READ, stream)
        if plan.interactive and plan.foreground and started.stdin is not None:
            os.set_blocking(0, False) if plan.tty else None
            self.sel.register(0, selectors.EVENT_READ, "stdin")
        self.open_outputs = len(started.outputs)

    def _forward(self, stream: str, data: bytes) -> None:
        self.log.write(stream, data)
        if self.plan.foreground:
            try:
                os.write(1 if stream == "stdout" else 2, data)
            except OSError:  # the user's terminal went away: the container goes on
                self.plan = _replace_foreground(self.plan)

    def pump(self, timeout: float | None) -> None:
        for key, _ in self.sel.select(timeout):
            fd, stream = key.fd, key.data
            if stream == "wake":  # a signal arrived: the caller checks its child
                _drain(fd)
                continue
            try:
                data = os.read(fd, 65536)
            except OSError as err:
                if err.errno == errno.EAGAIN:
                    continue
                data = b""  # EIO: the pty's last holder closed it
            if stream == "stdin":
                self._to_container(data)
            elif data:
                self._forward(stream, data)
            else:
                self.sel.unregister(fd)
                os.close(fd)
                self.open_outputs -= 1

    def _to_container(self, data: bytes) -> None:
        stdin = self.started.stdin
        if not data:
            self.sel.unregister(0)
            if not self.plan.tty and stdin is not None:
                os.close(stdin)  # EOF reaches the container (`echo hi | pyker run -i … cat`)
                self.started.stdin = None
            return
        if stdin is not None:
            try:
                os.write(stdin, data)
            except BrokenPipeError:
                pass

    def drain(self) -> None:
        while self.open_outputs:
            self.pump(0.2)
            if not self.sel.get_map():
                break


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _replace_foreground(plan: Plan) -> Plan:
    from dataclasses import replace

    return replace(plan, foreground=False)


class Monitor:
    def __init__(self, plan: Plan, store: ContainerStore, cgroup) -> None:
        self.plan, self.store, self.cgroup = plan, store, cgroup
        self.child = 0
        self._wake_r, self._wake_w = _pipe()

    def _install_signals(self) -> None:
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in FORWARDED:
            signal.signal(sig, self._forward_signal)

    def _forward_signal(self, signum: int, _frame: object) -> None:
        if self.child:
            try:
                os.kill(self.child, signum)
            except ProcessLookupError:
                pass

    def run_once(self, ready: Callable[[], None]) -> tuple[int, bool]:
        """Start the container, relay until it exits; (exit code, OOM killed)."""
        started = spawn(self.plan, self.cgroup)
        self.child = started.pid
        self.store.update_state(self.plan.container_id, status="running", pid=started.pid,
                                pid_start=process_start_time(started.pid), error="",
                                started_at=rfc3339_nano(), exit_code=0, oom_killed=False,
                                monitor_pid=os.getpid(),
                                monitor_start=process_start_time(os.getpid()))
        ready()
        log = LogWriter(self.plan.log_path)
        relay = Relay(self.plan, started, log)
        relay.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        status = None
        while status is None:
            relay.pump(None)
            pid, wait_status = os.waitpid(started.pid, os.WNOHANG)
            if pid:
                status = wait_status
        relay.sel.unregister(self._wake_r)
        relay.drain()
        log.close()
        if started.stdin is not None:
            os.close(started.stdin)
        self.child = 0
        code, _ = exit_status(status)
        oom = bool(self.cgroup is not None and self.cgroup.oom_killed())
        return code, oom

    def should_restart(self, code: int, restarts: int) -> bool:
        record = self.store.load_raw(self.plan.container_id)
        if record.options.get("stop_requested"):
            return False
        policy = self.plan.restart
        if policy in ("always", "unless-stopped"):
            return True
        if policy == "on-failure" and code != 0:
            return not self.plan.max_retries or restarts < self.plan.max_retries
        return False


def wait_flag(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.01)
    return False
