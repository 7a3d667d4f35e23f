"""The mount option names of an OCI ``mounts[].options`` list, as a data table.

fstab(5) and the OCI runtime spec write a mount's flags as words (``ro``, ``nosuid``,
``rbind``, ``rprivate``) mixed with options that belong to the filesystem itself
(``mode=755``, ``size=64m``). mount(8) turns the first kind into ``MS_*`` bits and passes the
rest through as the ``data`` string of mount(2). Like crun's ``mount_flags.perf``, the words
are data here, not a chain of ``if``: one row gives the bits a word sets, or clears for its
negation (``rw`` clears ``MS_RDONLY``). Propagation words (``shared``, ``rslave``...) are
returned apart because mount(2) applies them only in a call of their own.

See mount(8) "FILESYSTEM-INDEPENDENT MOUNT OPTIONS", mount(2), mount_namespaces(7).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from pyker.kernel.mount import PROPAGATION, MountFlag

_M = MountFlag


class MountOption(NamedTuple):
    """One row: the bits a word names, and whether the word clears them."""

    flag: MountFlag
    clear: bool = False


MOUNT_OPTIONS: Mapping[str, MountOption] = MappingProxyType({
    "defaults": MountOption(MountFlag(0)),
    "ro": MountOption(_M.MS_RDONLY),
    "rw": MountOption(_M.MS_RDONLY, clear=True),
    "nosuid": MountOption(_M.MS_NOSUID),
    "suid": MountOption(_M.MS_NOSUID, clear=True),
    "nodev": MountOption(_M.MS_NODEV),
    "dev": MountOption(_M.MS_NODEV, clear=True),
    "noexec": MountOption(_M.MS_NOEXEC),
    "exec": MountOption(_M.MS_NOEXEC, clear=True),
    "sync": MountOption(_M.MS_SYNCHRONOUS),
    "async": MountOption(_M.MS_SYNCHRONOUS, clear=True),
    "dirsync": MountOption(_M.MS_DIRSYNC),
    "remount": MountOption(_M.MS_REMOUNT),
    "mand": MountOption(_M.MS_MANDLOCK),
    "nomand": MountOption(_M.MS_MANDLOCK, clear=True),
    "noatime": MountOption(_M.MS_NOATIME),
    "atime": MountOption(_M.MS_NOATIME, clear=True),
    "nodiratime": MountOption(_M.MS_NODIRATIME),
    "diratime": MountOption(_M.MS_NODIRATIME, clear=True),
    "relatime": MountOption(_M.MS_RELATIME),
    "norelatime": MountOption(_M.MS_RELATIME, clear=True),
    "strictatime": MountOption(_M.MS_STRICTATIME),
    "nostrictatime": MountOption(_M.MS_STRICTATIME, clear=True),
    "lazytime": MountOption(_M.MS_LAZYTIME),
    "nolazytime": MountOption(_M.MS_LAZYTIME, clear=True),
    "silent": MountOption(_M.MS_SILENT),
    "loud": MountOption(_M.MS_SILENT, clear=True),
    "nosymfollow": MountOption(_M.MS_NOSYMFOLLOW),
    "bind": MountOption(_M.MS_BIND),
    "rbind": MountOption(_M.MS_BIND | _M.MS_REC),
    "shared": MountOption(_M.MS_SHARED),
    "rshared": MountOption(_M.MS_SHARED | _M.MS_REC),
    "slave": MountOption(_M.MS_SLAVE),
    "rslave": MountOption(_M.MS_SLAVE | _M.MS_REC),
    "private": MountOption(_M.MS_PRIVATE),
    "rprivate": MountOption(_M.MS_PRIVATE | _M.MS_REC),
    "unbindable": MountOption(_M.MS_UNBINDABLE),
    "runbindable": MountOption(_M.MS_UNBINDABLE | _M.MS_REC),
})


class ParsedOptions(NamedTuple):
    """What an option list asks of mount(2): flags, propagation, filesystem data."""

    flags: MountFlag
    propagation: MountFlag
    data: str


def parse_options(options: Iterable[str]) -> ParsedOptions:
    """Split OCI-style mount options into ``(flags, propagation, data)``.

    Later words win over earlier ones (``ro,rw`` is read-write), as in mount(8). A list holds
    at most one propagation type in effect: the last one, since mount(2) applies one per call.
    Words not in :data:`MOUNT_OPTIONS` are the filesystem's own and are joined, in order, with
    commas into ``data``.

    >>> parse_options(["rbind", "ro", "rprivate", "mode=755"])
    ParsedOptions(flags=<MountFlag.MS_RDONLY|MS_BIND|MS_REC: 20481>, \
propagation=<MountFlag.MS_REC|MS_PRIVATE: 278528>, data='mode=755')
    """
    flags, propagation = MountFlag(0), MountFlag(0)
    data: list[str] = []
    for word in options:
        row = MOUNT_OPTIONS.get(word)
        if row is None:
            data.append(word)
        elif row.flag & PROPAGATION:
            propagation = row.flag
        elif row.clear:
            flags &= ~row.flag
        else:
            flags |= row.flag
    return ParsedOptions(flags, propagation, ",".join(data))
