"""Whiteouts: how a layer says "this file of a lower layer is deleted".

A layer is a changeset over the layers below it. Adding or changing a file is just the file;
a deletion needs a marker, and there are two spellings of it:

* **OCI, in a layer tar** (image-spec ``layer.md``): an empty file ``.wh.<name>`` deletes
  ``<name>``; a file ``.wh..wh..opq`` in a directory makes the directory *opaque*: nothing of
  the lower layers' directory shows through. Other ``.wh..wh.*`` names are aufs' private
  bookkeeping and carry no meaning.
* **overlayfs, on disk** (``Documentation/filesystems/overlayfs.rst``): a character device
  with device number 0/0 named ``<name>`` deletes it; the extended attribute
  ``trusted.overlay.opaque="y"`` on a directory makes it opaque.

pyker keeps unpacked layers in overlay's form, so a layer directory is an overlay
``lowerdir`` as it stands, and an upper directory after a ``run`` is already a changeset;
the OCI spelling exists only at the tar boundary (:mod:`pyker.fs.layer`).
"""

from __future__ import annotations

import enum
import errno
import os
import stat

PREFIX = ".wh."
META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"

# Everything overlay records about its own state lives under this prefix (opaque, redirect,
# origin, metacopy…); it is overlay's private metadata, never a file's own attribute.
OVERLAY_XATTR_PREFIX = "trusted.overlay."
OPAQUE_XATTR = "trusted.overlay.opaque"
OPAQUE_VALUE = b"y"
WHITEOUT_DEV = os.makedev(0, 0)


class Kind(enum.Enum):
    """What a name in a layer tar means."""

    PLAIN = "plain"        # an ordinary file name
    WHITEOUT = "whiteout"  # ``.wh.<name>``: <name> is deleted
    OPAQUE = "opaque"      # ``.wh..wh..opq``: its directory is opaque
    META = "meta"          # another ``.wh..wh.*``: aufs bookkeeping, ignored
    INVALID = "invalid"    # ``.wh.``, ``.wh..``, ``.wh...``: deletes nothing nameable


def classify(basename: str) -> Kind:
    """The meaning of the last component of a tar entry name."""
    if not basename.startswith(PREFIX):
        return Kind.PLAIN
    if basename == OPAQUE_MARKER:
        return Kind.OPAQUE
    if basename.startswith(META_PREFIX):
        return Kind.META
    if basename[len(PREFIX):] in ("", ".", ".."):
        return Kind.INVALID
    return Kind.WHITEOUT


def deleted_name(basename: str) -> str:
    """The name a whiteout deletes: ``.wh.foo`` → ``foo``.

    Raises:
        ValueError: ``basename`` is not a valid whiteout.
    """
    if classify(basename) is not Kind.WHITEOUT:
        raise ValueError(f"{basename!r} is not a whiteout")
    return basename[len(PREFIX):]


def whiteout_name(name: str) -> str:
    """The OCI whiteout that deletes ``name``: ``foo`` → ``.wh.foo``."""
    return PREFIX + name


def is_whiteout_device(st: os.stat_result) -> bool:
    """Whether ``st`` (from lstat) is overlay's whiteout: a character device 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == WHITEOUT_DEV


def make_whiteout(name: str, *, dir_fd: int) -> None:
    """Create overlay's whiteout for ``name`` in directory ``dir_fd``.

    Mode 0 as overlay itself makes them. Linux ≥ 5.8 lets anyone create this one device
    (vfs_mknod exempts the whiteout from CAP_MKNOD); older kernels need root.
    """
    os.mknod(name, stat.S_IFCHR, WHITEOUT_DEV, dir_fd=dir_fd)


def mark_opaque(path: str) -> None:
    """Make directory ``path`` opaque (``trusted.*`` attributes need CAP_SYS_ADMIN)."""
    os.setxattr(path, OPAQUE_XATTR, OPAQUE_VALUE)


def is_opaque(path: str) -> bool:
    """Whether directory ``path`` carries overlay's opaque mark."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == OPAQUE_VALUE
    except OSError as err:
        if err.errno in (errno.ENODATA, errno.ENOTSUP):  # no mark; no xattrs on this fs
            return False
        raise
