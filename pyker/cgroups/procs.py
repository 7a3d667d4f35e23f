"""Processes of a cgroup, and removing a cgroup once they are gone: the same on v1 and v2.

``cgroup.procs`` lists thread-group ids, one per line; writing a pid there moves the whole
process. A cgroup directory can be removed (rmdir(2), never ``rm -r``: its files are not
real) only once it holds no task and no child cgroup, else EBUSY. Tasks killed a moment ago
may still be exiting, so removal retries for a short while before giving up.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.errors import CgroupError


def read_pids(files: CgroupFiles, cgroup: Path) -> list[int]:
    """The pids in ``cgroup/cgroup.procs``; none when the cgroup is gone."""
    try:
        text = files.read(cgroup / "cgroup.procs")
    except CgroupError as err:
        if err.errno == errno.ENOENT:
            return []
        raise
    return [int(line) for line in text.split()]


def signal_pids(pids: list[int], sig: int) -> None:
    """Send ``sig`` to each pid; one that already exited is not an error."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def rmdir_retrying(files: CgroupFiles, cgroup: Path, timeout: float) -> None:
    """rmdir ``cgroup``, retrying EBUSY until ``timeout`` (exiting tasks still count).

    Raises:
        CgroupError: still busy after ``timeout``; the message names the directory and, when
            it can, the pids left in it.
    """
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            files.rmdir(cgroup)
            return
        except CgroupError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                left = read_pids(files, cgroup) if err.errno == errno.EBUSY else []
                if left:
                    raise CgroupError(f"{err.message} (pids still in it: "
                                      f"{' '.join(map(str, left))})", path=err.path,
                                      errno=err.errno) from err
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
