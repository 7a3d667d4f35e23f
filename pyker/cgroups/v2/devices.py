"""v2 device access: the eBPF filter of :mod:`devfilter`, loaded and attached to the cgroup.

Replacing the filter of a live cgroup must never leave a window with no filter: the new
program is attached first (``BPF_F_ALLOW_MULTI``: while both are attached both must allow,
so the window is the stricter of the two), then the programs found attached before are
detached, by id, as runc does. A rule list that folds to "allow everything" (``--privileged``)
just detaches them. The program needs no pinning: the attachment holds it, and removing the
cgroup releases it. See bpf(2), and Documentation/admin-guide/cgroup-v2.rst, "Device controller".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from pyker.cgroups import devrules
from pyker.cgroups.resources import Resources
from pyker.cgroups.v2 import devfilter
from pyker.errors import CgroupError
from pyker.kernel.bpf import BpfAttachFlag, BpfAttachType, BpfProgType

NAME = "devices"
_TYPE = BpfAttachType.BPF_CGROUP_DEVICE


class Bpf(Protocol):
    """The bpf(2) calls needed here (:class:`pyker.kernel.bpf.LinuxBpf`, or a test fake)."""

    def prog_load(self, prog_type: BpfProgType, insns: bytes, license: str, *,
                  name: str = "") -> int: ...

    def prog_attach(self, target_fd: int, prog_fd: int, attach_type: BpfAttachType,
                    flags: BpfAttachFlag = ...) -> None: ...

    def prog_detach(self, target_fd: int, prog_fd: int, attach_type: BpfAttachType) -> None: ...

    def prog_query(self, target_fd: int, attach_type: BpfAttachType) -> list[int]: ...

    def prog_get_fd_by_id(self, prog_id: int) -> int: ...

    def close(self, fd: int) -> None: ...


def apply(bpf: Bpf, cgroup: Path, res: Resources) -> list[str]:
    """Attach the filter for ``res.devices`` to ``cgroup``, replacing the previous ones.

    Raises:
        CgroupError: a bpf(2) call failed; the message names the command and the cgroup.
    """
    if not res.devices:
        return []
    state = devrules.fold(res.devices)
    allow_all = state.default_allow and not state.exceptions
    code = devfilter.assemble(devfilter.program(res.devices))
    try:
        dirfd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise CgroupError(f"open {cgroup}: {err.strerror}", path=str(cgroup),
                          errno=err.errno) from err
    try:
        old = bpf.prog_query(dirfd, _TYPE)
        if not allow_all:
            prog = bpf.prog_load(BpfProgType.BPF_PROG_TYPE_CGROUP_DEVICE, code,
                                 devfilter.LICENSE, name="pyker_devices")
            try:
                bpf.prog_attach(dirfd, prog, _TYPE, BpfAttachFlag.BPF_F_ALLOW_MULTI)
            finally:
                bpf.close(prog)  # the attachment keeps the program alive
        for prog_id in old:
            fd = bpf.prog_get_fd_by_id(prog_id)
            try:
                bpf.prog_detach(dirfd, fd, _TYPE)
            finally:
                bpf.close(fd)
    except OSError as err:
        raise CgroupError(f"{cgroup}: device filter: {err.strerror}", path=str(cgroup),
                          errno=err.errno) from err
    finally:
        os.close(dirfd)
    return []


def attached(bpf: Bpf, cgroup: Path) -> list[int]:
    """Ids of the device programs attached to ``cgroup`` itself."""
    dirfd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bpf.prog_query(dirfd, _TYPE)
    finally:
        os.close(dirfd)
