"""capget(2) / capset(2): the capability sets of a thread.

Root's power is split into ~41 capabilities (CAP_CHOWN, CAP_NET_ADMIN, CAP_SYS_ADMIN...).
Each thread has an *effective* set (what the kernel checks), a *permitted* set (the ceiling
of effective), an *inheritable* set (what may pass an execve), plus the bounding and ambient
sets handled through prctl(2). Docker keeps 14 of them for a container; that is why
``chown`` works in one but ``mount`` does not.

The kernel ABI uses a header and, in version 3 (64-bit sets), two data structs, one for
capabilities 0-31 and one for 32-63 (``<linux/capability.h>``)::

    #define _LINUX_CAPABILITY_VERSION_3  0x20080522

    typedef struct __user_cap_header_struct {
        __u32 version;
        int pid;
    } *cap_user_header_t;

    typedef struct __user_cap_data_struct {
        __u32 effective;
        __u32 permitted;
        __u32 inheritable;
    } *cap_user_data_t;

Capability numbers and names live in :mod:`pyker.security`; here a set is a 64-bit mask.

See capabilities(7), capget(2).
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass

from pyker.kernel import _libc

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_LINUX_CAPABILITY_U32S_3 = 2
_MASK32 = 0xFFFFFFFF


class CapUserHeader(ctypes.Structure):
    """``struct __user_cap_header_struct``."""

    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapUserData(ctypes.Structure):
    """``struct __user_cap_data_struct``: 32 capabilities of each set."""

    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


CapUserDataV3 = CapUserData * _LINUX_CAPABILITY_U32S_3


@dataclass(frozen=True, slots=True, kw_only=True)
class CapSets:
    """A thread's three capability sets, as 64-bit masks (bit N is capability N)."""

    effective: int
    permitted: int
    inheritable: int


@functools.cache
def _lib() -> ctypes.CDLL:
    lib = _libc.libc()
    lib.capget.argtypes = [ctypes.POINTER(CapUserHeader), ctypes.POINTER(CapUserData)]
    lib.capset.argtypes = [ctypes.POINTER(CapUserHeader), ctypes.POINTER(CapUserData)]
    return lib


def capget(pid: int = 0) -> CapSets:
    """The capability sets of thread ``pid`` (0: the caller).

    Raises:
        OSError: named ``capget pid <pid>``; ESRCH for no such thread.
    """
    header = CapUserHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = CapUserDataV3()
    _libc.call(_lib().capget, ctypes.byref(header), data, syscall="capget", path=f"pid {pid}")
    low, high = data
    return CapSets(effective=low.effective | high.effective << 32,
                   permitted=low.permitted | high.permitted << 32,
                   inheritable=low.inheritable | high.inheritable << 32)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's capability sets.

    The kernel allows only lowering permitted, effective within permitted, and inheritable
    within permitted plus bounding (unless CAP_SETPCAP).

    Raises:
        OSError: named ``capset effective=0x.. permitted=0x.. inheritable=0x..``; EPERM for a
            forbidden raise.
    """
    header = CapUserHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = CapUserDataV3(*(CapUserData(effective >> s & _MASK32, permitted >> s & _MASK32,
                                       inheritable >> s & _MASK32) for s in (0, 32)))
    what = f"effective={effective:#x} permitted={permitted:#x} inheritable={inheritable:#x}"
    _libc.call(_lib().capset, ctypes.byref(header), data, syscall="capset", path=what)
