"""Paths inside a root directory that no symlink or ``..`` can lead out of.

pyker writes into and reads from trees it does not trust: a layer being extracted, a
container's rootfs for ``cp``, a build context for ``COPY``. Two tricks lead out of such a
tree when paths are handled as strings:

* a ``..`` that climbs above the root (``../../etc/passwd``);
* a symlink in a *parent* component: after ``a -> /etc``, writing ``a/passwd`` through the
  path API writes the host's ``/etc/passwd``, because the kernel follows ``a``.

Checking first and opening later does not help (the tree may change in between: TOCTOU). The
kernel's own answer is to walk with openat(2): open each component relative to the file
descriptor of its parent with ``O_NOFOLLOW | O_DIRECTORY``, so the kernel itself refuses a
symlink at the moment of the open (see open(2), and openat2(2) ``RESOLVE_IN_ROOT``, which
Linux 5.6 offers in one call but Python does not wrap). :func:`open_dir` does this walk.

The other need is to follow symlinks *as the container would*: inside the container an
absolute target ``/bin/busybox`` starts from the container's root, and ``..`` at the root
stays at the root. :func:`resolve_in_root` gives that answer as a host path, as runc's
``filepath-securejoin`` does.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# The kernel's own limit on symlinks followed in one lookup (MAXSYMLINKS, fs/namei.c).
MAX_SYMLINKS = 40

_WALK_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


def clean_parts(path: str) -> tuple[str, ...]:
    """The components of relative ``path`` once ``.``, empty and ``..`` are resolved lexically.

    ``./a//b/../c`` gives ``("a", "c")``; ``""`` and ``"."`` give ``()`` (the root itself).
    A leading ``/`` is ignored here: whether an absolute path is acceptable is the caller's
    policy.

    Raises:
        ValueError: a ``..`` climbs above the root.
    """
    parts: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp != "..":
            parts.append(comp)
        elif parts:
            parts.pop()
        else:
            raise ValueError(f"{path!r} climbs above the root")
    return tuple(parts)


def climbs_out(base: tuple[str, ...], target: str) -> bool:
    """Whether relative ``target``, read from directory ``base``, climbs above the root.

    A lexical check: it treats every component as a directory and does not follow symlinks.
    """
    depth = len(base)
    for comp in target.split("/"):
        if comp == "..":
            depth -= 1
            if depth < 0:
                return True
        elif comp not in ("", "."):
            depth += 1
    return False


def open_root(root: Path) -> int:
    """An ``O_PATH`` descriptor of directory ``root``, the anchor of every walk below it."""
    return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def open_dir(root_fd: int, parts: tuple[str, ...], *, create: bool = False,
             mode: int = 0o755) -> int:
    """An ``O_PATH`` descriptor of directory ``root/parts…``, opened without following symlinks.

    Each component is opened relative to its parent's descriptor with ``O_NOFOLLOW``, so
    nothing outside ``root`` can be reached whatever the tree holds. With ``create``, missing
    components are made with ``mode`` (as tar makes the parents an archive does not list).
    The caller closes the descriptor.

    Raises:
        OSError: ``ELOOP`` when a component is a symlink, ``ENOTDIR`` when it is another
            non-directory, ``ENOENT`` when it is missing and not ``create``; ``filename`` is
            the relative path of the component at fault.
    """
    fd = os.dup(root_fd)
    try:
        for i, comp in enumerate(parts):
            child = _open_child(fd, comp, parts[: i + 1], create, mode)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child(fd: int, comp: str, where: tuple[str, ...], create: bool, mode: int) -> int:
    rel = "/".join(where)
    try:
        return os.open(comp, _WALK_FLAGS, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), rel) from None
    except NotADirectoryError:
        # O_NOFOLLOW|O_DIRECTORY answers ENOTDIR for a symlink too: tell the two apart,
        # since only the symlink is an attempt to leave the root.
        if stat.S_ISLNK(os.stat(comp, dir_fd=fd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "path component is a symlink", rel) from None
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), rel) from None
    os.mkdir(comp, mode, dir_fd=fd)
    return os.open(comp, _WALK_FLAGS, dir_fd=fd)


def proc_path(fd: int, name: str | None = None) -> str:
    """A path naming what ``fd`` (or entry ``name`` of directory ``fd``) refers to.

    Some calls have no ``*at`` form in Python (``setxattr``) or refuse ``O_PATH``
    descriptors (``fchmod``); ``/proc/self/fd/N`` is a magic link to the very inode the
    descriptor holds, so going through it cannot be redirected by a symlink in the tree.
    With ``name``, the caller must not follow a symlink in that last component.
    """
    return f"/proc/self/fd/{fd}" if name is None else f"/proc/self/fd/{fd}/{name}"


def resolve_in_root(root: Path, path: str, *, follow_final: bool = True) -> Path:
    """The host path that ``path`` names inside ``root``, following symlinks as if root were /.

    An absolute symlink target restarts from ``root``, ``..`` at the root stays there, and
    components that do not exist are kept as they are (so the result can name a file to
    create). The final component is followed only with ``follow_final``.

    The answer is a path, so it is only as good as the tree stays unchanged: to write into a
    tree that may change under you, open it with :func:`open_dir`.

    Raises:
        OSError: ``ELOOP`` after more than :data:`MAX_SYMLINKS` symlinks.
    """
    pending = [c for c in reversed(path.split("/")) if c not in ("", ".")]
    resolved: list[str] = []
    followed = 0
    while pending:
        comp = pending.pop()
        if comp == "..":
            if resolved:
                resolved.pop()
            continue
        target = _link_target(root.joinpath(*resolved, comp))
        if target is None or (not pending and not follow_final):
            resolved.append(comp)
            continue
        followed += 1
        if followed > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        if target.startswith("/"):
            resolved.clear()
        pending.extend(c for c in reversed(target.split("/")) if c not in ("", "."))
    return root.joinpath(*resolved)


def _link_target(host: Path) -> str | None:
    """The target of symlink ``host``; None when it is something else or does not exist."""
    try:
        return os.readlink(host)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        if err.errno == errno.EINVAL:  # exists, but is not a symlink
            return None
        raise
