"""Overlay mounts: a container's root filesystem as image layers plus one writable layer.

overlayfs merges directories into one tree. The *lower* directories are read-only and
stacked: for a name, the top-most lower that has it wins (``lowerdir=top:...:bottom``, at
most ``OVL_MAX_STACK`` = 500). The *upper* directory takes every change: writing to a lower
file first copies it up whole (copy-on-write), deleting a lower name leaves a *whiteout* (a
character device 0/0) in upper, and an *opaque* directory (xattr ``trusted.overlay.opaque``)
hides the lower directories it covers. The *work* directory, empty and on the upper's
filesystem, is where overlay prepares copy-ups before renaming them into place; overlay
locks upper and work for one mount at a time (EBUSY otherwise). Without an upper the
overlay is read-only, and then it needs at least two lowers.

The hard part is the number of layers. mount(2) copies its options into one page (4096
bytes, the rest cut silently), which a hundred absolute layer paths overflow. Three ways,
the first that works:

1. **The new mount API** (fsopen(2)/fsconfig(2), Linux 6.8+ for overlay's ``lowerdir+``): one
   fsconfig call per layer, so no total limit; a value is at most 255 bytes, and a longer
   path is given as ``/proc/self/fd/N`` of an ``O_PATH`` fd of the directory.
2. **mount(2) with absolute paths**, when they fit in the page and need no escaping.
3. **mount(2) with fd numbers**: each directory is opened ``O_PATH`` and named by its fd
   number, *relative to a cwd of /proc/thread-self/fd* (``lowerdir=7:8:9,upperdir=10``); the
   kernel resolves relative option paths against the mounting thread's cwd. Docker's trick
   (short relative names under a common cwd) without its symlink farm: 500 layers take
   ~2.5 KB. Absolute ``/proc/self/fd/N`` paths alone would not do: 17 bytes each stop
   near 240 layers. The cwd is changed in a throwaway thread that first unshares
   ``CLONE_FS`` (its own cwd), rather than in a forked child: fork in a threaded Python
   process is unsafe (and deprecated in 3.12), and chdir in the process would race with
   every other thread. The fd numbers are what mountinfo shows afterwards; only this path
   pays that price in readability.

A single lower without upper is not an overlay at all: it is a read-only bind mount.

See Documentation/filesystems/overlayfs.rst, mount(2), fsopen(2), fsconfig(2).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from pyker.kernel.fsmount import AT_FDCWD, FSCONFIG_MAX_STRING, FsconfigCmd, MoveMountFlag
from pyker.kernel.mount import MountFlag, StrPath, UmountFlag
from pyker.kernel.namespaces import CloneFlag
from pyker.kernel.syscalls import LinuxSyscalls, Syscalls

OVL_MAX_STACK = 500
#: mount(2) copies one page of options and NUL-terminates it, cutting what does not fit.
MAX_MOUNT_DATA = os.sysconf("SC_PAGE_SIZE") - 1
INDEX_PARAM = Path("/sys/module/overlay/parameters/index")
#: The release whose overlay parses ``lowerdir+`` (commit "ovl: add support for appending
#: lowerdirs one by one"). Older kernels may still have fsopen: see _create().
LOWERDIR_ADD_SINCE = (6, 8)
# "volatile" (5.10): no sync of the upper filesystem at unmount — the unmount of a container
# that wrote nothing otherwise waits for every dirty page of the host's disk (40-250 ms here
# under load, 3 ms volatile). For upper dirs that are thrown away after use.
VOLATILE_SINCE = (5, 10)
_FD_DIR = "/proc/self/fd"
# The fd-names cwd: the mounting thread's own view of the (shared) fd table, which stays
# valid even if the process's main thread has exited, unlike /proc/self.
_THREAD_FD_DIR = "/proc/thread-self/fd"
# Characters overlay's option parser splits on or unescapes: such a path goes by fd number.
_SPECIAL = re.compile(r"[:,\\]")


class OverlayMethod(enum.Enum):
    """How :func:`mount_overlay` mounted, in the order it tries."""

    NEW_API = "fsopen"
    MOUNT = "mount"
    MOUNT_FD_NAMES = "mount-fd-names"
    BIND = "bind"


@dataclass(frozen=True, slots=True, kw_only=True)
class OverlaySpec:
    """What to stack: ``lowers`` top-most first (image layers are listed bottom first: reverse).

    ``options`` are extra ``key=value`` pairs for overlay itself (``("index", "off")``);
    ``volatile`` sets overlay's flag of that name (upper writes are never synced).
    """

    lowers: tuple[Path, ...]
    upper: Path | None = None
    work: Path | None = None
    options: tuple[tuple[str, str], ...] = ()
    volatile: bool = False

    def __post_init__(self) -> None:
        for check in _CHECKS:
            check(self)

    @property
    def dirs(self) -> tuple[Path, ...]:
        """Every directory the mount names, lowers first."""
        rw = () if self.upper is None or self.work is None else (self.upper, self.work)
        return self.lowers + rw

    @property
    def is_bind(self) -> bool:
        """One lower and no upper: overlay refuses it, a read-only bind does it."""
        return len(self.lowers) == 1 and self.upper is None


def _check_lowers(spec: OverlaySpec) -> None:
    if not spec.lowers:
        raise ValueError("overlay needs at least one lower directory")
    if len(spec.lowers) > OVL_MAX_STACK:
        raise ValueError(f"overlay stacks at most {OVL_MAX_STACK} lower directories, "
                         f"got {len(spec.lowers)}")


def _check_upper_work(spec: OverlaySpec) -> None:
    if (spec.upper is None) != (spec.work is None):
        raise ValueError(f"overlay upper and work directories go together: upper={spec.upper}"
                         f", work={spec.work}")


def _check_absolute(spec: OverlaySpec) -> None:
    # The fd-name path runs with a cwd of /proc/self/fd: a relative path would mean another dir.
    for path in spec.dirs:
        if not path.is_absolute():
            raise ValueError(f"overlay directory {path} is not absolute")


def _check_volatile(spec: OverlaySpec) -> None:
    if spec.volatile and spec.upper is None:
        raise ValueError("overlay's volatile flag needs an upper directory")


_CHECKS: tuple[Callable[[OverlaySpec], None], ...] = (_check_lowers, _check_upper_work,
                                                      _check_absolute, _check_volatile)


def default_options(index_param: Path | None = None) -> tuple[tuple[str, str], ...]:
    """``(("index", "off"),)`` when the kernel's default is index on, else nothing.

    With index on (CONFIG_OVERLAY_FS_INDEX=y or ``overlay.index=1``), an upper directory
    remembers (``trusted.overlay.origin``) the lower stack it was first mounted over and
    refuses another one ("failed to verify upper root origin"); a container's upper must
    survive its image's layer directories being re-created (re-pull, import). Docker turns it
    off for the same reason (moby#37993). pyker needs none of what index is for (NFS export,
    hardlinks kept across copy-up), so it is off; but only said when the default differs, to
    keep options short and mountinfo readable. ``xino`` is left alone: the kernel falls back
    to ``xino=off`` by itself when layers span filesystems or inode bits run short.
    """
    try:
        default_on = (index_param or INDEX_PARAM).read_text().strip() in ("Y", "1")
    except OSError:  # no overlay module parameters: a kernel older than index (4.13)
        return ()
    return (("index", "off"),) if default_on else ()


# -- planning: pure functions of the spec, checked by unit tests --------------------------


def fsconfig_steps(spec: OverlaySpec, fds: Mapping[Path, int] | None = None) \
        -> list[tuple[str, str | None]]:
    """The ``(key, value)`` strings to set, in order, for the new mount API; a flag's value
    is None.

    A directory in ``fds`` (its path longer than fsconfig's 255 bytes) is named
    ``/proc/self/fd/<fd>`` instead.
    """
    fds = fds or {}

    def name(path: Path) -> str:
        return f"{_FD_DIR}/{fds[path]}" if path in fds else str(path)

    steps = [("source", "overlay")]
    steps += [("lowerdir+", name(lower)) for lower in spec.lowers]
    if spec.upper is not None and spec.work is not None:
        steps += [("upperdir", name(spec.upper)), ("workdir", name(spec.work))]
    return steps + list(spec.options) + ([("volatile", None)] if spec.volatile else [])


def too_long_for_fsconfig(spec: OverlaySpec) -> list[Path]:
    return [p for p in spec.dirs if len(os.fsencode(p)) > FSCONFIG_MAX_STRING]


def mount_data(spec: OverlaySpec, names: Mapping[Path, str] | None = None) -> str:
    """The mount(2) option string, each directory named by ``names`` or its own path."""
    names = names or {}

    def name(path: Path) -> str:
        return names.get(path, str(path))

    parts = ["lowerdir=" + ":".join(name(lower) for lower in spec.lowers)]
    if spec.upper is not None and spec.work is not None:
        parts += [f"upperdir={name(spec.upper)}", f"workdir={name(spec.work)}"]
    flags = ["volatile"] if spec.volatile else []
    return ",".join(parts + [f"{key}={value}" for key, value in spec.options] + flags)


def fits_mount_data(spec: OverlaySpec, data: str) -> bool:
    """Whether ``data`` reaches the kernel whole and unambiguous."""
    return (len(data.encode()) <= MAX_MOUNT_DATA
            and not any(_SPECIAL.search(str(p)) for p in spec.dirs))


def kernel_version() -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(match[1]), int(match[2])) if match else (0, 0)


# -- mounting -----------------------------------------------------------------------------


def mount_overlay(lowers: Sequence[StrPath], upper: StrPath | None, work: StrPath | None,
                  target: StrPath, *, volatile: bool = False,
                  syscalls: Syscalls | None = None) -> OverlayMethod:
    """Mount ``lowers`` (top-most first) with ``upper``/``work`` on ``target``.

    Relative paths are made absolute first. Returns how it was mounted. ``volatile`` (for an
    upper that is thrown away after use) is asked where the kernel has it (5.10); the mount
    then leaves :func:`volatile_marker` in ``work``.

    Raises:
        ValueError: no lower, more than 500, or only one of upper and work.
        OSError: from the kernel, naming the syscall, the paths and the flags.
    """
    sc = syscalls if syscalls is not None else LinuxSyscalls()
    spec = OverlaySpec(lowers=tuple(_absolute(p) for p in lowers),
                       upper=None if upper is None else _absolute(upper),
                       work=None if work is None else _absolute(work),
                       options=default_options(),
                       volatile=volatile and upper is not None
                       and kernel_version() >= VOLATILE_SINCE)
    where = _absolute(target)
    if spec.is_bind:
        _bind_readonly(sc, spec.lowers[0], where)
        return OverlayMethod.BIND
    try:
        _mount_new_api(sc, spec, where)
        return OverlayMethod.NEW_API
    except _Unsupported:
        return _mount_classic(sc, spec, where)


def umount(target: StrPath, *, detach: bool = False, syscalls: Syscalls | None = None) -> None:
    """Unmount what :func:`mount_overlay` mounted; ``detach`` lazily, even if busy (EBUSY).

    Raises:
        OSError: named ``umount2 <target> (<flags>)``.
    """
    sc = syscalls if syscalls is not None else LinuxSyscalls()
    sc.umount2(_absolute(target), UmountFlag.MNT_DETACH if detach else UmountFlag(0))


def volatile_marker(work: StrPath) -> Path:
    """The directory a volatile mount leaves in its work dir, even after a clean unmount.

    The kernel refuses to mount over it again, since a crash may have lost upper writes;
    whoever knows the host did not restart since may remove it (overlayfs.rst, "Volatile
    mount").
    """
    return Path(work) / "work" / "incompat" / "volatile"


class _Unsupported(Exception):
    """The new mount API cannot do this overlay here: use mount(2)."""


def _bind_readonly(sc: Syscalls, lower: Path, target: Path) -> None:
    # A bind ignores MS_RDONLY on creation: read-only takes a remount of the new bind.
    sc.mount(lower, target, None, MountFlag.MS_BIND)
    try:
        sc.mount(None, target, None, MountFlag.MS_BIND | MountFlag.MS_REMOUNT
                 | MountFlag.MS_RDONLY)
    except OSError:
        sc.umount2(target, UmountFlag.MNT_DETACH)
        raise


def _mount_new_api(sc: Syscalls, spec: OverlaySpec, target: Path) -> None:
    try:
        fd = sc.fsopen("overlay")
    except OSError as err:
        # ENOSYS: before 5.2, or an unknown architecture; EPERM: a seccomp filter (Docker's
        # default profile) that hides the new API. mount(2) will say if we really may not.
        if err.errno in (errno.ENOSYS, errno.EPERM):
            raise _Unsupported from err
        raise
    try:
        with _opened(sc, too_long_for_fsconfig(spec)) as fds:
            for key, value in fsconfig_steps(spec, fds):
                _set(sc, fd, key, value)
            _create(sc, fd)
        mfd = sc.fsmount(fd)
    finally:
        sc.close(fd)
    try:
        sc.move_mount(mfd, "", AT_FDCWD, target, MoveMountFlag.MOVE_MOUNT_F_EMPTY_PATH)
    finally:
        sc.close(mfd)


def _set(sc: Syscalls, fd: int, key: str, value: str | None) -> None:
    try:
        if value is None:
            sc.fsconfig(fd, FsconfigCmd.FSCONFIG_SET_FLAG, key)
        else:
            sc.fsconfig(fd, FsconfigCmd.FSCONFIG_SET_STRING, key, value)
    except OSError as err:
        # 6.5-6.7 parse overlay options natively and reject the unknown "lowerdir+" at once;
        # before 6.5, the legacy adapter buffers options and fails once a page is full.
        if key == "lowerdir+" and err.errno == errno.EINVAL:
            raise _Unsupported from err
        _raise_explained(sc, fd, err)


def _create(sc: Syscalls, fd: int) -> None:
    try:
        sc.fsconfig(fd, FsconfigCmd.FSCONFIG_CMD_CREATE)
    except OSError as err:
        # Before 6.5 overlay sits behind the legacy adapter, which took "lowerdir+" without a
        # word and only now lets overlay reject it: not a real error, a missing feature.
        if err.errno == errno.EINVAL and kernel_version() < LOWERDIR_ADD_SINCE:
            raise _Unsupported from err
        _raise_explained(sc, fd, err)


def _raise_explained(sc: Syscalls, fd: int, err: OSError) -> NoReturn:
    """Raise ``err`` with what the kernel logged in the filesystem context, if anything."""
    messages = sc.fs_messages(fd)
    if not messages:
        raise err
    better = OSError(err.errno, f"{err.strerror} ({'; '.join(messages)})")
    better.syscall = getattr(err, "syscall", None)  # type: ignore[attr-defined]
    raise better from err


def _mount_classic(sc: Syscalls, spec: OverlaySpec, target: Path) -> OverlayMethod:
    data = mount_data(spec)
    if fits_mount_data(spec, data):
        sc.mount("overlay", target, "overlay", MountFlag(0), data)
        return OverlayMethod.MOUNT
    with _opened(sc, spec.dirs) as fds:
        data = mount_data(spec, {path: str(fd) for path, fd in fds.items()})
        if len(data.encode()) > MAX_MOUNT_DATA:
            raise OSError(errno.E2BIG, f"mount overlay on {target}: {len(data.encode())} bytes"
                          f" of options even with fd names, more than {MAX_MOUNT_DATA}")
        _in_private_cwd(sc, _THREAD_FD_DIR, lambda: sc.mount("overlay", target, "overlay",
                                                      MountFlag(0), data))
    return OverlayMethod.MOUNT_FD_NAMES


@contextlib.contextmanager
def _opened(sc: Syscalls, dirs: Iterable[Path]) -> Iterator[dict[Path, int]]:
    """``O_PATH`` fds of ``dirs``, closed on exit; they pin each directory while mounting."""
    fds: dict[Path, int] = {}
    try:
        for path in dirs:
            if path not in fds:
                fds[path] = sc.open_path(path)
        yield fds
    finally:
        for fd in fds.values():
            sc.close(fd)


def _in_private_cwd(sc: Syscalls, cwd: str, action: Callable[[], None]) -> None:
    """Run ``action`` in a new thread whose cwd is ``cwd``; the process's cwd never moves.

    unshare(CLONE_FS) gives the calling thread its own cwd/root/umask; it is allowed in a
    multi-threaded process (unlike CLONE_NEWUSER) and dies with the thread.
    """
    failure: list[BaseException] = []

    def body() -> None:
        try:
            sc.unshare(CloneFlag.CLONE_FS)
            sc.chdir(cwd)
            action()
        except BaseException as err:  # handed to the caller's thread, raised there
            failure.append(err)

    thread = threading.Thread(target=body, name="pyker-overlay-mount")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _absolute(path: StrPath) -> Path:
    return Path(os.path.abspath(path))
