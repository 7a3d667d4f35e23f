"""v1 ``devices`` controller: which device nodes a cgroup's tasks may open or mknod.

Writing ``a`` to ``devices.deny`` empties the list and makes the cgroup deny-by-default;
each following line written to ``devices.allow`` (``c 1:3 rwm``) is an exception. The rule
list is folded first (:mod:`pyker.cgroups.devrules`) so that v1 and v2 obey the same
semantics, then written as one reset plus exceptions. A child can never get more than its
parent: widening is refused with EPERM. See Documentation/admin-guide/cgroup-v1/devices.rst.
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups import devrules
from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.resources import Resources

NAME = "devices"


def apply(files: CgroupFiles, cgroup: Path, res: Resources) -> list[str]:
    """Reset the cgroup to the folded default, then write each exception."""
    if not res.devices:
        return []
    state = devrules.fold(res.devices)
    if state.default_allow:
        reset, exception = "devices.allow", "devices.deny"
    else:
        reset, exception = "devices.deny", "devices.allow"
    files.write(cgroup / reset, "a")
    for rule in state.exceptions:
        files.write(cgroup / exception, rule.line())
    return []


def listed(files: CgroupFiles, cgroup: Path) -> list[str]:
    """``devices.list``: the allowed entries (``a *:* rwm`` when allow-all)."""
    return files.read(cgroup / "devices.list").splitlines()
