"""A foreground monitor and who waits in front of it (pyker.runtime.monitor.Front).

Once the monitor has told its front how the container ended, what it still does (delete a
--rm container's files, exit) must not keep a reader of the CLI's output waiting: the copy
of the CLI's stdout and stderr it holds goes at the report, not at its exit.
"""

from __future__ import annotations

import json
import os
import select
from pathlib import Path

from pyker.runtime.monitor import Monitor, Plan
from pyker.spec.runtime import Spec

RUNC_SPEC = Path(__file__).resolve().parent.parent / "fixtures" / "runtime" / "runc-spec.json"


class RecordingFront:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def detached(self, why: bytes) -> None:
        os.write(self.fd, b"detached " + why)

    def ended(self, code: int) -> None:
        os.write(self.fd, b"ended %d" % code)


def _plan(tmp_path: Path) -> Plan:
    return Plan(container_id="c" * 64, spec=Spec.from_dict(json.loads(RUNC_SPEC.read_text())),
                rootfs=tmp_path / "rootfs", log_path=tmp_path / "log.json", foreground=True,
                interactive=False, tty=False)


def test_the_cli_output_reaches_eof_at_the_report_while_the_monitor_lives_on(tmp_path):
    out_r, out_w = os.pipe()
    report_r, report_w = os.pipe()
    hold_r, hold_w = os.pipe()  # the child stays alive until the parent closes this
    pid = os.fork()
    if pid == 0:
        try:
            os.close(out_r), os.close(report_r), os.close(hold_w)
            for target in (1, 2):
                os.dup2(out_w, target)
            os.close(out_w)
            os.write(1, b"container output\n")
            monitor = Monitor(_plan(tmp_path), store=None, cgroup=None,
                              front=RecordingFront(report_w))
            monitor.ended(3)
            monitor.ended(4)  # told once
            os.close(report_w)
            os.read(hold_r, 1)  # still alive, as while it deletes a --rm container's files
        finally:
            os._exit(0)
    for fd in (out_w, report_w, hold_r):
        os.close(fd)
    try:
        assert os.read(report_r, 100) == b"ended 3"
        received = b""
        while select.select([out_r], [], [], 10)[0]:
            chunk = os.read(out_r, 100)
            if not chunk:
                break
            received += chunk
        else:
            raise AssertionError("the monitor still holds the CLI's output after its report")
        assert received == b"container output\n"
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)  # EOF came from the report, not the exit
    finally:
        os.close(hold_w)
        os.waitpid(pid, 0)
        os.close(out_r), os.close(report_r)
