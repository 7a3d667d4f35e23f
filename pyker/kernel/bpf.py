"""bpf(2): load an eBPF program and attach it to a cgroup — the v2 device controller.

cgroup v2 has no ``devices.allow``: device access is decided by a program of type
``BPF_PROG_TYPE_CGROUP_DEVICE`` attached to the cgroup directory's fd with
``BPF_PROG_ATTACH``/``BPF_CGROUP_DEVICE``. The kernel runs it on every open(2) and mknod(2)
of a device node by a task of the cgroup (or a descendant) and denies with EPERM when it
returns 0. With ``BPF_F_ALLOW_MULTI`` several programs may be attached and all must allow.
A program lives as long as a fd or an attachment holds it, so removing the cgroup frees it.

glibc has no ``bpf()`` wrapper: it goes through syscall(2). Every call takes a command and a
``union bpf_attr`` whose layout per command is declared below as ctypes structures, copied
from ``include/uapi/linux/bpf.h``. Errors name the syscall and the command:
``bpf BPF_PROG_ATTACH (BPF_CGROUP_DEVICE) on fd 5: Operation not permitted``. See bpf(2).
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import platform

from pyker.kernel import _libc

# Not in pyker.kernel._libc's table: bpf has its own number on each architecture
# (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h for arm64).
_BPF_NR = {"x86_64": 321, "aarch64": 280}


class BpfCmd(enum.IntEnum):
    """``enum bpf_cmd``: the commands pyker uses."""

    BPF_PROG_LOAD = 5
    BPF_PROG_ATTACH = 8
    BPF_PROG_DETACH = 9
    BPF_PROG_GET_FD_BY_ID = 13
    BPF_PROG_QUERY = 16


class BpfProgType(enum.IntEnum):
    BPF_PROG_TYPE_CGROUP_DEVICE = 15


class BpfAttachType(enum.IntEnum):
    BPF_CGROUP_DEVICE = 6


class BpfAttachFlag(enum.IntFlag):
    BPF_F_ALLOW_OVERRIDE = 1
    BPF_F_ALLOW_MULTI = 2
    BPF_F_REPLACE = 4


class _ProgLoadAttr(ctypes.Structure):
    """The BPF_PROG_LOAD member of ``union bpf_attr`` (up to ``expected_attach_type``)."""

    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * 16),
                ("prog_ifindex", ctypes.c_uint32), ("expected_attach_type", ctypes.c_uint32)]


class _AttachAttr(ctypes.Structure):
    """The BPF_PROG_ATTACH/DETACH member of ``union bpf_attr``."""

    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("replace_bpf_fd", ctypes.c_uint32)]


class _QueryAttr(ctypes.Structure):
    """The BPF_PROG_QUERY member of ``union bpf_attr`` (up to ``prog_cnt``)."""

    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32),
                ("_pad", ctypes.c_uint32)]


class _GetFdByIdAttr(ctypes.Structure):
    _fields_ = [("prog_id", ctypes.c_uint32), ("next_id", ctypes.c_uint32),
                ("open_flags", ctypes.c_uint32)]


def _bpf(cmd: BpfCmd, attr: ctypes.Structure, what: str) -> int:
    machine = platform.machine()
    if machine not in _BPF_NR:
        raise _libc.error(errno.ENOSYS, "bpf", path=f"{cmd.name} (no syscall number for "
                                                    f"machine {machine!r})")
    fn = _libc.libc().syscall
    fn.restype = ctypes.c_long
    return _libc.call(fn, ctypes.c_long(_BPF_NR[machine]), ctypes.c_long(cmd),
                      ctypes.byref(attr), ctypes.c_long(ctypes.sizeof(attr)),
                      syscall="bpf", path=f"{cmd.name} {what}")


def prog_load(prog_type: BpfProgType, insns: bytes, license: str, *, name: str = "") -> int:
    """Load a program (``insns``: 8 bytes per instruction); returns its fd (close-on-exec).

    Raises:
        OSError: the verifier refused it; the message then ends with the verifier's log.
    """
    lic = ctypes.create_string_buffer(license.encode())
    code = ctypes.create_string_buffer(insns, len(insns))
    attr = _ProgLoadAttr(prog_type=prog_type, insn_cnt=len(insns) // 8,
                         insns=ctypes.addressof(code), license=ctypes.addressof(lic),
                         prog_name=name.encode()[:15])
    what = f"({prog_type.name}, {len(insns) // 8} insns)"
    try:
        return _bpf(BpfCmd.BPF_PROG_LOAD, attr, what)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.EACCES):
            raise
        # Load again with the verifier's log on, only to say *why* in the error.
        log = ctypes.create_string_buffer(1 << 16)
        attr.log_level, attr.log_size, attr.log_buf = 1, len(log), ctypes.addressof(log)
        try:
            fd = _bpf(BpfCmd.BPF_PROG_LOAD, attr, what)
        except OSError:
            text = log.value.decode(errors="replace").strip().replace("\n", "; ")
            raise OSError(err.errno, f"{err.strerror}: verifier: {text}") from err
        return fd  # pragma: no cover - loaded on the second try


def prog_attach(target_fd: int, prog_fd: int, attach_type: BpfAttachType,
                flags: BpfAttachFlag = BpfAttachFlag(0)) -> None:
    """Attach program ``prog_fd`` to the object ``target_fd`` (a cgroup directory fd)."""
    attr = _AttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type,
                       attach_flags=flags)
    flag_text = f"|{_libc.flag_names(flags)}" if flags else ""
    _bpf(BpfCmd.BPF_PROG_ATTACH, attr, f"({attach_type.name}{flag_text}) prog fd {prog_fd} "
                                       f"on fd {target_fd}")


def prog_detach(target_fd: int, prog_fd: int, attach_type: BpfAttachType) -> None:
    """Detach program ``prog_fd`` from ``target_fd``."""
    attr = _AttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type)
    _bpf(BpfCmd.BPF_PROG_DETACH, attr, f"({attach_type.name}) prog fd {prog_fd} "
                                       f"from fd {target_fd}")


def prog_query(target_fd: int, attach_type: BpfAttachType, *, max_progs: int = 64) -> list[int]:
    """The ids of the programs attached to ``target_fd`` for ``attach_type``."""
    ids = (ctypes.c_uint32 * max_progs)()
    attr = _QueryAttr(target_fd=target_fd, attach_type=attach_type,
                      prog_ids=ctypes.addressof(ids), prog_cnt=max_progs)
    _bpf(BpfCmd.BPF_PROG_QUERY, attr, f"({attach_type.name}) on fd {target_fd}")
    return list(ids[:attr.prog_cnt])


def prog_get_fd_by_id(prog_id: int) -> int:
    """A new fd for the loaded program ``prog_id`` (to detach one that we hold no fd of)."""
    return _bpf(BpfCmd.BPF_PROG_GET_FD_BY_ID, _GetFdByIdAttr(prog_id=prog_id), f"id {prog_id}")


class LinuxBpf:
    """The bpf(2) calls the cgroup v2 driver makes, as an injectable object (tests fake it)."""

    prog_load = staticmethod(prog_load)
    prog_attach = staticmethod(prog_attach)
    prog_detach = staticmethod(prog_detach)
    prog_query = staticmethod(prog_query)
    prog_get_fd_by_id = staticmethod(prog_get_fd_by_id)
    close = staticmethod(os.close)
