"""The grace-period warm-up on the real kernel: it moves nothing, and real moves still land.

No timing is asserted (benchmarks/run_latency.py measures the effect); these tests check
that the write the warm-up repeats is the harmless one: the process stays in the cgroups it
was in, in every hierarchy, and a process moved meanwhile ends up where it was sent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from forked import run_in_child
from pyker.cgroups import detect, manager_for, migration

pytestmark = pytest.mark.requires("root")


def _warm_and_compare() -> str:
    before = Path("/proc/self/cgroup").read_text()
    target = migration.own_procs_file(before, Path("/proc/self/mountinfo").read_text())
    assert target is not None and target.exists(), target
    migration.warm()
    thread = migration._thread
    assert thread is not None and thread.is_alive()
    migration.warm()  # while the first runs: no second thread
    assert migration._thread is thread
    thread.join(5)
    assert not thread.is_alive()
    after = Path("/proc/self/cgroup").read_text()
    assert after == before, (before, after)
    return "same"


def test_warm_leaves_the_process_in_its_own_cgroups() -> None:
    result = run_in_child(_warm_and_compare)
    assert (result.status, result.output) == (0, "same"), result.output


def test_a_move_during_the_warm_up_lands_in_its_cgroup() -> None:
    path = f"pyker-test-{os.getpid()}-{uuid.uuid4().hex[:8]}/c"
    manager = manager_for(path)
    manager.create()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        migration.warm()
        manager.add_process(sleeper.pid)
        assert manager.pids() == [sleeper.pid]
        lines = Path(f"/proc/{sleeper.pid}/cgroup").read_text().splitlines()
        assert any(line.endswith(":/" + path) for line in lines), lines
    finally:
        sleeper.kill()
        sleeper.wait()
        if migration._thread is not None:
            migration._thread.join(5)
        manager.kill_all(signal.SIGKILL)
        manager.destroy()
        parent = path.split("/")[0]
        for root in {*detect().v1.values(), detect().unified}:
            if root is not None and (root / parent).exists():
                os.rmdir(root / parent)
