"""The syscalls this layer needs beyond :class:`pyker.kernel.syscalls.Syscalls`.

Changing user and group IDs (setgroups(2), setresgid(2), setresuid(2)) is part of the
capability dance (see :func:`pyker.security.capabilities.apply_with_user`), and loading a
seccomp filter is seccomp(2). They extend the kernel interface here, with a real
implementation and a recording fake, so that tests can assert on the whole sequence.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pyker.kernel import seccomp as _seccomp
from pyker.kernel.fake import RecordingSyscalls
from pyker.kernel.seccomp import SeccompFilterFlag
from pyker.kernel.syscalls import LinuxSyscalls, Syscalls


class SecuritySyscalls(Syscalls):
    """:class:`Syscalls` plus credentials and seccomp."""

    def setgroups(self, groups: Sequence[int]) -> None: ...

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None: ...

    def setresuid(self, ruid: int, euid: int, suid: int) -> None: ...

    def seccomp_set_mode_filter(self, program: bytes,
                                flags: SeccompFilterFlag = SeccompFilterFlag(0)) -> None: ...


class LinuxSecuritySyscalls(LinuxSyscalls):
    """The real :class:`SecuritySyscalls`."""

    setgroups = staticmethod(os.setgroups)
    setresgid = staticmethod(os.setresgid)
    setresuid = staticmethod(os.setresuid)
    seccomp_set_mode_filter = staticmethod(_seccomp.seccomp_set_mode_filter)


class RecordingSecuritySyscalls(RecordingSyscalls):
    """The recording fake of :class:`SecuritySyscalls` (see :mod:`pyker.kernel.fake`)."""

    def setgroups(self, groups: Sequence[int]) -> None:
        self._call("setgroups", list(groups))

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._call("setresgid", rgid, egid, sgid)

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._call("setresuid", ruid, euid, suid)

    def seccomp_set_mode_filter(self, program: bytes,
                                flags: SeccompFilterFlag = SeccompFilterFlag(0)) -> None:
        self._call("seccomp_set_mode_filter", program, flags)
