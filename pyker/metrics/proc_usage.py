"""What no cgroup counts, read from ``/proc`` and ``/sys`` as cAdvisor does (proc(5)).

* **Network**: a cgroup does not count packets; a network namespace does, per interface, in
  ``/proc/<pid>/net/dev`` read through any process of the container. ``lo`` is left out
  (cAdvisor ignores it too), and so is a container that shares the host's namespace
  (``--network host``): its "interfaces" would be the host's.
* **Task states**: ``container_tasks_state`` counts threads by the state letter of
  ``/proc/<tid>/stat`` (R running, S sleeping, D uninterruptible, T/t stopped). cAdvisor
  gets the same counts through netlink taskstats, which also has an "iowaiting" count that
  /proc has no field for: that state is not reported rather than reported as 0.
* **Descriptors**: ``/proc/<pid>/fd`` entries, those pointing at ``socket:[…]`` counted apart.
* **Device names**: ``/sys/dev/block/<major>:<minor>/uevent`` gives ``DEVNAME``, so the
  ``device`` label reads ``/dev/sda`` as cAdvisor's does.

The roots are injected (``proc``, ``sys``) for the tests.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
SYS = Path("/sys")

#: /proc/<tid>/stat state letter → cAdvisor's ``state`` label.
TASK_STATES = {"R": "running", "S": "sleeping", "D": "uninterruptible", "T": "stopped",
               "t": "stopped"}


@dataclass(frozen=True, slots=True)
class Interface:
    """One interface's counters from ``net/dev``."""

    name: str
    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


def interfaces(net_dev: str) -> tuple[Interface, ...]:
    """The interfaces of a ``net/dev`` text but ``lo``, in the kernel's order.

    The receive columns are bytes packets errs drop fifo frame compressed multicast, the
    transmit ones bytes packets errs drop fifo colls carrier compressed.
    """
    out = []
    for line in net_dev.splitlines()[2:]:
        name, sep, counters = line.partition(":")
        values = counters.split()
        name = name.strip()
        if not sep or name == "lo" or len(values) < 16:
            continue
        v = [int(x) for x in values]
        out.append(Interface(name, v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11]))
    return tuple(out)


def _netns(pid: int | str, proc: Path) -> int | None:
    try:
        return os.stat(proc / str(pid) / "ns" / "net").st_ino
    except OSError:
        return None


def container_interfaces(pid: int, proc: Path = PROC) -> tuple[Interface, ...]:
    """The interfaces of ``pid``'s network namespace; none when it is the host's (that of
    PID 1) or when the process is gone."""
    own = _netns(pid, proc)
    if own is None or own == _netns(1, proc):
        return ()
    try:
        return interfaces((proc / str(pid) / "net" / "dev").read_text())
    except OSError:
        return ()


def task_state(stat: str) -> str:
    """The state letter of a ``/proc/<tid>/stat`` text (after the command's last ``)``,
    since the command name may hold spaces and parentheses)."""
    return stat[stat.rindex(")") + 2:].split(maxsplit=1)[0]


def task_states(tids: tuple[int, ...], proc: Path = PROC) -> dict[str, int]:
    """Threads by cAdvisor state name; every known state is present, 0 included."""
    counts: Counter[str] = Counter({name: 0 for name in TASK_STATES.values()})
    for tid in tids:
        try:
            letter = task_state((proc / str(tid) / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        if letter in TASK_STATES:
            counts[TASK_STATES[letter]] += 1
    return dict(counts)


def descriptors(pids: tuple[int, ...], proc: Path = PROC) -> tuple[int, int] | None:
    """``(open file descriptors, of which sockets)`` over ``pids``; None when ``/proc``
    refuses to list them (not root: another user's descriptors are not ours to count)."""
    fds = sockets = 0
    for pid in pids:
        fd_dir = proc / str(pid) / "fd"
        try:
            names = os.listdir(fd_dir)
        except PermissionError:
            return None
        except OSError:
            continue  # exited meanwhile
        for name in names:
            fds += 1
            try:
                if os.readlink(fd_dir / name).startswith("socket:"):
                    sockets += 1
            except OSError:
                continue
    return fds, sockets


def device_name(major: int, minor: int, sys: Path = SYS) -> str:
    """``/dev/<DEVNAME>`` of a block device, or ``major:minor`` when sysfs does not say."""
    try:
        uevent = (sys / "dev" / "block" / f"{major}:{minor}" / "uevent").read_text()
    except OSError:
        return f"{major}:{minor}"
    for line in uevent.splitlines():
        key, _, value = line.partition("=")
        if key == "DEVNAME" and value:
            return f"/dev/{value}"
    return f"{major}:{minor}"


def machine(proc: Path = PROC) -> tuple[int, int]:
    """``(online CPUs, MemTotal in bytes)``: cAdvisor's machine_cpu_cores and
    machine_memory_bytes."""
    from pyker.runtime.stats import host_memory, system_cpu

    _, cpus = system_cpu((proc / "stat").read_text())
    return cpus, host_memory((proc / "meminfo").read_text())
