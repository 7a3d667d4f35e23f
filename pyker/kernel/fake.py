"""A fake :class:`~pyker.kernel.syscalls.Syscalls` that records calls and returns scripted results.

Policy code (which mounts, in which order, with which options; which namespaces to unshare)
is tested by running it against :class:`RecordingSyscalls` and comparing ``calls`` with the
expected list, without root and without touching the host, as youki's ``TestHelperSyscall``.
A test scripts a result per call name: a value to return, or an exception to raise (build
kernel-like ones with :meth:`RecordingSyscalls.fail`). Unscripted calls succeed; calls that
return a file descriptor hand out increasing numbers from ``first_fd``, so that tests can
predict them.

    >>> fake = RecordingSyscalls()
    >>> fake.fail("fsopen", errno.ENOSYS, path="overlay")
    >>> fake.fsopen("overlay")
    Traceback (most recent call last):
    ...
    OSError: [Errno 38] fsopen overlay: Function not implemented
    >>> fake.names
    ['fsopen']
"""

from __future__ import annotations

import errno  # noqa: F401  (the doctest above uses it)
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from pyker.kernel import _libc
from pyker.kernel.caps import CapSets
from pyker.kernel.fsmount import FsconfigCmd, FsmountFlag, FsopenFlag, MountAttr, MoveMountFlag
from pyker.kernel.mount import MountFlag, StrPath, UmountFlag
from pyker.kernel.namespaces import CloneFlag
from pyker.kernel.prctl import PrctlOption

__all__ = ["Call", "RecordingSyscalls"]

_NEW_FD = object()  # default result of the calls that return a new file descriptor


@dataclass(frozen=True, slots=True)
class Call:
    """One recorded call: the method name and every argument, defaults included, in order."""

    name: str
    args: tuple[object, ...]


class RecordingSyscalls:
    """Records every call in :attr:`calls`; see the module docstring."""

    def __init__(self, *, first_fd: int = 100) -> None:
        self.calls: list[Call] = []
        self._scripts: defaultdict[str, deque[object]] = defaultdict(deque)
        self._next_fd = first_fd

    # -- scripting and inspection ------------------------------------------------------------

    def script(self, name: str, *results: object) -> None:
        """Queue what the next calls of ``name`` return (or raise, for an exception)."""
        self._scripts[name].extend(results)

    def fail(self, name: str, err: int, *, path: object = None) -> None:
        """Queue a kernel-like OSError (same message format as the real wrappers)."""
        self.script(name, _libc.error(err, name, path=path))

    @property
    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def named(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]

    def unused(self) -> dict[str, list[object]]:
        """Scripted results no call consumed (a test expecting more calls than were made)."""
        return {name: list(queue) for name, queue in self._scripts.items() if queue}

    def _call(self, name: str, *args: object, default: object = None) -> Any:
        self.calls.append(Call(name, args))
        queue = self._scripts.get(name)
        result = queue.popleft() if queue else default
        if isinstance(result, BaseException):
            raise result
        if result is _NEW_FD:
            result, self._next_fd = self._next_fd, self._next_fd + 1
        return result

    # -- the Syscalls interface ----------------------------------------------------------------

    def mount(self, source: StrPath | None, target: StrPath, fstype: str | None,
              flags: MountFlag = MountFlag(0), data: str | None = None) -> None:
        self._call("mount", source, target, fstype, flags, data)

    def umount2(self, target: StrPath, flags: UmountFlag = UmountFlag(0)) -> None:
        self._call("umount2", target, flags)

    def pivot_root(self, new_root: StrPath, put_old: StrPath) -> None:
        self._call("pivot_root", new_root, put_old)

    def fsopen(self, fsname: str, flags: FsopenFlag = FsopenFlag.FSOPEN_CLOEXEC) -> int:
        return self._call("fsopen", fsname, flags, default=_NEW_FD)

    def fsconfig(self, fd: int, cmd: FsconfigCmd, key: str | None = None,
                 value: str | bytes | None = None, aux: int = 0) -> None:
        self._call("fsconfig", fd, cmd, key, value, aux)

    def fsmount(self, fd: int, flags: FsmountFlag = FsmountFlag.FSMOUNT_CLOEXEC,
                attr_flags: MountAttr = MountAttr(0)) -> int:
        return self._call("fsmount", fd, flags, attr_flags, default=_NEW_FD)

    def move_mount(self, from_dfd: int, from_path: StrPath, to_dfd: int, to_path: StrPath,
                   flags: MoveMountFlag = MoveMountFlag(0)) -> None:
        self._call("move_mount", from_dfd, from_path, to_dfd, to_path, flags)

    def fs_messages(self, fd: int) -> list[str]:
        return self._call("fs_messages", fd, default=[])

    def unshare(self, flags: CloneFlag) -> None:
        self._call("unshare", flags)

    def setns(self, fd: int, nstype: CloneFlag = CloneFlag(0)) -> None:
        self._call("setns", fd, nstype)

    def sethostname(self, name: str) -> None:
        self._call("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._call("setdomainname", name)

    def prctl(self, option: PrctlOption, arg2: int = 0, arg3: int = 0, arg4: int = 0,
              arg5: int = 0) -> int:
        return self._call("prctl", option, arg2, arg3, arg4, arg5, default=0)

    def capget(self, pid: int = 0) -> CapSets:
        empty = CapSets(effective=0, permitted=0, inheritable=0)
        return self._call("capget", pid, default=empty)

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._call("capset", effective, permitted, inheritable)

    def open_path(self, path: StrPath) -> int:
        return self._call("open_path", path, default=_NEW_FD)

    def close(self, fd: int) -> None:
        self._call("close", fd)

    def chdir(self, path: StrPath) -> None:
        self._call("chdir", path)
