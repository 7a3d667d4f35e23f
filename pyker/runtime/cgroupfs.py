"""The container's own view of /sys/fs/cgroup, as runc mounts it.

On a cgroup v2 host the container has its own cgroup namespace, so a fresh cgroup2 mount
shows its cgroup as the root (cgroup_namespaces(7)). On a v1 or hybrid host there is no such
trick for the v1 hierarchies: a small tmpfs gets, per hierarchy, a read-only bind of the
container's own cgroup directory (``memory/pyker/<id>`` appears as ``memory``), so that
``cat /sys/fs/cgroup/memory/memory.limit_in_bytes`` inside shows the container's limit.
"""

from __future__ import annotations

from pathlib import Path

from pyker.cgroups.layout import detect
from pyker.kernel.mount import MountFlag, mount

_FLAGS = MountFlag.MS_NOSUID | MountFlag.MS_NODEV | MountFlag.MS_NOEXEC


def mount_view(target: Path, cgroups_path: str) -> None:
    """Mount the view on ``target`` (inside the new root, before pivot_root)."""
    layout = detect()
    target.mkdir(parents=True, exist_ok=True)
    if layout.mode == "v2":
        mount("cgroup2", target, "cgroup2", _FLAGS | MountFlag.MS_RDONLY)
        return
    mount("tmpfs", target, "tmpfs", _FLAGS, "mode=755")
    for hierarchy in sorted(set(layout.v1.values())):
        own = hierarchy / cgroups_path.strip("/")
        if not own.is_dir():
            continue  # a hierarchy pyker does not use (name=systemd…)
        where = target / hierarchy.name
        where.mkdir(exist_ok=True)
        mount(own, where, None, MountFlag.MS_BIND)
        mount(None, where, None, _FLAGS | MountFlag.MS_BIND | MountFlag.MS_REMOUNT
              | MountFlag.MS_RDONLY)
    mount(None, target, None, _FLAGS | MountFlag.MS_REMOUNT | MountFlag.MS_RDONLY)
