"""v1 ``freezer`` controller: stop and resume every task of a cgroup at once.

Writing ``FROZEN`` to ``freezer.state`` starts freezing; the file reads ``FREEZING`` until
every task is stopped, then ``FROZEN``. A task that forks while the cgroup freezes can leave
it stuck in ``FREEZING``, so the request is repeated while waiting (runc does the same, with
a thaw-and-retry). ``THAWED`` resumes them. The hierarchy root has no ``freezer.state``.
See Documentation/admin-guide/cgroup-v1/freezer-subsystem.rst.
"""

from __future__ import annotations

import time
from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.errors import CgroupError

NAME = "freezer"
STATE = "freezer.state"


def set_state(files: CgroupFiles, cgroup: Path, state: str, *, timeout: float = 5.0) -> None:
    """Write ``state`` (``FROZEN`` or ``THAWED``) and wait until the kernel reports it.

    Raises:
        CgroupError: the state is not reached within ``timeout`` seconds; a failed freeze
            is thawed back first, so that no task stays stopped half-way.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        files.write(cgroup / STATE, state)
        if files.read(cgroup / STATE).strip() == state:
            return
        if time.monotonic() > deadline:
            if state == "FROZEN":
                files.write(cgroup / STATE, "THAWED")
            raise CgroupError(f'{cgroup / STATE}: still "{files.read(cgroup / STATE)}" after '
                              f'{timeout}s waiting for "{state}"', path=str(cgroup / STATE),
                              value=state)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def state(files: CgroupFiles, cgroup: Path) -> str:
    return files.read(cgroup / STATE).strip()
