"""Health checks end to end: ``--health-*``, an image's HEALTHCHECK, what ps and inspect show,
timeouts, and that probes neither leave processes behind nor hold up the container's monitor.

One busybox store per module (``pk``, tests/integration/conftest.py); every test removes the
containers it makes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from pyker.runtime.state import ContainerStore

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

FAST = ("--network", "none", "--health-interval", "200ms")


@pytest.fixture
def name(pk):
    """A unique container name; that container is removed after the test."""
    made = f"hc{time.monotonic_ns()}"
    yield made
    pk("rm", "-f", made, check=False)


def _inspect(pk, name: str) -> dict:
    return json.loads(pk.out("inspect", name))[0]


def _health(pk, name: str) -> dict | None:
    return _inspect(pk, name)["State"].get("Health")


def _wait_status(pk, name: str, status: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        health = _health(pk, name)
        if health and health["Status"] == status:
            return health
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: health never {status!r}: {health}")
        time.sleep(0.1)


def _ps_status(pk, name: str) -> str:
    rows = pk.out("ps", "-a", "--format", "{{.Names}}\t{{.Status}}").splitlines()
    return next(status for row_name, status in (row.split("\t") for row in rows)
                if row_name == name)


def test_starting_then_healthy_then_unhealthy(pk, name):
    cid = pk.out("run", "-d", "--name", name, *FAST, "--health-cmd", "test -f /tmp/ok",
                 "--health-retries", "2", "busybox", "sleep", "1000").strip()
    # Read straight from the store as soon as run returned: no probe can have failed twice.
    store = ContainerStore(Path(pk.env["PYKER_DATA_ROOT"]) / "containers")
    assert store.load(cid).state.health == {"Status": "starting", "FailingStreak": 0, "Log": []}
    unhealthy = _wait_status(pk, name, "unhealthy")
    assert unhealthy["FailingStreak"] >= 2 and all(e["ExitCode"] == 1 for e in unhealthy["Log"])
    assert _ps_status(pk, name).endswith(" (unhealthy)")
    pk("exec", name, "touch", "/tmp/ok")
    healthy = _wait_status(pk, name, "healthy")
    assert healthy["FailingStreak"] == 0 and healthy["Log"][-1]["ExitCode"] == 0
    assert _ps_status(pk, name).endswith(" (healthy)")
    assert pk.out("ps", "--filter", "health=healthy", "--format", "{{.Names}}").split() == [name]
    pk("exec", name, "rm", "/tmp/ok")
    _wait_status(pk, name, "unhealthy")
    # Stopped: Docker keeps the log and says unhealthy; ps shows the exit only.
    pk("stop", "-t", "0", name)
    after = _health(pk, name)
    assert after["Status"] == "unhealthy" and len(after["Log"]) == 5
    assert _ps_status(pk, name).startswith("Exited (137)")


def test_start_period_shows_health_starting(pk, name):
    pk("run", "-d", "--name", name, *FAST, "--health-cmd", "false",
       "--health-start-period", "60s", "busybox", "sleep", "1000")
    time.sleep(0.8)  # probes fail meanwhile, without counting
    assert _ps_status(pk, name).endswith(" (health: starting)")
    assert pk.out("ps", "--filter", "health=starting", "--format", "{{.Names}}").split() == [name]
    health = _health(pk, name)
    assert health["FailingStreak"] == 0


def test_log_entries_carry_exit_code_and_output(pk, name):
    pk("run", "-d", "--name", name, *FAST, "--health-cmd",
       "echo to-out; echo to-err >&2; exit 3", "busybox", "sleep", "1000")
    entry = _wait_status(pk, name, "unhealthy")["Log"][-1]
    assert entry["ExitCode"] == 3
    assert sorted(entry["Output"].splitlines()) == ["to-err", "to-out"]
    assert entry["Start"] < entry["End"] and entry["End"].endswith("Z")
    doc = _inspect(pk, name)
    assert doc["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "echo to-out; echo to-err >&2; exit 3"], "Interval": 200_000_000}
    assert pk.out("inspect", "-f", "{{.State.Health.Status}}", name) == "unhealthy\n"


def test_output_is_cut_at_4096_bytes(pk, name):
    pk("run", "-d", "--name", name, *FAST, "--health-cmd",
       "head -c 10000 /dev/zero | tr '\\0' x", "busybox", "sleep", "1000")
    entry = _wait_status(pk, name, "healthy")["Log"][-1]
    assert entry["Output"] == "x" * 4096 + "..."


def test_a_probe_past_its_timeout_is_killed(pk, name):
    pk("run", "-d", "--name", name, "--network", "none", "--health-interval", "100ms",
       "--health-timeout", "300ms", "--health-retries", "1", "--health-cmd",
       "echo before; sleep 30; echo after", "busybox", "sleep", "1000")
    entry = _wait_status(pk, name, "unhealthy")["Log"][0]
    assert entry["ExitCode"] == -1
    assert entry["Output"] == "Health check exceeded timeout (300ms): before\n"
    # Killed at its timeout, not waited for: the whole probe (sh and its sleep) is gone.
    pid = _inspect(pk, name)["State"]["Pid"]
    procs = Path(f"/proc/{pid}/cgroup").read_text().strip().splitlines()[-1].split(":", 2)[2]
    time.sleep(0.5)
    sleeps = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) ==
              "sleep 30" and _cgroup(p) == procs]
    assert len(sleeps) <= 1  # at most the probe in flight now, never one per past probe


def test_no_healthcheck_overrides_the_image(pk, name, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD [\"false\"]\n"
        "CMD [\"sleep\", \"1000\"]\n")
    pk("build", "-q", "-t", "health-image", str(tmp_path))
    image = json.loads(pk.out("image", "inspect", "health-image"))[0]
    assert image["Config"]["Healthcheck"]["Test"] == ["CMD", "false"]
    checked = name + "-image"
    try:
        pk("run", "-d", "--name", checked, "--network", "none", "health-image")
        pk("run", "-d", "--name", name, "--network", "none", "--no-healthcheck", "health-image")
        assert _wait_status(pk, checked, "unhealthy")["Log"][0]["ExitCode"] == 1
        assert _inspect(pk, checked)["Config"]["Healthcheck"]["Retries"] == 1
        time.sleep(0.5)
        doc = _inspect(pk, name)
        assert "Health" not in doc["State"] and doc["Config"]["Healthcheck"]["Test"] == ["NONE"]
        assert "(" not in _ps_status(pk, name)
        assert name in pk.out("ps", "--filter", "health=none", "--format", "{{.Names}}").split()
    finally:
        pk("rm", "-f", checked, check=False)


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _cgroup(proc: Path) -> str:
    try:
        return (proc / "cgroup").read_text().strip().splitlines()[-1].split(":", 2)[2]
    except (OSError, IndexError):
        return ""


def _ns(proc: Path, kind: str) -> str:
    try:
        return os.readlink(proc / "ns" / kind)
    except OSError:
        return ""


def test_probes_leave_no_process_behind(pk, name):
    cid = pk.out("run", "-d", "--name", name, "--network", "none", "--health-interval", "100ms",
                 "--health-cmd", "sleep 0.05 & sleep 0.1", "busybox", "sleep", "1000").strip()
    pid = _inspect(pk, name)["State"]["Pid"]
    mnt, pidns = _ns(Path(f"/proc/{pid}"), "mnt"), _ns(Path(f"/proc/{pid}"), "pid")
    monitor = str(json.loads((Path(pk.env["PYKER_DATA_ROOT"]) / "containers" / cid /
                              "container.json").read_text())["state"]["monitor_pid"])
    _wait_status(pk, name, "healthy")
    # The monitor's probe runners (and so their joiners) are born on the host's side of the
    # container's PID namespace: only the container's init is the monitor's child in there.
    runners = set()
    for _ in range(60):
        for p in Path("/proc").iterdir():
            if p.name.isdigit() and p.name != str(pid) and _ppid(p) == monitor:
                runners.add(p.name)
                assert _ns(p, "pid") != pidns, f"probe runner {p.name} in the container"
        time.sleep(0.02)
    assert runners  # probes ran meanwhile
    pk("rm", "-f", name)
    left = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and (
        _ns(p, "mnt") == mnt or cid in _cgroup(p) or f"--name {name} " in _cmdline(p))]
    assert left == []


def test_frequent_probes_keep_logs_flowing_and_stop_prompt(pk, name):
    pk("run", "-d", "--name", name, "--network", "none", "--health-interval", "100ms",
       "--health-cmd", "true", "busybox", "sh", "-c",
       "trap 'exit 0' TERM; i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done")
    _wait_status(pk, name, "healthy")
    time.sleep(1.0)
    lines = pk.out("logs", name).split()
    assert len(lines) >= 15 and lines[:3] == ["line0", "line1", "line2"]
    began = time.monotonic()
    pk("stop", name)
    assert time.monotonic() - began < 3
    assert _inspect(pk, name)["State"]["ExitCode"] == 0


def test_foreground_run_with_probes(pk):
    proc = pk("run", "--rm", "--network", "none", "--health-interval", "100ms",
              "--health-cmd", "true", "busybox", "sh", "-c", "sleep 1; echo done")
    assert (proc.returncode, proc.stdout) == (0, b"done\n")


def test_bad_flags_are_refused_before_anything_runs(pk):
    proc = pk("run", "--health-interval", "5", "busybox", "true", check=False)
    assert proc.returncode == 125
    assert proc.stderr.decode().splitlines() == [
        'pyker: invalid argument "5" for "--health-interval" flag: '
        'time: missing unit in duration "5"']
    assert pk.out("ps", "-aq") == ""


def _ppid(proc: Path) -> str:
    try:
        status = (proc / "status").read_text()
    except OSError:
        return ""
    return next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "")
