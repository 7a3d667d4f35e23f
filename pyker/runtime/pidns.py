"""Which PID namespace a monitor's next child is born in (pid_namespaces(7)).

unshare(CLONE_NEWPID) and setns(2) on a PID namespace change only where the caller's
*children* go: the monitor itself stays where it is, and forks the container's init into a
new namespace (its PID 1), another container's (``--pid container:NAME``), and back into its
own for its cleanup.
"""

from __future__ import annotations

import os


def new_for_children() -> None:
    """Only the *next* child enters a new PID namespace (as its PID 1); the monitor stays.

    The kernel allows that unshare only while the namespace for children is still our own
    (copy_pid_ns: EINVAL otherwise), so a restart first points it back at our own namespace
    with setns(2) on /proc/self/ns/pid.
    """
    from pyker.kernel.namespaces import CloneFlag, unshare

    own_for_children()
    unshare(CloneFlag.CLONE_NEWPID)


def join_for_children(path: str) -> None:
    """The next child is born in the PID namespace at ``path`` (another container's)."""
    from pyker.kernel.namespaces import CloneFlag, setns

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, CloneFlag.CLONE_NEWPID)
    finally:
        os.close(fd)


def own_for_children() -> None:
    """Children in the monitor's own PID namespace again. Once the container's init (PID 1
    of the one made for it) has exited, that namespace takes no new process: a fork there
    fails with ENOMEM (pid_namespaces(7)), and cleanup forks (iptables)."""
    from pyker.kernel.namespaces import CloneFlag, setns

    fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, CloneFlag.CLONE_NEWPID)
    finally:
        os.close(fd)
