"""Network namespaces that outlive their processes: a bind mount of nsfs on a file.

As ``ip netns add`` (and Docker's "sandbox" under /var/run/docker/netns), pyker makes a
container's network namespace *before* the container, configures it (veth, address, route,
the embedded DNS socket) and names it in the OCI spec by path; the container's init joins it
with setns(2). The namespace lives as long as the bind mount or any process in it. So the
network is ready when the container's process starts, and an external runtime (runc, crun)
joins the same namespace from the same spec.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pyker.kernel.mount import MountFlag, UmountFlag, mount, umount2
from pyker.kernel.namespaces import CloneFlag, setns, unshare


def create(path: Path) -> None:
    """A new network namespace, pinned on ``path`` (which must not exist).

    The calling thread enters it just long enough to bind-mount its own namespace file,
    then returns to the namespace it was in; its ``lo`` is brought up there.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444))
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CloneFlag.CLONE_NEWNET)
        try:
            mount("/proc/thread-self/ns/net", path, None, MountFlag.MS_BIND)
            from pyker.kernel.netif import set_up

            set_up("lo")
        finally:
            setns(own, CloneFlag.CLONE_NEWNET)
    except BaseException:
        remove(path)
        raise
    finally:
        os.close(own)


def remove(path: Path) -> None:
    """Unpin and delete; the namespace ends with its last process. Idempotent."""
    try:
        umount2(path, UmountFlag.MNT_DETACH)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOENT):  # not mounted, or gone
            raise
    path.unlink(missing_ok=True)


def is_pinned(path: Path) -> bool:
    """Whether ``path`` is a mounted network namespace (nsfs), not just a file."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev
    except FileNotFoundError:
        return False
