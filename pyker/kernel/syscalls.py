"""One interface for every syscall pyker makes, so that policy code can be tested without root.

Upper layers never call :mod:`pyker.kernel.mount` & co. directly: they take a ``syscalls=``
argument typed :class:`Syscalls` and default it to :class:`LinuxSyscalls`, the real thing.
Tests pass :class:`pyker.kernel.fake.RecordingSyscalls` instead, which records each call and
returns scripted results, then assert on the calls made (youki's ``Syscall`` trait, with
``LinuxSyscall`` and ``TestHelperSyscall``). Besides the wrappers of syscalls Python lacks,
the interface holds the few ``os`` calls whose effect a test must not suffer for real
(``chdir``) or whose results it must predict (the fds of ``open_path``).
"""

from __future__ import annotations

import os
from typing import Protocol

from pyker.kernel import caps as _caps
from pyker.kernel import fsmount as _fsmount
from pyker.kernel import mount as _mount
from pyker.kernel import namespaces as _ns
from pyker.kernel import prctl as _prctl
from pyker.kernel.caps import CapSets
from pyker.kernel.fsmount import FsconfigCmd, FsmountFlag, FsopenFlag, MountAttr, MoveMountFlag
from pyker.kernel.mount import MountFlag, StrPath, UmountFlag
from pyker.kernel.namespaces import CloneFlag
from pyker.kernel.prctl import PrctlOption


class Syscalls(Protocol):
    """The syscalls of pyker, one method each, with the wrappers' signatures."""

    def mount(self, source: StrPath | None, target: StrPath, fstype: str | None,
              flags: MountFlag = MountFlag(0), data: str | None = None) -> None: ...

    def umount2(self, target: StrPath, flags: UmountFlag = UmountFlag(0)) -> None: ...

    def pivot_root(self, new_root: StrPath, put_old: StrPath) -> None: ...

    def fsopen(self, fsname: str, flags: FsopenFlag = FsopenFlag.FSOPEN_CLOEXEC) -> int: ...

    def fsconfig(self, fd: int, cmd: FsconfigCmd, key: str | None = None,
                 value: str | bytes | None = None, aux: int = 0) -> None: ...

    def fsmount(self, fd: int, flags: FsmountFlag = FsmountFlag.FSMOUNT_CLOEXEC,
                attr_flags: MountAttr = MountAttr(0)) -> int: ...

    def move_mount(self, from_dfd: int, from_path: StrPath, to_dfd: int, to_path: StrPath,
                   flags: MoveMountFlag = MoveMountFlag(0)) -> None: ...

    def fs_messages(self, fd: int) -> list[str]: ...

    def unshare(self, flags: CloneFlag) -> None: ...

    def setns(self, fd: int, nstype: CloneFlag = CloneFlag(0)) -> None: ...

    def sethostname(self, name: str) -> None: ...

    def setdomainname(self, name: str) -> None: ...

    def prctl(self, option: PrctlOption, arg2: int = 0, arg3: int = 0, arg4: int = 0,
              arg5: int = 0) -> int: ...

    def capget(self, pid: int = 0) -> CapSets: ...

    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...

    def open_path(self, path: StrPath) -> int: ...

    def close(self, fd: int) -> None: ...

    def chdir(self, path: StrPath) -> None: ...


class LinuxSyscalls:
    """The real :class:`Syscalls`: each method is the kernel wrapper of the same name."""

    mount = staticmethod(_mount.mount)
    umount2 = staticmethod(_mount.umount2)
    pivot_root = staticmethod(_mount.pivot_root)
    fsopen = staticmethod(_fsmount.fsopen)
    fsconfig = staticmethod(_fsmount.fsconfig)
    fsmount = staticmethod(_fsmount.fsmount)
    move_mount = staticmethod(_fsmount.move_mount)
    fs_messages = staticmethod(_fsmount.fs_messages)
    unshare = staticmethod(_ns.unshare)
    setns = staticmethod(_ns.setns)
    sethostname = staticmethod(_ns.sethostname)
    setdomainname = staticmethod(_ns.setdomainname)
    prctl = staticmethod(_prctl.prctl)
    capget = staticmethod(_caps.capget)
    capset = staticmethod(_caps.capset)
    close = staticmethod(os.close)
    chdir = staticmethod(os.chdir)

    @staticmethod
    def open_path(path: StrPath) -> int:
        """An ``O_PATH`` fd of directory ``path``: it pins the directory without reading it."""
        return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
