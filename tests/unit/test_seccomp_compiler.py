"""The BPF compiler: exact programs, and behaviour checked by running them in a tiny emulator."""

from __future__ import annotations

import errno
import json
import random
import struct
from pathlib import Path

import pytest

from pyker.errors import SeccompError
from pyker.kernel.seccomp import SeccompFilterFlag
from pyker.security import seccomp
from pyker.security.capabilities import DOCKER_DEFAULT
from pyker.security.seccomp import bpf
from pyker.security.seccomp.bpf import Insn
from pyker.security.seccomp.compiler import compile_profile, running_kernel, target_arches
from pyker.security.seccomp.profile import parse
from pyker.security.seccomp.syscalls_aarch64 import SYSCALLS as AARCH64
from pyker.security.seccomp.syscalls_x32 import SYSCALLS as X32
from pyker.security.seccomp.syscalls_x86 import SYSCALLS as X86
from pyker.security.seccomp.syscalls_x86_64 import SYSCALLS as X86_64
from pyker.security.syscalls import RecordingSecuritySyscalls

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "seccomp"
X86_64_ARCH, I386_ARCH, AARCH64_ARCH = 0xC000003E, 0x40000003, 0xC00000B7
ALLOW, ERRNO, KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
EPERM = ERRNO | errno.EPERM


def run(program: list[Insn], nr: int, arch: int = X86_64_ARCH, args: tuple[int, ...] = ()) -> int:
    """What the kernel would do: interpret the program over a struct seccomp_data."""
    return trace(program, nr, arch, args)[0]


def trace(program: list[Insn], nr: int, arch: int = X86_64_ARCH,
          args: tuple[int, ...] = ()) -> tuple[int, int]:
    """The return value, and how many instructions ran to reach it."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    acc, pc, steps = 0, 0, 0
    while True:
        insn = program[pc]
        pc += 1
        steps += 1
        if insn.code == bpf.LD_W_ABS:
            acc = struct.unpack_from("<I", data, insn.k)[0]
        elif insn.code == bpf.ALU_AND_K:
            acc &= insn.k
        elif insn.code == bpf.JA:
            pc += insn.k
        elif insn.code == bpf.RET_K:
            return insn.k, steps
        else:
            taken = {bpf.JEQ_K: acc == insn.k, bpf.JGT_K: acc > insn.k,
                     bpf.JGE_K: acc >= insn.k}[insn.code]
            pc += insn.jt if taken else insn.jf


def profile(default: str = "SCMP_ACT_ERRNO", *rules: dict, **extra: object):
    return parse(json.dumps({"defaultAction": default, "syscalls": list(rules), **extra}))


SMALL = profile("SCMP_ACT_ERRNO",
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}]},
                architectures=["SCMP_ARCH_X86_64"])


def test_exact_program_of_a_small_profile() -> None:
    assert compile_profile(SMALL, caps=[], machine="x86_64") == [
        Insn(0x20, 0, 0, 4),             # ld [4]: arch
        Insn(0x15, 0, 1, X86_64_ARCH),   # jeq x86_64
        Insn(0x05, 0, 0, 1),             # ja section
        Insn(0x06, 0, 0, KILL_PROCESS),  # any other arch
        Insn(0x20, 0, 0, 0),             # ld [0]: nr
        Insn(0x35, 0, 1, 0x40000000),    # jge x32 bit
        Insn(0x06, 0, 0, EPERM),         # x32 call without X32 in the profile: default
        Insn(0x35, 3, 0, 135),           # runs [0] [1, 135) | [135] [136, ...): nr >= 135?
        Insn(0x35, 1, 0, 1),             # nr >= 1?
        Insn(0x06, 0, 0, ALLOW),         # 0: read
        Insn(0x06, 0, 0, EPERM),         # 1 to 134: not named
        Insn(0x35, 6, 0, 136),           # nr >= 136?
        Insn(0x20, 0, 0, 20),            # 135: personality; ld arg0 high word
        Insn(0x15, 0, 3, 0),
        Insn(0x20, 0, 0, 16),            # ld arg0 low word
        Insn(0x15, 0, 1, 0xFFFFFFFF),
        Insn(0x06, 0, 0, ALLOW),
        Insn(0x06, 0, 0, EPERM),         # personality, other values
        Insn(0x06, 0, 0, EPERM),         # 136 and over: not named
    ]


def test_dump_and_assemble() -> None:
    program = compile_profile(SMALL, caps=[], machine="x86_64")
    lines = bpf.dump(program).splitlines()
    assert lines[:4] == ["l0:\tld [4]", "l1:\tjeq #0xc000003e, l2, l3", "l2:\tja l4",
                         "l3:\tret #0x80000000\t; SECCOMP_RET_KILL_PROCESS"]
    assert lines[7] == "l7:\tjge #0x87, l11, l8"
    assert lines[18] == "l18:\tret #0x50001\t; SECCOMP_RET_ERRNO|1"
    raw = bpf.assemble(program)
    assert raw[:16] == bytes.fromhex("2000000004000000" "150000013e0000c0")
    assert bpf.disassemble(raw) == program


def test_arg_halves_and_dispatch() -> None:
    program = compile_profile(SMALL, caps=[], machine="x86_64")
    assert run(program, 0) == ALLOW
    assert run(program, 135, args=(0xFFFFFFFF,)) == ALLOW
    assert run(program, 135, args=(0x1_FFFFFFFF,)) == EPERM  # the high word counts
    assert run(program, 135, args=(8,)) == EPERM
    assert run(program, 1) == EPERM
    assert run(program, X32["read"]) == EPERM
    assert run(program, 0, arch=I386_ARCH) == KILL_PROCESS


@pytest.mark.parametrize("op", ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"])
def test_every_operator_on_64_bit_values(op: str) -> None:
    rng = random.Random(op)
    edges = [0, 1, 0xFFFFFFFF, 0x1_00000000, 0x1_00000001, 0xFFFFFFFF_FFFFFFFF, 0x7E020000]
    values = edges + [rng.getrandbits(rng.choice([8, 32, 33, 64])) for _ in range(12)]
    semantics = {"SCMP_CMP_NE": lambda a, v, d: a != v, "SCMP_CMP_LT": lambda a, v, d: a < v,
                 "SCMP_CMP_LE": lambda a, v, d: a <= v, "SCMP_CMP_EQ": lambda a, v, d: a == v,
                 "SCMP_CMP_GE": lambda a, v, d: a >= v, "SCMP_CMP_GT": lambda a, v, d: a > v,
                 "SCMP_CMP_MASKED_EQ": lambda a, v, d: a & v == d}[op]
    for value in values[:8]:
        datum = value & 0xFFFF0000_FFFF0000
        prog = compile_profile(profile(
            "SCMP_ACT_ALLOW", {"names": ["dup"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9,
                               "args": [{"index": 2, "value": value, "valueTwo": datum,
                                         "op": op}]}), caps=[], machine="x86_64")
        for arg in values:
            expected = ERRNO | 9 if semantics(arg, value, datum) else ALLOW
            assert run(prog, X86_64["dup"], args=(0, 0, arg)) == expected, (value, arg)


def test_conditions_of_a_rule_are_anded_and_rules_ored() -> None:
    prog = compile_profile(profile(
        "SCMP_ACT_ERRNO",
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}), caps=[], machine="x86_64")
    nr = X86_64["kill"]
    assert run(prog, nr, args=(1, 9)) == ALLOW
    assert run(prog, nr, args=(1, 15)) == EPERM
    assert run(prog, nr, args=(2, 15)) == ALLOW
    assert run(prog, nr, args=(3, 9)) == EPERM


def test_a_block_longer_than_255_is_skipped_with_ja() -> None:
    rules = [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
              "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]} for v in range(100)]
    prog = compile_profile(profile("SCMP_ACT_ERRNO", *rules,
                                   {"names": ["write"], "action": "SCMP_ACT_ALLOW"}),
                           caps=[], machine="x86_64")
    assert any(i.code == bpf.JA and i.k > 255 for i in prog)
    assert run(prog, X86_64["personality"], args=(99,)) == ALLOW
    assert run(prog, X86_64["personality"], args=(100,)) == EPERM
    assert run(prog, X86_64["write"]) == ALLOW


def _jumps_in_range(program: list[Insn]) -> bool:
    for pc, insn in enumerate(program):
        if insn.code in (bpf.JEQ_K, bpf.JGT_K, bpf.JGE_K):
            if pc + 1 + max(insn.jt, insn.jf) >= len(program):
                return False
        elif insn.code == bpf.JA and pc + 1 + insn.k >= len(program):
            return False
    return program[-1].code == bpf.RET_K


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_default_profile_compiles_with_every_jump_in_range(machine: str) -> None:
    for caps in (DOCKER_DEFAULT, DOCKER_DEFAULT | {"CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}):
        program = compile_profile(seccomp.load_profile(None), caps=caps, machine=machine)
        assert _jumps_in_range(program) and len(program) <= 4096


def test_default_profile_behaviour_on_x86_64() -> None:
    def prog(caps, kernel=(6, 1)):
        return compile_profile(seccomp.load_profile(None), caps=caps, machine="x86_64",
                               kernel=kernel)

    plain, admin = prog(DOCKER_DEFAULT), prog(DOCKER_DEFAULT | {"CAP_SYS_ADMIN"})
    assert run(plain, X86_64["unshare"]) == EPERM
    assert run(admin, X86_64["unshare"]) == ALLOW
    assert run(plain, X86_64["clone3"]) == ERRNO | errno.ENOSYS  # glibc falls back to clone
    assert run(admin, X86_64["clone3"]) == ALLOW
    clone, newuser = X86_64["clone"], 0x10000000
    assert run(plain, clone, args=(0x01200011,)) == ALLOW  # fork()'s flags
    assert run(plain, clone, args=(newuser | 0x11,)) == EPERM
    assert run(admin, clone, args=(newuser,)) == ALLOW
    assert run(plain, X86_64["personality"], args=(0xFFFFFFFF,)) == ALLOW
    assert run(plain, X86_64["personality"], args=(0x0040000,)) == EPERM
    assert run(plain, X86_64["socket"], args=(40,)) == EPERM  # AF_VSOCK
    assert run(plain, X86_64["ptrace"]) == ALLOW  # minKernel 4.8
    assert run(prog(DOCKER_DEFAULT, kernel=(4, 4)), X86_64["ptrace"]) == EPERM
    assert run(plain, X86_64["chmod"]) == ALLOW
    assert run(plain, X32["chmod"]) == ALLOW  # archMap adds x32 and x86
    assert run(plain, X86["chmod"], arch=I386_ARCH) == ALLOW
    assert run(plain, X86["unshare"], arch=I386_ARCH) == EPERM
    assert run(plain, 0, arch=AARCH64_ARCH) == KILL_PROCESS


@pytest.mark.parametrize(("name", "table", "arch"), [
    ("SCMP_ARCH_X86_64", X86_64, X86_64_ARCH), ("SCMP_ARCH_X32", X32, X86_64_ARCH),
    ("SCMP_ARCH_X86", X86, I386_ARCH)])
def test_every_syscall_number_meets_its_rule(name: str, table: dict, arch: int) -> None:
    """The number search with its merged runs against the profile read directly: for every
    number of the table and every gap around it, the action of its unconditional rule, or
    the default action."""
    from pyker.security.seccomp.compiler import applies, return_value

    prof = seccomp.load_profile(None)
    program = compile_profile(prof, caps=DOCKER_DEFAULT, machine="x86_64", kernel=(6, 1))
    default = return_value(prof.default_action, prof.default_errno_ret)
    expected: dict[int, int | None] = {}
    for rule in prof.syscalls:
        if not applies(rule, caps=DOCKER_DEFAULT, goarch="amd64", kernel=(6, 1)):
            continue
        for syscall in rule.names:
            nr = table.get(syscall)
            if nr is None or expected.get(nr, 0) is None:
                continue
            if rule.args:
                expected[nr] = None  # conditions: checked by the behaviour tests above
            elif nr not in expected:
                expected[nr] = return_value(rule.action, rule.errno_ret)
    numbers = set(table.values())
    low, high = min(numbers), max(numbers)
    for nr in range(max(0, low - 3), high + 4):
        want = expected.get(nr, default)
        if want is not None:
            assert run(program, nr, arch=arch) == want, (name, nr)


def test_the_search_is_short() -> None:
    """A call passes a handful of tests: at most ~log2(runs) + the arch dispatch."""
    program = compile_profile(seccomp.load_profile(None), caps=DOCKER_DEFAULT,
                              machine="x86_64", kernel=(6, 1))
    assert len(program) < 1000
    assert max(trace(program, nr)[1] for nr in X86_64.values()) <= 20


def test_default_profile_on_aarch64() -> None:
    program = compile_profile(seccomp.load_profile(None), caps=DOCKER_DEFAULT,
                              machine="aarch64", kernel=(6, 1))
    assert run(program, AARCH64["fchmodat"], arch=AARCH64_ARCH) == ALLOW
    assert run(program, AARCH64["unshare"], arch=AARCH64_ARCH) == EPERM
    assert run(program, 0, arch=X86_64_ARCH) == KILL_PROCESS


def test_course_no_chmod_profile() -> None:
    program = compile_profile(seccomp.load_profile(FIXTURES / "default-no-chmod.json"),
                              caps=[], machine="x86_64")
    for name in ("chmod", "fchmod", "fchmodat"):
        assert run(program, X86_64[name]) == EPERM
    assert run(program, X86_64["chown"]) == ALLOW


def test_unknown_names_are_skipped_and_rules_equal_to_default_dropped() -> None:
    prog = compile_profile(profile("SCMP_ACT_ALLOW",
                                   {"names": ["no_such_call", "arm_fadvise64_64"],
                                    "action": "SCMP_ACT_KILL"},
                                   {"names": ["read"], "action": "SCMP_ACT_ALLOW"}),
                           caps=[], machine="x86_64")
    assert len(prog) == 8  # header (4), ld nr, x32 check (2), ret default


def test_actions_and_errno() -> None:
    prog = compile_profile(profile(
        "SCMP_ACT_ERRNO",
        {"names": ["getpid"], "action": "SCMP_ACT_KILL"},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["gettid"], "action": "SCMP_ACT_TRAP"},
        {"names": ["getuid"], "action": "SCMP_ACT_LOG"},
        {"names": ["getgid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        defaultErrnoRet=38), caps=[], machine="x86_64")
    expected = {"getpid": 0, "getppid": KILL_PROCESS, "gettid": 0x00030000,
                "getuid": 0x7FFC0000, "getgid": 0x7FF00007, "mkdir": ERRNO | 13,
                "read": ERRNO | 38}
    assert {name: run(prog, X86_64[name]) for name in expected} == expected


def test_x32_in_the_profile_gets_its_own_table() -> None:
    prog = compile_profile(profile("SCMP_ACT_ERRNO",
                                   {"names": ["preadv"], "action": "SCMP_ACT_ALLOW"},
                                   architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]),
                           caps=[], machine="x86_64")
    assert X32["preadv"] == 0x40000000 | 534 and X86_64["preadv"] == 295
    assert run(prog, X32["preadv"]) == ALLOW
    assert run(prog, 0x40000000 | 295) == EPERM  # x86_64's number with the x32 bit
    assert run(prog, 295) == ALLOW


def test_target_arches_and_kernel_release() -> None:
    assert target_arches(profile(), "SCMP_ARCH_X86_64") == ["SCMP_ARCH_X86_64"]
    assert target_arches(seccomp.load_profile(None), "SCMP_ARCH_X86_64") == [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert running_kernel("6.18.44-fc-v782") == (6, 18)
    with pytest.raises(SeccompError, match="cannot parse kernel release 'x'"):
        running_kernel("x")
    with pytest.raises(SeccompError, match="no syscall table for machine 'mips'"):
        compile_profile(profile(), caps=[], machine="mips")


def test_link_refuses_far_conditional_jumps() -> None:
    far = bpf.Label("far")
    items = [bpf.Jump(bpf.JEQ_K, 1, 0, far), *[bpf.ret(0)] * 300, far, bpf.ret(0)]
    with pytest.raises(SeccompError, match="out of range"):
        bpf.link(items)


def test_install_loads_the_assembled_program() -> None:
    fake = RecordingSecuritySyscalls()
    program = seccomp.install(SMALL, caps=[], syscalls=fake,
                              flags=SeccompFilterFlag.SECCOMP_FILTER_FLAG_TSYNC)
    (call,) = fake.calls
    assert call.name == "seccomp_set_mode_filter"
    assert call.args == (bpf.assemble(program), SeccompFilterFlag.SECCOMP_FILTER_FLAG_TSYNC)
