"""``run -i``/``exec -i`` with a file or /dev/null as stdin: epoll(7) refuses regular files,
so the relays copy them another way; the container must get every byte, then EOF."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from conftest import enter_tests_netns

pytestmark = pytest.mark.requires("root", "overlay", "busybox")


def run_with_stdin(pk, path, *args: str) -> subprocess.CompletedProcess[bytes]:
    with open(path, "rb") as stdin:
        return subprocess.run([sys.executable, "-m", "pyker", *args], stdin=stdin,
                              capture_output=True, env=pk.env, timeout=120,
                              preexec_fn=enter_tests_netns)


def test_run_i_reads_a_whole_file_then_eof(pk, tmp_path):
    data = os.urandom(3 * 1024 * 1024)  # more than a pipe holds: the copy must wait for room
    (tmp_path / "in").write_bytes(data)
    proc = run_with_stdin(pk, tmp_path / "in", "run", "-i", "--rm", "--network", "none",
                          "busybox", "md5sum")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split()[0] == hashlib.md5(data).hexdigest()
    empty = run_with_stdin(pk, os.devnull, "run", "-i", "--rm", "--network", "none",
                           "busybox", "wc", "-c")
    assert empty.returncode == 0 and empty.stdout.decode().strip() == "0"


def test_exec_i_reads_a_file(pk, tmp_path):
    (tmp_path / "in").write_bytes(b"line one\nline two\n")
    pk("run", "-d", "--name", "stdin-target", "--network", "none", "busybox", "sleep", "60")
    try:
        proc = run_with_stdin(pk, tmp_path / "in", "exec", "-i", "stdin-target", "wc", "-l")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.decode().strip() == "2"
    finally:
        pk("rm", "-f", "stdin-target")
