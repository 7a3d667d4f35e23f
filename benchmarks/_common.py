"""What the benchmarks share: a variant (one command to time), the round-robin measurement,
the statistics, pyker's private environment, and the facts of the machine they ran on.

Wall time is measured around the whole command (``subprocess.run``), as a user waits for it.
Variants run round-robin (one run of each, N times, after the warm-ups) so that a drift of the
machine weighs on all of them alike. Nothing here asserts a timing.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: How each optional comparison tool is installed (they are not dependencies of pyker).
APT = "apt-get install -y --no-install-recommends"


@dataclass(slots=True)
class Variant:
    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    preexec: Callable[[], None] | None = None
    # Namespaces this process joins around the timed spawn (_engines.Joined); then the
    # command starts as the others do, preexec or not (a preexec_fn is for untimed runs).
    joined: AbstractContextManager | None = None
    note: str = ""
    skip: str = ""                       # why it is not measured
    times: list[float] = field(default_factory=list)
    failures: int = 0


def missing(tool: str, package: str) -> str:
    """The skip reason of a tool that is not installed, with the line that installs it."""
    return f"{tool} not installed ({APT} {package})"


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]  # nearest rank


def run(cmd: list[str], env: dict[str, str] | None, **kw) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, env=env, capture_output=True, **kw)


def pyker_env(tmp: Path, *, bytecode: bool, forkserver: bool = False) -> dict[str, str]:
    env = {**os.environ, "PYKER_DATA_ROOT": str(tmp / "data"), "PYKER_RUN_ROOT": str(tmp / "run"),
           "PYKER_DAEMON_CONFIG": str(tmp / "daemon.json")}
    # The `pyker` program hands its command to a fork server listening on the run root. One
    # runs there while the "fork server" rows are measured; every other pyker row must still
    # import pyker itself, as it does where no server was started.
    env.pop("PYKER_FORKSERVER", None)
    if not forkserver:
        env["PYKER_FORKSERVER"] = "off"
    # An installed pyker has its bytecode cached; a sandbox that sets PYTHONDONTWRITEBYTECODE
    # would make every run recompile every module. Cache it privately, as pip would.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    else:  # the standard library keeps its installed bytecode; pyker's is compiled each run
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def bootstrap_busybox(tmp: Path, python: Path) -> str:
    """busybox in the private store under ``tmp``; the error text, or "" on success."""
    proc = run([str(python), "-m", "pyker", "bootstrap", "busybox"], pyker_env(tmp, bytecode=True))
    return "" if proc.returncode == 0 else proc.stderr.decode(errors="replace")


@dataclass(slots=True)
class ForkServer:
    """pyker's fork server on the benchmark's private run root (``pyker system forkserver``).

    The server steps down as soon as a file of pyker's sources changes (it never runs stale
    code), after which the ``pyker`` program runs each command itself: a row measured across
    such a change mixes both. So the pid is taken at start and must still answer on the
    socket after the measurement (:meth:`check`); the server compares the sources before each
    command, so one still running then has served every command of the row.
    """

    python: Path
    env: dict[str, str]
    pid: int | None = None
    preexec: Callable[[], None] | None = None  # e.g. join a network namespace first

    def _cmd(self, action: str) -> subprocess.CompletedProcess[bytes]:
        return run([str(self.python), "-m", "pyker", "system", "forkserver", action], self.env,
                   preexec_fn=self.preexec)

    def start(self) -> str:
        """Start it (``python -m pyker``: the ``pyker`` program never starts its own server);
        why it could not be, or ""."""
        proc = self._cmd("start")
        found = re.search(rb"\(pid (\d+)\)", proc.stdout)
        if proc.returncode != 0 or not found:
            return f"the fork server did not start, {tail(proc)}"
        self.pid = int(found.group(1))
        return ""

    def check(self) -> str:
        """"" if the server started by :meth:`start` still runs, else why the row is invalid."""
        proc = self._cmd("status")
        found = re.search(rb"\(pid (\d+)\)", proc.stdout)
        if proc.returncode == 0 and found and int(found.group(1)) == self.pid:
            return ""
        return ("the fork server stepped down during the measurement (pyker's sources "
                "changed), so some commands ran without it: measure again")

    def stop(self) -> None:
        if self.pid is not None:
            self._cmd("stop")


def tail(proc: subprocess.CompletedProcess[bytes], limit: int = 200) -> str:
    """The last words of a failed command, for a skip reason."""
    text = (proc.stderr or b"").decode(errors="replace").strip() or \
        (proc.stdout or b"").decode(errors="replace").strip()
    return f"exit {proc.returncode}: {text[-limit:]}"


def once(v: Variant, index: int) -> float | None:
    """One timed run of ``v``. A variant with namespaces to be in has this process join them
    first and leave them after, outside the timing: a ``preexec_fn`` would make the spawn a
    full fork of this process (vfork otherwise) plus the joins, ~3 ms more per command here,
    counted as the command's own; the other rows start without it."""
    argv = [a.replace("{id}", f"bench-{os.getpid()}-{index}") for a in v.argv]
    with v.joined or nullcontext():
        start = time.perf_counter()
        proc = subprocess.run(argv, env=v.env, preexec_fn=None if v.joined else v.preexec,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        v.failures += 1
        if not v.times and v.failures >= 3:
            v.skip = f"fails here: {proc.stderr.decode(errors='replace').strip()[:200]}"
        return None
    return elapsed


def measure(vs: list[Variant], runs: int, warmup: int) -> None:
    for i in range(warmup + runs):
        for v in vs:
            if v.skip:
                continue
            t = once(v, i)
            if t is not None and i >= warmup:
                v.times.append(t)


def row(v: Variant, ratio: float | None, ratio_key: str) -> dict[str, object]:
    """One measured variant, for ``--json``: the statistics and every sample."""
    return {"name": v.name, "median_s": statistics.median(v.times), "p90_s": p90(v.times),
            "min_s": min(v.times), "mean_s": statistics.fmean(v.times), "runs": len(v.times),
            "failures": v.failures, ratio_key: ratio, "note": v.note, "argv": v.argv,
            "times_s": v.times}


def unmount_under(root: Path) -> list[str]:
    """Detach every mount at or below ``root`` (deepest first), before it is deleted: a
    leftover bind mount would let ``rmtree`` reach what it shows."""
    from pyker.kernel.mount import UmountFlag, umount2

    prefix = str(root.resolve())
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].encode().decode("unicode_escape") for line in f]
    inside = [p for p in points if p == prefix or p.startswith(prefix + "/")]
    for point in sorted(set(inside), key=len, reverse=True):
        try:
            umount2(point, UmountFlag.MNT_DETACH)
        except OSError:
            pass  # already gone with its parent
    return inside


def loadavg() -> str:
    """/proc/loadavg's 1, 5 and 15 minute figures: the benchmarks share the machine."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> dict[str, object]:
    return {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
