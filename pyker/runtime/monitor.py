"""The monitor: the small process that owns one container's life (conmon's role).

It is forked from the CLI (no new interpreter to start), starts the container's init in its
cgroup (pyker.runtime.spawn), relays its output to the logging driver (and, for a foreground
run, to the user's terminal), runs its health checks, serves its embedded DNS, waits for it, records how it ended (exit code, signal, OOM kill, times), applies
the restart policy, and cleans up: cgroup, rootfs mount, and with ``--rm`` the whole
container. A foreground ``pyker run`` waits for the monitor and exits with its status; a
detached one returns once the monitor reports the container started.
"""

from __future__ import annotations

import os
import selectors
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pyker import events
from pyker.kernel.fds import null_stdio
from pyker.runtime import pidns, userns
from pyker.runtime.attach import listen
from pyker.runtime.relay import Relay
from pyker.runtime.spawn import StartFailed, exit_status, spawn
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


class Front(Protocol):
    """Who waits in front of a foreground monitor: told once, of a detach or of the end."""

    def detached(self, why: bytes) -> None:
        """b"d": ctrl-p ctrl-q, the container goes on alone; b"p": stdout's reader is gone."""

    def ended(self, code: int) -> None:
        """The container's final exit code, the container cleaned up (removed, with --rm)."""


class PipeFront:
    """The CLI that forked this monitor, reading a pipe (launch._foreground): ``d``, ``p``,
    or ``e`` and the code's byte."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def detached(self, why: bytes) -> None:
        os.write(self.fd, why)
        os.close(self.fd)

    def ended(self, code: int) -> None:
        try:
            os.write(self.fd, b"e" + bytes([code & 0xFF]))
        except OSError:  # the CLI is gone
            pass


def _flush_quietly() -> None:
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # its reader is gone, or it is closed
            pass


class Monitor:
    def __init__(self, plan: Plan, store: ContainerStore, cgroup,
                 front: Front | None = None, signal_fd: int | None = None) -> None:
        self.plan, self.store, self.cgroup = plan, store, cgroup
        self.child = 0
        self.signal_fd = signal_fd  # a foreground CLI's signals (launch._foreground)
        self.dns = None             # the embedded DNS server, on user networks
        self.relay: Relay | None = None
        self.trash: Path | None = None  # a removed container's files, deleted last
        self.network_release = None  # its network's release, begun in a helper (aside)
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)
        self.front = front
        self.server = listen(plan.attach_socket) if plan.attach_socket else None

    def detach(self, why: bytes = b"d") -> None:
        """ctrl-p ctrl-q in a foreground ``run -it`` (``why`` b"d"), or the CLI's stdout
        closed by its reader (b"p"): leave the terminal, keep the container.

        A session of its own keeps the terminal's hangup and Ctrl-C away from the monitor;
        the waiting CLI (its front) learns it and exits.
        """
        self.plan = replace(self.plan, foreground=False, interactive=False)
        try:
            os.setsid()
        except OSError:
            pass
        null_stdio()
        if self.front is not None:
            self.front.detached(why)
            self.front = None
        self._own_signals()

    def ended(self, code: int) -> None:
        """Tell a foreground CLI the final exit code as soon as the container is cleaned
        up, before this process's own exit."""
        if self.front is not None:
            self.front.ended(code)
            self.front = None
            # What is left (deleting a --rm container's files, this process's exit) is
            # not the user's wait: a reader of the CLI's output (`| cat`, a notebook) gets
            # its EOF now rather than when this copy of its descriptors goes.
            _flush_quietly()
            null_stdio()

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
        if self.plan.runtime == "pyker" and not userns.new_user_namespace(self.plan.spec):
            pidns.own_for_children()  # before the cleanup starts a thread or a process
        self._release_network()
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
        code, _ = exit_status(status)
        oom = bool(self.cgroup is not None and self.cgroup.oom_killed())
        self._died(code, oom, int(time.monotonic() - started_at))
        return code, oom

    def _release_network(self) -> None:
        """The container is gone and will not start again here: its network can go now,
        overlapping the rest of the cleanup (which waits for it). All of it in a helper
        process when there is one (``network_release``); else its veths' deletion, the
        slowest part, in a thread, and the rest in line (pyker.runtime.launch._finish)."""
        netns = self.plan.netns
        if self.plan.restart == "no" and netns and not netns.startswith("/proc/"):
            from pyker.runtime import aside, network_bridge

            container_dir = self.store.dir(self.plan.container_id)
            if self.plan.run_root is not None:
                self.network_release = aside.in_helper(
                    network_bridge.release,
                    network_bridge.Context.of(self.store, self.plan.run_root),
                    self.plan.container_id, container_dir)
            if self.network_release is None:
                network_bridge.release_links(container_dir)

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

    def stop_requested(self) -> bool:
        """A ``stop`` or ``kill`` marked the record: no restart until the next start."""
        record = self.store.load_raw(self.plan.container_id)
        return bool(record.options.get("stop_requested"))

    def should_restart(self, code: int, restarts: int) -> bool:
        if self.stop_requested():
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
