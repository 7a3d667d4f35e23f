"""Moving a process into a cgroup waits for an RCU grace period: starting that wait early.

Every write to a ``cgroup.procs`` file, v1 or v2, takes the kernel's global
``cgroup_threadgroup_rwsem`` for writing. That per-CPU rwsem first switches its readers (every
fork and exit) to a slow path, and the first writer after a quiet spell waits one RCU grace
period for the switch (kernel/rcu/sync.c): 10-20 ms on this host, paid by each ``run`` and
``exec`` when the monitor moves the container's init (runc pays it too). A writer that comes
while the switch is under way waits only for its end, and one that comes within a grace period
of the last writer's release does not wait at all; a hierarchy mounted with ``favordynmods``
keeps the slow path for good, and then nobody waits.

A run on v1 avoids the wait altogether: its init moves itself through ``tasks``, which
the kernel spares that lock (pyker.cgroups.v1.manager.V1Manager.self_join_files). The
warm-up serves the other moves: cgroup v2, a user namespace's init, ``exec``.

:func:`warm` starts the switch when a command knows it will move a process, in a thread,
while the command goes on with the work that comes before the move (overlay, spec, seccomp
program, the monitor's fork). Not a mkdir in a cgroup tree: that takes the cgroup_mutex the
waiting writer holds, so the container's cgroup is made first. The thread writes ``0``
(itself) into the ``cgroup.procs`` of the cgroup this process is already in, a move to where
it is that changes nothing (the kernel skips a migration whose source and destination are
the same) but takes the lock, and writes again a few times to keep the switch on until the
real move. Measured here: a move 20 ms after the first write 13.7 ms → 0.2 ms (median of
10). Anything that goes wrong here only leaves the move as slow as it was: errors are
ignored.

The thread blocks in write(2) and holds no lock a forked child could need (the monitor is
forked meanwhile; the child has only the forking thread, and Python marks this one stopped
there). Python 3.12 and later warn about such a fork; this project's interpreter is 3.11.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyker.cgroups.layout import parse_mount_line

#: How long the thread keeps the switch on, and how often it writes again (seconds).
KEEP = 0.08
EVERY = 0.01

_thread = None


def own_procs_file(cgroup_text: str, mountinfo_text: str) -> Path | None:
    """The ``cgroup.procs`` of the cgroup this process is in, in a mounted hierarchy that
    shows it (cgroup2 first, else the first v1 one in mount order); None when none does.

    ``cgroup_text`` is ``/proc/self/cgroup``: ``id:controllers:path`` lines, ``0::path`` for
    cgroup2, paths relative to the cgroup namespace. A mount's root (field 4 of mountinfo)
    says which part of its hierarchy it shows: the path must lie under it.
    """
    own: dict[frozenset[str], str] = {}
    for line in cgroup_text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            own[frozenset(c for c in parts[1].split(",") if c)] = parts[2]
    names = frozenset().union(*own)  # every controller (and name=...) this process has
    found: Path | None = None
    for line in mountinfo_text.splitlines():
        parsed = parse_mount_line(line) if " - cgroup" in line else None  # the fstype
        if parsed is None or parsed[1] not in ("cgroup", "cgroup2"):
            continue
        point, fstype, options, root = parsed
        key = frozenset() if fstype == "cgroup2" else names.intersection(options)
        path = own.get(key) if key or fstype == "cgroup2" else None
        if path is None or not (root == "/" or path == root or path.startswith(root + "/")):
            continue
        procs = point / path[len(root.rstrip("/")):].lstrip("/") / "cgroup.procs"
        if fstype == "cgroup2":
            return procs
        found = found or procs
    return found


def _keep_switched(path: Path) -> None:
    import time

    end = time.monotonic() + KEEP
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        while True:
            os.write(fd, b"0")
            if time.monotonic() + EVERY > end:
                return
            time.sleep(EVERY)
    except OSError:
        return
    finally:
        os.close(fd)


def warm() -> None:
    """Start the grace period a coming cgroup move would wait for (see the module's text);
    returns at once. A second call while the first thread runs does nothing."""
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    try:
        with open("/proc/self/cgroup") as f:
            cgroup_text = f.read()
        with open("/proc/self/mountinfo") as f:
            mountinfo_text = f.read()
    except OSError:
        return
    path = own_procs_file(cgroup_text, mountinfo_text)
    if path is None:
        return
    import threading

    _thread = threading.Thread(target=_keep_switched, args=(path,), name="cgroup-warm",
                               daemon=True)
    _thread.start()
