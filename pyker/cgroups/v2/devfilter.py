"""The eBPF device filter: device rules assembled into a BPF_PROG_TYPE_CGROUP_DEVICE program.

The kernel calls the program with ``struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
u32 minor; }`` in R1, where ``access_type`` is the device type (``BPF_DEVCG_DEV_BLOCK`` 1,
``BPF_DEVCG_DEV_CHAR`` 2) in its low 16 bits and the access (``BPF_DEVCG_ACC_MKNOD`` 1,
``READ`` 2, ``WRITE`` 4) in its high 16 bits; R0 = 1 allows, 0 denies. The program is the
one runc and crun generate (runc ``devicefilter.go``, after crun ``ebpf.c``): load the four
values in R2..R5, then one block per exception "if type, access, major and minor match,
return allow/deny, else go to the next block", and the default answer last.

An instruction is 8 bytes, ``struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off;
s32 imm; }`` (include/uapi/linux/bpf.h); a jump offset counts instructions after the jump.
See Documentation/bpf/standardization/instruction-set.rst.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass

from pyker.cgroups import devrules
from pyker.cgroups.resources import DeviceRule

LICENSE = "Apache"  # the kernel's MODULE_LICENSE strings; the program is runc's, Apache-2.0

# Opcodes: class | operation | source (BPF_K immediate, BPF_X register).
LDXW = 0x61    # BPF_LDX | BPF_MEM | BPF_W     dst = *(u32 *)(src + off)
AND32K = 0x54  # BPF_ALU | BPF_AND | BPF_K     dst &= imm (32 bit)
RSH32K = 0x74  # BPF_ALU | BPF_RSH | BPF_K     dst >>= imm (32 bit)
MOV32X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X     dst = src (32 bit)
MOV32K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K     dst = imm (32 bit)
JNEK = 0x55    # BPF_JMP | BPF_JNE | BPF_K     if dst != imm goto +off
JNEX = 0x5D    # BPF_JMP | BPF_JNE | BPF_X     if dst != src goto +off
EXIT = 0x95    # BPF_JMP | BPF_EXIT            return R0

DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_ALL_ACCESS = ACC_MKNOD | ACC_READ | ACC_WRITE


@dataclass(frozen=True, slots=True)
class Insn:
    """One eBPF instruction."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        # The two 4-bit register fields are a C bitfield: dst_reg is the low nibble on a
        # little-endian machine, the high one on a big-endian one.
        regs = (self.src << 4 | self.dst) if sys.byteorder == "little" else (self.dst << 4 | self.src)
        return struct.pack("=BBhi", self.code, regs, self.off, self.imm)


# R2 = type, R3 = access, R4 = major, R5 = minor.
PROLOGUE = (
    Insn(LDXW, dst=2, src=1, off=0), Insn(AND32K, dst=2, imm=0xFFFF),
    Insn(LDXW, dst=3, src=1, off=0), Insn(RSH32K, dst=3, imm=16),
    Insn(LDXW, dst=4, src=1, off=4),
    Insn(LDXW, dst=5, src=1, off=8),
)


def _block(rule: DeviceRule) -> list[Insn]:
    """The instructions of one exception; jumps go past the block's end (patched later)."""
    next_ = -1  # placeholder offset: "to the next block"
    block = [Insn(JNEK, dst=2, off=next_, imm=DEV_BLOCK if rule.type == "b" else DEV_CHAR)]
    access = sum(_ACCESS[c] for c in set(rule.access))
    if access != _ALL_ACCESS:
        # Requested access must be a subset of the rule's: (R3 & access) == R3.
        block += [Insn(MOV32X, dst=1, src=3), Insn(AND32K, dst=1, imm=access),
                  Insn(JNEX, dst=1, src=3, off=next_)]
    if rule.major >= 0:
        block.append(Insn(JNEK, dst=4, off=next_, imm=rule.major))
    if rule.minor >= 0:
        block.append(Insn(JNEK, dst=5, off=next_, imm=rule.minor))
    block += [Insn(MOV32K, dst=0, imm=int(rule.allow)), Insn(EXIT)]
    # Patch each jump's offset to land just after the block.
    return [Insn(i.code, i.dst, i.src, len(block) - n - 1, i.imm) if i.off == next_ else i
            for n, i in enumerate(block)]


def program(rules: tuple[DeviceRule, ...] | list[DeviceRule]) -> tuple[Insn, ...]:
    """The filter for ``rules`` applied in order (folded as v1 would fold them).

    Raises:
        CgroupError: a rule punches a hole in a wildcard (see :func:`devrules.fold`).
    """
    state = devrules.fold(rules)
    insns = list(PROLOGUE)
    for rule in state.exceptions:
        insns += _block(rule)
    insns += [Insn(MOV32K, dst=0, imm=int(state.default_allow)), Insn(EXIT)]
    return tuple(insns)


def assemble(insns: tuple[Insn, ...]) -> bytes:
    """The bytes BPF_PROG_LOAD takes."""
    return b"".join(i.encode() for i in insns)
