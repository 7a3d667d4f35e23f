"""v2 freezer: ``cgroup.freeze`` (1 or 0) and the ``frozen`` key of ``cgroup.events``.

The freezer is part of the cgroup2 core (Linux 5.2+), not a controller: it works in every
non-root cgroup, even on a hybrid host where no controller is bound to cgroup2. Writing 1
asks for the freeze; the cgroup is frozen once ``cgroup.events`` says ``frozen 1``. Frozen
tasks show up in ``/proc/<pid>/status`` as sleeping. See Documentation/admin-guide/cgroup-v2.rst,
"Core Interface Files".
"""

from __future__ import annotations

import time
from pathlib import Path

from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.stats import flat_keyed
from pyker.errors import CgroupError


def frozen(files: CgroupFiles, cgroup: Path) -> bool:
    return flat_keyed(files.read(cgroup / "cgroup.events")).get("frozen") == 1


def set_frozen(files: CgroupFiles, cgroup: Path, freeze: bool, *, timeout: float = 5.0) -> None:
    """Write ``cgroup.freeze`` and wait until ``cgroup.events`` reports the state.

    Raises:
        CgroupError: not reached within ``timeout``; a failed freeze is undone first.
    """
    value = "1" if freeze else "0"
    files.write(cgroup / "cgroup.freeze", value)
    deadline = time.monotonic() + timeout
    delay = 0.001
    while frozen(files, cgroup) != freeze:
        if time.monotonic() > deadline:
            if freeze:
                files.write(cgroup / "cgroup.freeze", "0")
            raise CgroupError(f'{cgroup / "cgroup.events"}: "frozen {value}" not reached '
                              f"after {timeout}s", path=str(cgroup / "cgroup.freeze"),
                              value=value)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
