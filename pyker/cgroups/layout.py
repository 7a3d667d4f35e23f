"""Which cgroup hierarchies this host mounts, read from ``/proc/self/mountinfo``.

Three layouts exist in the wild (systemd's names for them):

* **v1** ("legacy"): one ``cgroup`` mount per controller or group of controllers
  (``/sys/fs/cgroup/memory``, ``/sys/fs/cgroup/cpu,cpuacct``...), no cgroup2.
* **hybrid**: the same v1 mounts, plus a ``cgroup2`` mount (``/sys/fs/cgroup/unified``) with
  no controller of its own, used by systemd to track processes. Docker drives v1 here.
* **v2** ("unified"): one ``cgroup2`` mount (``/sys/fs/cgroup``) holding every controller,
  as on Debian 12 or Ubuntu 22.04 and later.

A v1 mount's controllers are in its super options (``rw,cpu,cpuacct``); ``name=systemd``
hierarchies carry no controller and are not counted. See proc(5) for the line format, and
cgroups(7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from pyker.errors import CgroupError

Mode = Literal["v1", "hybrid", "v2"]

#: The v1 controllers a pyker driver knows how to use.
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")


@dataclass(frozen=True, slots=True)
class Layout:
    """The host's cgroup layout: its mode, v1 mount point per controller, the cgroup2 mount."""

    mode: Mode
    v1: Mapping[str, Path] = field(default_factory=dict)
    unified: Path | None = None


def _unescape(text: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal (proc(5)).
    if "\\" not in text:  # nearly always: the escapes are rare, this runs for every line
        return text
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def parse_mount_line(line: str) -> tuple[Path, str, list[str], str] | None:
    """``(mount point, fstype, super options, root)`` of one mountinfo line; the root is
    the part of its filesystem the mount shows (``/`` for all of it)."""
    fields = line.split()
    try:
        sep = fields.index("-")
    except ValueError:
        return None
    if len(fields) < sep + 4 or sep < 6:
        return None
    return (Path(_unescape(fields[4])), fields[sep + 1], fields[sep + 3].split(","),
            _unescape(fields[3]))


def detect(mountinfo_text: str | None = None) -> Layout:
    """The cgroup layout described by ``mountinfo_text`` (default: this process's).

    The first mount of a controller wins, as for Docker: later ones are usually bind mounts
    of the same hierarchy into containers.

    Raises:
        CgroupError: no cgroup filesystem is mounted.
    """
    if mountinfo_text is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo_text = f.read()
    # The fstype follows the separator: " - cgroup" finds the cgroup and cgroup2 mounts
    # (a space in a path is escaped), which alone decide; the rest changes with every
    # container's root mounted.
    lines = [line for line in mountinfo_text.splitlines() if " - cgroup" in line]
    key = "\n".join(lines)
    cached = _DETECTED.get(key)
    if cached is not None:
        return cached
    v1: dict[str, Path] = {}
    unified: Path | None = None
    for line in lines:
        parsed = parse_mount_line(line)
        if parsed is None:
            continue
        point, fstype, options, _ = parsed
        if fstype == "cgroup2" and unified is None:
            unified = point
        elif fstype == "cgroup":
            for option in options:
                if option in V1_CONTROLLERS:
                    v1.setdefault(option, point)
    if v1:  # read-only: every caller shares the cached answer
        layout = Layout("hybrid" if unified else "v1", MappingProxyType(v1), unified)
    elif unified is not None:
        layout = Layout("v2", {}, unified)
    else:
        raise CgroupError("no cgroup filesystem mounted (no cgroup or cgroup2 in mountinfo)")
    _DETECTED.clear()  # one entry: the answer for the cgroup mounts seen last
    _DETECTED[key] = layout
    return layout


# A command asks more than once (its manager, then the spec's cgroup version), a fork
# server's commands inherit the server's answer: the mount table is read each time, and
# its cgroup mounts parsed again only when they changed.
_DETECTED: dict[str, Layout] = {}


def relative_cgroup_path(path: str) -> str:
    """``path`` checked as a cgroup path relative to a hierarchy root (``pyker/<id>``).

    A leading ``/`` is accepted (``/proc/<pid>/cgroup`` writes paths that way) and dropped.

    Raises:
        CgroupError: the path is empty or climbs out with ``..``.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise CgroupError(f'invalid cgroup path "{path}": want a relative path like pyker/<id>')
    return "/".join(parts)
