"""The fork server's warm-up (pyker.cli.warmup) runs its commands for real, on a throwaway
store, and leaves nothing behind: not its directory, a mount, a cgroup or a process, and not
a byte in the store the server was started for; the environment is the server's again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

SCRIPT = """
import json, os
from pyker.cli.warmup import warm_up
names = ("PYKER_DATA_ROOT", "PYKER_RUN_ROOT", "PYKER_DAEMON_CONFIG")
before = {k: os.environ.get(k) for k in names}
failures = warm_up()
after = {k: os.environ.get(k) for k in before}
print(json.dumps({"failures": failures, "same_env": before == after}))
"""


def _pyker_cgroups() -> set[str]:
    root = Path("/sys/fs/cgroup")
    return {str(p) for p in (*root.glob("*/pyker/*"), *root.glob("pyker/*")) if p.is_dir()}


def test_warm_up_runs_everything_and_leaves_nothing(tmp_path: Path) -> None:
    users_store = tmp_path / "users-store"       # the server's own store: must stay untouched
    scratch = tmp_path / "tmp"                   # TMPDIR: where the warm-up makes its store
    scratch.mkdir()
    env = {**os.environ, "PYKER_DATA_ROOT": str(users_store),
           "PYKER_RUN_ROOT": str(tmp_path / "run"),
           "PYKER_DAEMON_CONFIG": str(tmp_path / "d.json"),
           "TMPDIR": str(scratch), "PYTHONPATH": str(REPO)}
    cgroups = _pyker_cgroups()
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == {"failures": [], "same_env": True}
    assert not users_store.exists() and not (tmp_path / "run").exists()
    assert list(scratch.iterdir()) == []         # its temporary store is gone
    with open("/proc/self/mountinfo") as f:
        assert str(scratch) not in f.read()
    assert _pyker_cgroups() <= cgroups           # the --rm containers took their cgroups
    leftovers = subprocess.run(["pgrep", "-f", str(scratch)], capture_output=True, text=True)
    assert leftovers.stdout == ""


def test_a_failing_warm_up_is_reported_not_raised(tmp_path: Path) -> None:
    """Where a command cannot run (here: no busybox to bootstrap, as PATH has none), the
    warm-up says which and goes on; the server only starts colder."""
    env = {**os.environ, "PATH": str(tmp_path), "TMPDIR": str(tmp_path),
           "PYTHONPATH": str(REPO), "PYKER_DATA_ROOT": str(tmp_path / "store")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["same_env"] is True
    [failure] = result["failures"]                # the commands after it need its image
    assert failure.startswith("pyker bootstrap busybox: exit 125")
    assert not (tmp_path / "store").exists()
