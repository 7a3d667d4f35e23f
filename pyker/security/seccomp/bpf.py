"""Classic BPF, the little machine seccomp filters are written for: instructions, assembly, text.

A program is a list of ``struct sock_filter {__u16 code; __u8 jt; __u8 jf; __u32 k;}``
(``<linux/filter.h>``). It has one accumulator ``A``; seccomp filters use few opcodes:

- ``ld [k]``: ``A`` = the 32-bit word at offset ``k`` of ``struct seccomp_data``;
- ``and #k``: ``A &= k``;
- ``jeq/jgt/jge #k, jt, jf``: compare ``A`` (unsigned) with ``k``, then skip ``jt`` or ``jf``
  instructions; both are 8-bit, so a conditional jump reaches at most 255 instructions on;
- ``ja k``: skip ``k`` instructions (32-bit), the only way to jump far;
- ``ret #k``: end with action ``k``.

Jumps go forward only, so every program terminates. Programs are built with symbolic
:class:`Label` targets and :func:`link` turns them into offsets, refusing any conditional
jump beyond 255. :func:`dump` prints a program the way the kernel's ``bpf_dbg`` does.

See ``Documentation/networking/filter.rst``, seccomp(2), bpf_dbg (tools/bpf).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyker.errors import SeccompError
from pyker.kernel.seccomp import SECCOMP_RET_ACTION_FULL, SECCOMP_RET_DATA, SeccompRet

# Opcodes: class | size | mode, or class | op | source (<linux/bpf_common.h>).
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
ALU_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
JA = 0x05  # BPF_JMP | BPF_JA
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGT_K = 0x25  # BPF_JMP | BPF_JGT | BPF_K
JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
RET_K = 0x06  # BPF_RET | BPF_K

MAX_JUMP = 255
_STRUCT = struct.Struct("<HBBI")  # the host's byte order; every seccomp host here is little-endian
_JUMPS = {JEQ_K: "jeq", JGT_K: "jgt", JGE_K: "jge"}


@dataclass(frozen=True, slots=True)
class Insn:
    """One ``struct sock_filter``."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0


@dataclass(frozen=True, slots=True)
class Label:
    """A position in a program under construction; jumps name it instead of an offset."""

    name: str


@dataclass(frozen=True, slots=True)
class Jump:
    """A jump whose targets are labels (or 0: the next instruction); ``code`` JA uses ``jt``."""

    code: int
    k: int = 0
    jt: Label | int = 0
    jf: Label | int = 0


Item = Insn | Label | Jump


def ld(offset: int) -> Insn:
    return Insn(LD_W_ABS, k=offset)


def ret(action: int) -> Insn:
    return Insn(RET_K, k=action)


def link(items: Iterable[Item]) -> list[Insn]:
    """Resolve labels to relative offsets.

    Raises:
        SeccompError: a conditional jump of more than 255 instructions, or an unknown label.
    """
    items = list(items)
    where: dict[Label, int] = {}
    pc = 0
    for item in items:
        if isinstance(item, Label):
            where[item] = pc
        else:
            pc += 1
    program: list[Insn] = []
    for item in items:
        if isinstance(item, Label):
            continue
        if isinstance(item, Jump):
            item = _resolve(item, len(program), where)
        program.append(item)
    return program


def _resolve(jump: Jump, pc: int, where: dict[Label, int]) -> Insn:
    def offset(target: Label | int) -> int:
        if isinstance(target, int):
            return target
        if target not in where:
            raise SeccompError(f"bpf: jump to undefined label {target.name}")
        return where[target] - pc - 1

    if jump.code == JA:
        return Insn(JA, k=offset(jump.jt))
    jt, jf = offset(jump.jt), offset(jump.jf)
    if not (0 <= jt <= MAX_JUMP and 0 <= jf <= MAX_JUMP):
        raise SeccompError(f"bpf: conditional jump at {pc} out of range (jt={jt}, jf={jf})")
    return Insn(jump.code, jt, jf, jump.k)


def assemble(program: Sequence[Insn]) -> bytes:
    """The program as the kernel reads it: ``struct sock_filter`` packed little-endian."""
    return b"".join(_STRUCT.pack(i.code, i.jt, i.jf, i.k) for i in program)


def disassemble(data: bytes) -> list[Insn]:
    """The inverse of :func:`assemble`."""
    return [Insn(*fields) for fields in _STRUCT.iter_unpack(data)]


def dump(program: Sequence[Insn]) -> str:
    """bpf_dbg-like text, one ``lN:\\t<insn>`` line per instruction, actions named."""
    return "\n".join(f"l{pc}:\t{_text(pc, insn)}" for pc, insn in enumerate(program)) + "\n"


def _text(pc: int, insn: Insn) -> str:
    if insn.code == LD_W_ABS:
        return f"ld [{insn.k}]"
    if insn.code == ALU_AND_K:
        return f"and #{insn.k:#x}"
    if insn.code == JA:
        return f"ja l{pc + 1 + insn.k}"
    if insn.code in _JUMPS:
        return (f"{_JUMPS[insn.code]} #{insn.k:#x}, l{pc + 1 + insn.jt}, "
                f"l{pc + 1 + insn.jf}")
    if insn.code == RET_K:
        return f"ret #{insn.k:#x}\t; {action_name(insn.k)}"
    return f"?? code={insn.code:#x} jt={insn.jt} jf={insn.jf} k={insn.k:#x}"


def action_name(value: int) -> str:
    """``SECCOMP_RET_ERRNO|1`` for a filter's return value."""
    data = value & SECCOMP_RET_DATA
    try:
        name = SeccompRet(value & SECCOMP_RET_ACTION_FULL).name
    except ValueError:
        return f"{value:#x}"
    return f"{name}|{data}" if data else name
