"""Terminals, detaching and attaching, restart policies, and the CPU split of TP cgroups."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time

import pytest

from conftest import enter_tests_netns

from pyker.cgroups import manager_for

pytestmark = pytest.mark.requires("root", "overlay", "busybox")


class Terminal:
    """A CLI command on a real pseudo-terminal, as a user at a keyboard would run it."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            enter_tests_netns()
            os.execvpe(sys.executable, [sys.executable, "-m", "pyker", *args], env)
        self.seen = b""

    def expect(self, text: bytes, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never came; saw {self.seen!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    break
        assert text in self.seen, self.seen

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def ready(self, prompt: bytes, timeout: float = 10) -> None:
        """Press Enter until the prompt shows: input typed before the client put the terminal
        in raw mode would be flushed (tcsetattr TCSAFLUSH), as for a real user."""
        deadline = time.monotonic() + timeout
        while prompt not in self.seen and time.monotonic() < deadline:
            self.send(b"\n")
            if select.select([self.fd], [], [], 0.3)[0]:
                self.seen += os.read(self.fd, 4096)
        assert prompt in self.seen, self.seen

    def wait(self, timeout: float = 10) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.seen += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"still running; saw {self.seen!r}")


def test_run_it_detach_then_attach(pk):
    term = Terminal(pk.env, "run", "-it", "--name", "ttybox", "busybox", "sh")
    term.expect(b"/ # ")
    term.send(b"tty; echo $((40+2))\n")
    term.expect(b"/dev/pts/0")
    term.expect(b"42")
    term.send(b"\x10\x11")  # ctrl-p ctrl-q
    assert term.wait() == 0
    assert pk.out("ps", "--format", "{{.Names}} {{.State}}") == "ttybox running\n"
    again = Terminal(pk.env, "attach", "ttybox")
    again.ready(b"/ # ")
    again.send(b"echo $((6*7))-attached\n")
    again.expect(b"42-attached")
    again.send(b"exit 5\n")
    assert again.wait() == 5
    assert pk.out("inspect", "-f", "{{.State.ExitCode}}", "ttybox") == "5\n"
    pk("rm", "ttybox")


def test_restart_on_failure_counts(pk):
    pk("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c",
       "exit 1")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        doc = json.loads(pk.out("inspect", "flaky"))[0]
        if doc["State"]["Status"] == "exited":
            break
        time.sleep(0.1)
    assert (doc["State"]["Status"], doc["State"]["ExitCode"], doc["RestartCount"]) == \
        ("exited", 1, 2)
    pk("rm", "flaky")


def test_restart_always_is_stopped_by_stop(pk):
    pk("run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c",
       "rm -f /quit; while [ ! -e /quit ]; do sleep 0.1; done; exit 1")
    pk("stop", "-t", "1", "always")
    time.sleep(0.5)
    assert pk.out("inspect", "-f", "{{.State.Status}}", "always") == "exited\n"
    # Started again, the policy holds again: the next exit is followed by a restart.
    pk("start", "always")
    pk("exec", "always", "touch", "/quit")
    deadline = time.monotonic() + 30
    while pk.out("inspect", "-f", "{{.RestartCount}}", "always") == "0\n":
        assert time.monotonic() < deadline, "not restarted after its exit"
        time.sleep(0.1)
    pk("rm", "-f", "always")


def test_restart_always_is_not_restarted_after_kill(pk):
    pk("run", "-d", "--name", "killed", "--restart", "always", "--network", "none", "busybox",
       "sleep", "1000")
    pk("kill", "killed")
    time.sleep(1)  # a restart would come within the first back-off (100 ms)
    doc = json.loads(pk.out("inspect", "killed"))[0]
    assert (doc["State"]["Status"], doc["State"]["ExitCode"], doc["RestartCount"]) == \
        ("exited", 137, 0)
    pk("rm", "killed")


def _usage(cid: str) -> int:
    return manager_for(f"pyker/{cid}").stats().cpu_usage_ns or 0


@pytest.mark.skipif((os.cpu_count() or 1) < 1, reason="needs a CPU")
def test_tp_cgroups_cpu_shares_split_75_25(pk):
    burn = ("sh", "-c", "while :; do :; done")
    big = pk.out("run", "-d", "--cpuset-cpus", "0", "--cpu-shares", "768", "busybox",
                 *burn).strip()
    small = pk.out("run", "-d", "--cpuset-cpus", "0", "--cpu-shares", "256", "busybox",
                   *burn).strip()
    try:
        time.sleep(1)
        start = _usage(big), _usage(small)
        time.sleep(4)
        used = _usage(big) - start[0], _usage(small) - start[1]
    finally:
        pk("rm", "-f", big, small)
    share = 100 * used[0] / (used[0] + used[1])
    assert 65 <= share <= 85, f"768/256 got {share:.1f}% / {100 - share:.1f}%"
