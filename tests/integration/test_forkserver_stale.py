"""A fork server steps down at the first change of pyker's sources, and commands go on.

The change is an attribute-only one (``utime`` with the file's own times): inotify reports
it, while no file's content or modification time moves, so nothing else that looks at the
checkout sees anything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, enter_tests_netns

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

CLIENT = [sys.executable, str(REPO / "bin" / "pyker")]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLIENT, *args], env=env, capture_output=True, timeout=60,
                          preexec_fn=enter_tests_netns)


def test_a_source_change_makes_the_server_step_down(pk, tmp_path: Path) -> None:
    env = {**pk.env, "PYKER_RUN_ROOT": str(tmp_path / "run")}
    assert run(env, "system", "forkserver", "start").returncode == 0
    pid = int((tmp_path / "run" / "forkserver.pid").read_text())
    try:
        assert run(env, "run", "--rm", "busybox", "true").returncode == 0
        assert os.path.exists(f"/proc/{pid}")  # still serving after a command
        source = REPO / "pyker" / "cli" / "sourcewatch.py"
        st = source.stat()
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
        # The next command is declined and runs in the client; the server exits.
        assert run(env, "run", "--rm", "busybox", "echo", "still").stdout == b"still\n"
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pid}"), "the server outlived a source change"
        assert not (tmp_path / "run" / "forkserver.sock").exists()
        status = run(env, "system", "forkserver", "status")
        assert (status.returncode, status.stdout) == (1, b"no fork server\n")
    finally:
        run(env, "system", "forkserver", "stop")
