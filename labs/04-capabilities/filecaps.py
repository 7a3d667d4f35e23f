"""File capabilities without libcap2-bin: what ``setcap`` and ``getcap`` write and read.

A file capability is one extended attribute, ``security.capability``, holding a
``struct vfs_cap_data`` (<linux/capability.h>): a magic word (revision and the "effective"
flag), then permitted and inheritable masks, each split in two little-endian 32-bit halves.
``setcap cap_net_raw=ep FILE`` is nothing more than one setxattr(2) of these 20 bytes; the
kernel reads them back at execve(2) to compute the new process's capabilities
(capabilities(7), "Transformation of capabilities during execve()").

The lab's debian:bookworm image has libcap2 but not libcap2-bin (no setcap/getcap), so the
notebook uses these two functions on a container's file seen from the host through
``/proc/<pid>/root``. Writing ``security.*`` attributes needs CAP_SETFCAP (root on the host).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Iterable

from pyker.security import capabilities

XATTR = "security.capability"
VFS_CAP_REVISION_2 = 0x02000000   # 64-bit masks, no namespace root id (revision 3 adds one)
VFS_CAP_REVISION_MASK = 0xFF000000
VFS_CAP_FLAGS_EFFECTIVE = 0x000001
_LAYOUT = "<5I"                   # magic_etc, then data[0] and data[1]: {permitted, inheritable}
_LAYOUT_V2_SIZE = struct.calcsize(_LAYOUT)


def encode(permitted: Iterable[str], *, inheritable: Iterable[str] = (),
           effective: bool = True) -> bytes:
    """The xattr value of ``setcap <caps>=p[e]`` (plus ``inheritable``): ``CAP_NET_RAW``,
    ``net_raw``… as names."""
    perm = capabilities.mask(permitted)
    inh = capabilities.mask(inheritable)
    magic = VFS_CAP_REVISION_2 | (VFS_CAP_FLAGS_EFFECTIVE if effective else 0)
    # data[0] holds capabilities 0-31 and data[1] 32-63, each as {permitted, inheritable}.
    return struct.pack(_LAYOUT, magic, perm & 0xFFFFFFFF, inh & 0xFFFFFFFF,
                       perm >> 32, inh >> 32)


def decode(value: bytes) -> str:
    """``getcap``'s text for an xattr value: ``cap_net_raw=ep``.

    Raises:
        ValueError: a value that is not a revision-2 or -3 ``vfs_cap_data``.
    """
    if len(value) < _LAYOUT_V2_SIZE:
        raise ValueError(f"{XATTR}: {len(value)} bytes, expected at least {_LAYOUT_V2_SIZE}")
    magic, perm_lo, inh_lo, perm_hi, inh_hi = struct.unpack_from(_LAYOUT, value)
    if magic & VFS_CAP_REVISION_MASK not in (0x02000000, 0x03000000):
        raise ValueError(f"{XATTR}: unknown revision {magic & VFS_CAP_REVISION_MASK:#x}")
    perm = set(capabilities.decode_mask(perm_lo | perm_hi << 32))
    inh = set(capabilities.decode_mask(inh_lo | inh_hi << 32))
    effective = "e" if magic & VFS_CAP_FLAGS_EFFECTIVE else ""
    # getcap groups the capabilities that share the same flags: "cap_a,cap_b=ep cap_c=i".
    groups: dict[str, list[str]] = {}
    for name in sorted(perm | inh, key=_number):
        flags = effective + ("i" if name in inh else "") + ("p" if name in perm else "")
        groups.setdefault(flags, []).append(name.lower())
    return " ".join(",".join(names) + "=" + flags for flags, names in groups.items())


def _number(name: str) -> int:
    # Bits beyond pyker's table come out of decode_mask as their number ("41").
    return capabilities.NUMBERS[name] if name in capabilities.NUMBERS else int(name)


def setcap(path: str | os.PathLike[str], permitted: Iterable[str], *,
           effective: bool = True) -> None:
    """``setcap <caps>=p[e] path``: one setxattr(2).

    Raises:
        OSError: from setxattr(2) (EPERM without CAP_SETFCAP), naming the path.
    """
    os.setxattr(path, XATTR, encode(permitted, effective=effective))


def getcap(path: str | os.PathLike[str]) -> str:
    """``getcap path`` without the path: ``cap_net_raw=ep``, or ``""`` for a file without one.

    Raises:
        OSError: from getxattr(2) other than "no such attribute", naming the path.
    """
    try:
        return decode(os.getxattr(path, XATTR))
    except OSError as err:
        if err.errno == errno.ENODATA:
            return ""
        raise
