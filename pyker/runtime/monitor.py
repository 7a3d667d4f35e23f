"""The monitor: the small process that owns one container's life (conmon's role).

It is forked from the CLI (no new interpreter to start), puts the container's init in its
cgroup, relays its output to the json-lines log (and, for a foreground run, to the user's
terminal), waits for it, records how it ended (exit code, signal, OOM kill, times), applies
the restart policy, and cleans up: cgroup, rootfs mount, and with ``--rm`` the whole
container. A foreground ``pyker run`` waits for the monitor and exits with its status; a
detached one returns once the monitor reports the container started.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pyker import events
from pyker.runtime import init as container_init
from pyker.runtime import pidns, userns
from pyker.runtime.attach import listen
from pyker.runtime.relay import Relay
from pyker.runtime.logs import rfc3339_nano
from pyker.runtime.state import ContainerStore, process_start_time
from pyker.spec.runtime import Spec

if TYPE_CHECKING:
    from pyker.spec.image import Healthcheck

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
    attach_socket: Path | None = None
    seccomp: bytes | None = None  # the compiled filter (privileges.seccomp_program)
    runtime: str = "pyker"        # or "runc"/"crun": the same bundle, another runtime
    bundle: Path | None = None
    state_root: Path | None = None
    run_root: Path | None = None
    netns: str = ""                      # the network namespace pyker prepared, if any
    dns_networks: tuple[str, ...] = ()   # user networks: the monitor serves 127.0.0.11
    dns_upstreams: tuple[str, ...] = ()  # --dns servers, else the host's
    healthcheck: Healthcheck | None = None  # image's HEALTHCHECK + --health-* (health.effective)
    shell: tuple[str, ...] = ()          # the image's SHELL: a CMD-SHELL probe runs under it


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
                               err_fd=err_w, seccomp=plan.seccomp, joined=helper is not None)

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
                if cgroup is not None:
                    cgroup.add_process(init)
            except Exception as err:  # noqa: BLE001 — reported below, with the init's own words
                refused = err
            else:
                os.write(go_w, b"1")
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


class Monitor:
    def __init__(self, plan: Plan, store: ContainerStore, cgroup,
                 detach_fd: int | None = None, signal_fd: int | None = None) -> None:
        self.plan, self.store, self.cgroup = plan, store, cgroup
        self.child = 0
        self.signal_fd = signal_fd  # a foreground CLI's signals (launch._foreground)
        self.dns = None             # the embedded DNS server, on user networks
        self.relay: Relay | None = None
        self._wake_r, self._wake_w = _pipe()
        self.detach_fd = detach_fd
        self.server = listen(plan.attach_socket) if plan.attach_socket else None

    def detach(self) -> None:
        """ctrl-p ctrl-q in a foreground ``run -it``: leave the terminal, keep the container.

        A session of its own keeps the terminal's hangup and Ctrl-C away from the monitor;
        the waiting CLI learns it through the detach pipe and exits.
        """
        self.plan = replace(self.plan, foreground=False, interactive=False)
        try:
            os.setsid()
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.close(null)
        if self.detach_fd is not None:
            os.write(self.detach_fd, b"d")
            os.close(self.detach_fd)
            self.detach_fd = None
        self._own_signals()

    def _own_signals(self) -> None:
        """No CLI in front any more (detached, or it died): signals sent to the monitor
        itself are the container's."""
        if self.signal_fd is not None:
            if self.relay is not None:
                self.relay.sel.unregister(self.signal_fd)
            os.close(self.signal_fd)
            self.signal_fd = None
        for sig in FORWARDED:
            signal.signal(sig, self._forward_signal)

    def _cli_signals(self, fd: int) -> None:
        if fd != self.signal_fd:  # closed by a detach handled in the same select round
            return
        received = os.read(fd, 64)
        if not received:
            self._own_signals()
        for signum in received:
            self._forward_signal(signum, None)

    def install_signals(self) -> None:
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        # In front of a CLI, the terminal's signals reach the monitor too (one process
        # group): only the CLI's copies, from the pipe, are passed on. A handler that does
        # nothing, not SIG_IGN, which the container's process would inherit through exec.
        direct = self._forward_signal if self.signal_fd is None else (lambda *_: None)
        for sig in FORWARDED:
            signal.signal(sig, direct)

    def _forward_signal(self, signum: int, _frame: object) -> None:
        if self.child:
            try:
                os.kill(self.child, signum)
            except ProcessLookupError:
                pass

    def run_once(self, ready: Callable[[], None]) -> tuple[int, bool]:
        """Start the container, relay until it exits; (exit code, OOM killed)."""
        if self.plan.dns_networks and self.dns is None:  # bound before the container asks
            from pyker.runtime.network_bridge import dns_server

            self.dns = dns_server(self.store.root.parent, self.plan.container_id,
                                  self.plan.netns, self.plan.dns_upstreams)
        log = self._log_writer()  # before the start: a driver that cannot log fails it
        started = spawn(self.plan, self.cgroup)
        self.child = started.signal_pid or started.pid
        shown = started.container_pid or started.pid  # what kill/stop/top must reach
        prober = self._prober()  # records "starting" before anyone can see "running"
        # Not durable: after a crash a running PID means nothing (the record reads exited).
        record = self.store.update_state(
            self.plan.container_id, durable=False, status="running",
            pid=shown, pid_start=process_start_time(shown), error="",
            started_at=rfc3339_nano(), exit_code=0, oom_killed=False,
            monitor_pid=os.getpid(), monitor_start=process_start_time(os.getpid()),
            health=prober.health if prober is not None else None)
        started_at = time.monotonic()
        events.container(self.store.root.parent, "start", record)  # before run -d returns
        ready()
        relay = self.relay = Relay(self.plan, started, log, self.server, self.detach)
        relay.sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        if self.signal_fd is not None:
            relay.sel.register(self.signal_fd, selectors.EVENT_READ, self._cli_signals)
        dns = self._serve_dns(relay)
        if prober is not None:
            prober.attach(relay.sel)
        status = None
        while status is None:
            deadline = min((d for d in (dns and dns.next_deadline(),
                                        prober and prober.next_deadline()) if d is not None),
                           default=None)
            relay.pump(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if dns is not None:
                dns.expire()
            if prober is not None:
                prober.tick()  # a probe due: started, its result read from the loop later
            pid, wait_status = os.waitpid(started.pid, os.WNOHANG)
            if pid:
                status = wait_status
        relay.sel.unregister(self._wake_r)
        if self.signal_fd is not None:
            relay.sel.unregister(self.signal_fd)
        if dns is not None:
            relay.sel.unregister(dns.fileno())
            relay.sel.unregister(dns.upstream_fileno())
        if prober is not None:
            prober.stop()
        self.relay = None
        relay.drain()
        log.close()
        if started.stdin is not None and started.stdin not in started.outputs:
            os.close(started.stdin)  # with a tty it is the master, closed with the output
        self.child = 0
        if self.plan.runtime == "pyker" and not userns.new_user_namespace(self.plan.spec):
            pidns.own_for_children()
        code, _ = exit_status(status)
        oom = bool(self.cgroup is not None and self.cgroup.oom_killed())
        self._died(code, oom, int(time.monotonic() - started_at))
        return code, oom

    def _died(self, code: int, oom: bool, seconds: int) -> None:
        """Docker's ``oom`` then ``die`` events; before the exit is recorded, so that who
        sees the container exited (stop, wait) finds them in the journal."""
        from pyker.errors import ContainerNotFound

        try:
            record = self.store.load_raw(self.plan.container_id)  # renamed meanwhile?
        except ContainerNotFound:
            return
        if oom:
            events.container(self.store.root.parent, "oom", record)
        events.container(self.store.root.parent, "die", record, exitCode=str(code),
                         execDuration=str(seconds))

    def _log_writer(self):
        """The writer of the container's logging driver (pyker.runtime.logdrivers)."""
        from pyker.errors import PykerError
        from pyker.runtime import logdrivers

        try:
            return logdrivers.open_writer(self.store.load_raw(self.plan.container_id),
                                          self.plan.log_path.parent)
        except (PykerError, OSError) as err:
            raise StartFailed(125, f"failed to initialize logging driver: {err}") from err

    def _prober(self):
        """The container's health checks (pyker.runtime.health), when it has a probe."""
        if self.plan.healthcheck is None:
            return None
        from pyker.runtime.health import Prober

        return Prober.create(self.store, self.plan.container_id, self.plan.healthcheck,
                             self.plan.shell)

    def _serve_dns(self, relay: Relay):
        """Answer 127.0.0.11 in the container's namespace from this loop (user networks)."""
        if self.dns is None:
            return None
        relay.sel.register(self.dns.fileno(), selectors.EVENT_READ,
                           lambda _fd: self.dns.handle_readable())
        relay.sel.register(self.dns.upstream_fileno(), selectors.EVENT_READ,
                           lambda _fd: self.dns.handle_upstream())
        return self.dns

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
