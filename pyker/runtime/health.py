"""Health checks: Docker's ``HEALTHCHECK`` run by the container's monitor (moby's
daemon/health.go).

The check is the image's ``HEALTHCHECK`` overridden field by field by ``run --health-*``
(:func:`effective`). While the container runs, its monitor starts one probe at a time,
``interval`` after the previous one ended: the test command runs inside the container exactly
as ``pyker exec`` runs one (:mod:`pyker.runtime.execute`), its output is kept (4096 bytes),
and past ``timeout`` its process group is killed. Exit 0 makes the container ``healthy``;
``retries`` failures in a row make it ``unhealthy`` (not counted in the ``start_period``
before a first success).

So as not to stall the monitor's loop (the container's output, DNS, exit), a probe runs in a
*runner*, a child of the monitor that drives the exec and its timeout and writes one JSON
result on a pipe the loop watches. It is forked once the monitor points its children back at
its own PID namespace (pid_namespaces(7)): exec keeps its joiner on the host's side.

The state is Docker's ``State.Health``. Only the monitor writes it, to ``health.json`` beside
the record (:meth:`pyker.runtime.state.ContainerStore.set_health`): a read-modify-write of the
whole record at every probe would race with ``stop``/``pause`` writing theirs.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from pyker.errors import UsageError
from pyker.runtime.health_runner import kill_group
from pyker.spec.image import Healthcheck

if TYPE_CHECKING:
    from pyker.runtime.state import ContainerStore

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND     # also the time before the first probe
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MIN_DURATION = 1_000_000           # Docker's container.MinimumDuration (1ms)
MAX_LOG = 5                        # results kept in State.Health.Log


# -- configuration ----------------------------------------------------------------------------

def effective(image: Healthcheck | None, run: Healthcheck | None) -> Healthcheck | None:
    """The container's check: ``run``'s fields, each unset one (empty, 0) taken from the
    image's (daemon/commit.go ``merge``); ``--no-healthcheck`` is ``("NONE",)``, never merged."""
    if image is None or run is None:
        return run or image
    return replace(run, test=run.test or image.test, interval=run.interval or image.interval,
                   timeout=run.timeout or image.timeout,
                   start_period=run.start_period or image.start_period,
                   retries=run.retries or image.retries)


def validate(check: Healthcheck) -> None:
    """The daemon's checks (daemon/container.go ``validateHealthCheck``).

    Raises:
        UsageError: a duration under 1ms (0 means "the default"), or negative retries.
    """
    for name, value in (("Interval", check.interval), ("Timeout", check.timeout),
                        ("StartPeriod", check.start_period),
                        ("StartInterval", getattr(check, "start_interval", 0))):
        if value and value < MIN_DURATION:
            raise UsageError(f"{name} in Healthcheck cannot be less than 1ms")
    if check.retries < 0:
        raise UsageError("Retries in Healthcheck cannot be negative")


def probe_argv(check: Healthcheck | None, shell: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """The command a probe execs, or None when nothing is probed (no check, ``NONE``, or a
    type Docker does not know). ``CMD-SHELL`` runs under the image's SHELL, else /bin/sh -c."""
    if check is None or not check.test or len(check.test) < 2:
        return None
    kind, args = check.test[0], check.test[1:]
    if kind == "CMD":
        return tuple(args)
    if kind == "CMD-SHELL":
        return (*(shell or ("/bin/sh", "-c")), *args)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """A check's durations (ns) and retries, Docker's defaults in place of unset ones."""

    interval: int = DEFAULT_INTERVAL
    timeout: int = DEFAULT_TIMEOUT
    start_period: int = DEFAULT_START_PERIOD
    start_interval: int = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES

    @classmethod
    def of(cls, check: Healthcheck) -> Timing:
        # The image spec's Healthcheck has no StartInterval field yet: Docker's default then.
        return cls(interval=check.interval or DEFAULT_INTERVAL,
                   timeout=check.timeout or DEFAULT_TIMEOUT,
                   start_period=check.start_period or DEFAULT_START_PERIOD,
                   start_interval=getattr(check, "start_interval", 0) or DEFAULT_START_INTERVAL,
                   retries=check.retries if check.retries > 0 else DEFAULT_RETRIES)


def go_duration_text(ns: int) -> str:
    """Go's ``time.Duration.String``: ``30s``, ``1m30s``, ``500ms``, ``1h0m0s``, ``1.5µs``."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < SECOND:
        for unit, scale in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if ns < scale * 1000:
                return sign + _decimal(ns, scale) + unit
    seconds = _decimal(ns % (60 * SECOND), SECOND) + "s"
    minutes, hours = ns // (60 * SECOND) % 60, ns // (3600 * SECOND)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    return f"{sign}{minutes}m{seconds}" if minutes else sign + seconds


def _decimal(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0") if scale > 1 else ""
    return f"{whole}.{digits}" if digits else str(whole)


# -- state transitions (pure) ---------------------------------------------------------------

def starting(previous: dict | None) -> dict:
    """At each start: ``starting``, no failure counted; the log of earlier runs is kept."""
    return {"Status": "starting", "FailingStreak": 0,
            "Log": list((previous or {}).get("Log", []))[-MAX_LOG:]}


def record_result(health: dict, result: dict, *, retries: int, in_start_period: bool) -> dict:
    """``health`` after one probe's ``result`` ({"Start", "End", "ExitCode", "Output"}).

    A success makes it healthy; a failure counts, unless the container is still starting
    (no success yet) within its start period; ``retries`` counted failures make it unhealthy.
    """
    log = [*health.get("Log", []), result][-MAX_LOG:]
    status, streak = health["Status"], health.get("FailingStreak", 0)
    if result["ExitCode"] == 0:
        status, streak = "healthy", 0
    elif not (status == "starting" and in_start_period):
        streak += 1
        if streak >= retries:
            status = "unhealthy"
    return {"Status": status, "FailingStreak": streak, "Log": log}


def stopped(health: dict) -> dict:
    """The monitoring stopped (the container exited, or was paused): Docker then reports
    ``unhealthy`` "for compatibility reasons" (container/health.go), log and streak kept."""
    return {**health, "Status": "unhealthy"}


def next_interval(timing: Timing, elapsed: int, status: str) -> int:
    """Nanoseconds until the next probe, ``elapsed`` ns after the container started.

    During the start period a container still starting is probed every ``start_interval``,
    and never past the end of that period (daemon/health.go ``getInterval``).
    """
    if elapsed >= timing.start_period:
        return timing.interval
    remaining = timing.start_period - elapsed
    if remaining < timing.interval:
        return remaining
    return timing.start_interval if status == "starting" else timing.interval


# -- the monitor's side -----------------------------------------------------------------------

@dataclass(slots=True)
class _Probe:
    runner: int            # the monitor's child that drives this probe
    fd: int                # the read end of its result pipe
    start: str             # RFC 3339, for the log entry
    started: float         # monotonic, for the start period
    received: bytearray = field(default_factory=bytearray)

    def command(self) -> int:
        """The probe command's host PID (its process group), once the runner announced it."""
        first, sep, _ = bytes(self.received).partition(b"\n")
        return int(first[4:]) if sep and first.startswith(b"pid ") else 0


class Prober:
    """Schedules a container's probes from its monitor's loop and records their results."""

    def __init__(self, store: ContainerStore, container_id: str, argv: tuple[str, ...],
                 timing: Timing) -> None:
        import importlib

        # What the runner calls is imported here, once: each runner is a fresh fork, which
        # would otherwise import it again at every probe.
        for module in ("cgroups", "runtime.cgroup_bridge", "runtime.execute", "runtime.users"):
            importlib.import_module("pyker." + module)

        self.store, self.container_id, self.argv, self.timing = store, container_id, argv, timing
        self.sel: selectors.BaseSelector | None = None
        self.probe: _Probe | None = None
        self.started = time.monotonic()
        self.health = starting(store.load_raw(container_id).state.health)
        store.set_health(container_id, self.health)
        self.due = self.started + next_interval(timing, 0, "starting") / SECOND

    @classmethod
    def create(cls, store: ContainerStore, container_id: str, check: Healthcheck | None,
               shell: tuple[str, ...] = ()) -> Prober | None:
        """A prober that has recorded ``starting``, or None when the check probes nothing."""
        argv = probe_argv(check, shell)
        if argv is None:
            return None
        return cls(store, container_id, argv, Timing.of(check))

    def attach(self, sel: selectors.BaseSelector) -> None:
        self.sel = sel  # the monitor's loop: the runners' result pipes are watched there

    def next_deadline(self) -> float | None:
        """When the loop must wake for the next probe (None while one runs: its pipe wakes it)."""
        return None if self.probe is not None else self.due

    def tick(self) -> None:
        """Start the probe that is due, if none runs (its result comes through the loop)."""
        if self.probe is None and self.sel is not None and time.monotonic() >= self.due:
            self._start()

    def _start(self) -> None:
        from pyker.runtime import pidns
        from pyker.runtime.logs import rfc3339_nano

        pidns.own_for_children()  # the runner and its joiner on the host's side
        read, write = os.pipe2(os.O_CLOEXEC)
        start, started = rfc3339_nano(), time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            from pyker.runtime.health_runner import run_probe

            run_probe(self.store, self.container_id, self.argv, self.timing.timeout, write)
        os.close(write)
        os.set_blocking(read, False)
        self.probe = _Probe(runner=pid, fd=read, start=start, started=started)
        self.sel.register(read, selectors.EVENT_READ, self._readable)

    def _readable(self, fd: int) -> None:
        probe = self.probe
        if probe is None or fd != probe.fd:
            return
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if data:
            probe.received += data
            return
        self._close(probe)
        os.waitpid(probe.runner, 0)  # EOF: it has written its result and is exiting
        self._finish(probe, _result(bytes(probe.received)))

    def _finish(self, probe: _Probe, result: dict) -> None:
        from pyker.runtime.logs import rfc3339_nano

        if result.get("skip"):  # paused: Docker stops monitoring, and says unhealthy
            self.health = stopped(self.health)
        else:
            entry = {"Start": probe.start, "End": rfc3339_nano(),
                     "ExitCode": int(result.get("ExitCode", -1)),
                     "Output": str(result.get("Output", ""))}
            in_period = (probe.started - self.started) * SECOND < self.timing.start_period
            self.health = record_result(self.health, entry, retries=self.timing.retries,
                                        in_start_period=in_period)
        self.store.set_health(self.container_id, self.health)
        now = time.monotonic()
        elapsed = int((now - self.started) * SECOND)
        self.due = now + next_interval(self.timing, elapsed, self.health["Status"]) / SECOND

    def _close(self, probe: _Probe) -> None:
        if self.sel is not None:
            self.sel.unregister(probe.fd)
        os.close(probe.fd)
        self.probe = None

    def stop(self) -> None:
        """The container exited: end the probe in flight (its whole process group, as a
        ``--pid host`` container's would outlive the container), and record ``unhealthy``."""
        probe = self.probe
        if probe is not None:
            try:
                probe.received += os.read(probe.fd, 65536)
            except OSError:
                pass
            if probe.command() and b"{" not in probe.received:  # no result yet: still running
                kill_group(probe.command())
            self._close(probe)
            _reap(probe.runner, grace=2.0)
        self.health = stopped(self.health)
        self.store.set_health(self.container_id, self.health)


def _result(data: bytes) -> dict:
    """The runner's JSON, after its ``pid`` line (one line: json.dumps escapes newlines)."""
    try:
        result = json.loads(data.rpartition(b"\n")[2] or b"null")
    except ValueError:
        result = None
    return result if isinstance(result, dict) else {
        "ExitCode": -1, "Output": "health check: the probe runner died"}


def _reap(pid: int, *, grace: float) -> None:
    """Wait for ``pid`` (our child) at most ``grace`` seconds, then kill it."""
    deadline = time.monotonic() + grace
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.01)
