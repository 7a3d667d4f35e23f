"""Control groups: limit and account what a group of processes may use (cgroups(7)).

This package knows nothing about containers: it creates a cgroup at a path, writes a
:class:`Resources` request into it, moves processes in, reads :class:`Stats` back, freezes,
kills and removes it. Two drivers, one per cgroup version, behind one :class:`Manager`
interface; ``manager_for`` picks the one the host's layout calls for (the v1 driver on a
hybrid host, as Docker does). Each driver has one module per controller, each with one
writer per resource, all writing through :class:`~pyker.cgroups.files.CgroupFiles` with the
hierarchy root injected, so tests run on a fake tree in a temporary directory.

Layering: imports only :mod:`pyker.kernel`, :mod:`pyker.spec` and :mod:`pyker.errors`.
"""

from __future__ import annotations

from pyker.cgroups.interface import Manager as Manager
from pyker.cgroups.layout import Layout as Layout
from pyker.cgroups.layout import detect as detect
from pyker.cgroups.resources import DOCKER_DEFAULT_DEVICE_RULES as DOCKER_DEFAULT_DEVICE_RULES
from pyker.cgroups.resources import DeviceRule as DeviceRule
from pyker.cgroups.resources import Resources as Resources
from pyker.cgroups.stats import Stats as Stats


def __getattr__(name: str) -> object:
    # The drivers load on demand: a v1 host never pays for v2's eBPF assembler.
    if name == "V1Manager":
        from pyker.cgroups.v1.manager import V1Manager

        return V1Manager
    if name == "V2Manager":
        from pyker.cgroups.v2.manager import V2Manager

        return V2Manager
    raise AttributeError(f"module 'pyker.cgroups' has no attribute {name!r}")


def manager_for(path: str, layout: Layout | None = None) -> Manager:
    """The driver for cgroup ``path`` on this host (or on ``layout``).

    v1 and hybrid hosts get the v1 driver, since their controllers are bound to v1; a pure
    v2 host gets the v2 driver on its cgroup2 mount.
    """
    layout = layout or detect()
    if layout.mode == "v2" and layout.unified is not None:
        from pyker.cgroups.v2.manager import V2Manager

        return V2Manager(path, root=layout.unified)
    from pyker.cgroups.v1.manager import V1Manager

    return V1Manager(path, mounts=layout.v1)
