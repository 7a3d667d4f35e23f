"""The cgroup v2 driver on a fake tree, and the eBPF device filter checked instruction by
instruction against runc's own expected program."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pyker.cgroups import DOCKER_DEFAULT_DEVICE_RULES, DeviceRule, Resources
from pyker.cgroups.files import RecordingFiles
from pyker.cgroups.v2 import V2Manager, devfilter
from pyker.cgroups.v2.cpu import cpu_max, shares_to_weight
from pyker.cgroups.v2.devfilter import (AND32K, EXIT, JNEK, JNEX, LDXW, MOV32K, MOV32X, RSH32K,
                                        Insn)
from pyker.cgroups.v2.memory import swap_max
from pyker.errors import CgroupError
from pyker.kernel.bpf import BpfAttachFlag, BpfAttachType, BpfProgType

MB = 1 << 20
ALL = "cpuset cpu io memory hugetlb pids rdma misc"

LEAF = {"cgroup.procs": "", "cgroup.freeze": "0", "cgroup.kill": "",
        "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.subtree_control": "",
        "cpu.stat": "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
        "cpu.weight": "100", "cpu.max": "max 100000", "cpuset.cpus": "", "cpuset.mems": "",
        "memory.max": "max", "memory.swap.max": "max", "memory.low": "0",
        "memory.current": "8192000", "memory.stat": "anon 100\ninactive_file 4096\n",
        "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        "pids.max": "max", "pids.current": "2", "io.weight": "default 100",
        "io.stat": "8:0 rbytes=1000 wbytes=200 rios=3 wios=1 dbytes=0 dios=0\n"
                   "8:16 rbytes=24 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"}


class FakeBpf:
    """Records bpf(2) calls; the cgroup already holds program id 7."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.attached = [7]

    def prog_load(self, prog_type: BpfProgType, insns: bytes, license: str, *,
                  name: str = "") -> int:
        self.calls.append(("load", prog_type, len(insns) // 8, license, name))
        return 100

    def prog_attach(self, target_fd: int, prog_fd: int, attach_type: BpfAttachType,
                    flags: BpfAttachFlag = BpfAttachFlag(0)) -> None:
        self.calls.append(("attach", prog_fd, attach_type, flags))

    def prog_detach(self, target_fd: int, prog_fd: int, attach_type: BpfAttachType) -> None:
        self.calls.append(("detach", prog_fd, attach_type))

    def prog_query(self, target_fd: int, attach_type: BpfAttachType) -> list[int]:
        self.calls.append(("query", attach_type))
        return list(self.attached)

    def prog_get_fd_by_id(self, prog_id: int) -> int:
        self.calls.append(("fd_by_id", prog_id))
        return 200 + prog_id

    def close(self, fd: int) -> None:
        self.calls.append(("close", fd))


def make_tree(root: Path, controllers: str = ALL, path: str = "pyker/abc") -> None:
    """A fake cgroup2 mount at ``root`` with ``path`` pre-made as the kernel would make it."""
    level = root
    for part in ("", *Path(path).parts):
        level = level / part if part else level
        level.mkdir(parents=True, exist_ok=True)
        for name, content in LEAF.items():
            (level / name).write_text(content)
        offered = controllers if level == root else ""
        (level / "cgroup.controllers").write_text(offered)
    (root / path / "cgroup.controllers").write_text(controllers)


@pytest.fixture
def v2(tmp_path: Path) -> tuple[V2Manager, RecordingFiles, FakeBpf, Path]:
    make_tree(tmp_path)
    files, bpf = RecordingFiles(), FakeBpf()
    return V2Manager("pyker/abc", root=tmp_path, files=files, bpf=bpf, timeout=0.05), files, bpf, tmp_path


def test_create_enables_offered_controllers_top_down(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "pyker" / "cgroup.controllers").write_text("cpu memory pids")
    files = RecordingFiles()
    V2Manager("pyker/abc", root=tmp_path, files=files, bpf=FakeBpf()).create()
    assert files.relative(tmp_path) == [
        ("cgroup.subtree_control", "+cpu +memory +pids +cpuset +io"),
        ("pyker/cgroup.subtree_control", "+cpu +memory +pids")]


def test_create_on_hybrid_cgroup2_writes_nothing(tmp_path: Path) -> None:
    make_tree(tmp_path, controllers="hugetlb")
    files = RecordingFiles()
    V2Manager("pyker/abc", root=tmp_path, files=files, bpf=FakeBpf()).create()
    assert files.writes == []


def test_apply_writes_and_device_filter(v2: tuple[V2Manager, RecordingFiles, FakeBpf, Path]) -> None:
    mgr, files, bpf, root = v2
    warnings = mgr.apply(Resources(memory=10 * MB, memory_swap=30 * MB, memory_reservation=MB,
                                   cpu_shares=512, nano_cpus=1_500_000_000, cpuset_cpus="0-1",
                                   pids_limit=20, blkio_weight=500,
                                   devices=DOCKER_DEFAULT_DEVICE_RULES))
    assert warnings == ()
    assert files.relative(root) == [
        ("pyker/abc/cpuset.cpus", "0-1"),
        ("pyker/abc/memory.swap.max", str(20 * MB)),  # memory_swap is memory + swap
        ("pyker/abc/memory.max", str(10 * MB)),
        ("pyker/abc/memory.low", str(MB)),
        ("pyker/abc/cpu.weight", "20"),
        ("pyker/abc/cpu.max", "150000 100000"),
        ("pyker/abc/pids.max", "20"),
        ("pyker/abc/io.weight", "default 4950"),
    ]
    device = BpfAttachType.BPF_CGROUP_DEVICE
    # New program attached before the old one (id 7) is detached: never a window unfiltered.
    assert bpf.calls == [
        ("query", device),
        ("load", BpfProgType.BPF_PROG_TYPE_CGROUP_DEVICE, 69, "Apache", "pyker_devices"),
        ("attach", 100, device, BpfAttachFlag.BPF_F_ALLOW_MULTI),
        ("close", 100),
        ("fd_by_id", 7), ("detach", 207, device), ("close", 207),
    ]


def test_privileged_only_detaches(v2: tuple[V2Manager, RecordingFiles, FakeBpf, Path]) -> None:
    mgr, _, bpf, _ = v2
    mgr.apply(Resources(devices=(DeviceRule(allow=True),)))
    assert [c[0] for c in bpf.calls] == ["query", "fd_by_id", "detach", "close"]


def test_unavailable_controller_warns(tmp_path: Path) -> None:
    make_tree(tmp_path, controllers="")
    files = RecordingFiles()
    mgr = V2Manager("pyker/abc", root=tmp_path, files=files, bpf=FakeBpf())
    assert mgr.apply(Resources(pids_limit=5, memory=MB)) == (
        f"the memory controller is not available in {tmp_path} (cgroup.controllers): "
        "limit discarded",
        f"the pids controller is not available in {tmp_path} (cgroup.controllers): "
        "limit discarded")
    assert files.writes == []


@pytest.mark.parametrize(("shares", "weight"), [
    (2, 1), (10, 1), (256, 10), (512, 20), (768, 30), (1024, 39), (2048, 79),
    (262144, 10000), (0, 0)])
def test_shares_to_weight_is_runcs_formula(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


def test_course_75_25_split_keeps_its_ratio() -> None:
    # docker run --cpu-shares 768 / 256: the weights keep the 3:1 ratio.
    assert shares_to_weight(768) == 3 * shares_to_weight(256)


@pytest.mark.parametrize(("quota", "period", "line"), [
    (150000, 100000, "150000 100000"), (50000, None, "50000"), (-1, None, "max"),
    (None, 50000, "max 50000"), (-1, 100000, "max 100000"), (None, None, None)])
def test_cpu_max(quota: int | None, period: int | None, line: str | None) -> None:
    assert cpu_max(quota, period) == line


@pytest.mark.parametrize(("memory", "swap", "swap_max_value"), [
    (10 * MB, 30 * MB, 20 * MB), (10 * MB, 10 * MB, 0), (10 * MB, -1, -1),
    (10 * MB, None, None), (-1, None, -1)])
def test_swap_is_total_minus_memory(memory: int, swap: int | None,
                                    swap_max_value: int | None) -> None:
    assert swap_max(memory, swap) == swap_max_value


def test_swap_equal_to_memory_disables_swap(v2: tuple[V2Manager, RecordingFiles, FakeBpf, Path]) -> None:
    mgr, files, _, root = v2
    mgr.apply(Resources(memory=10 * MB, memory_swap=10 * MB))
    assert files.relative(root) == [("pyker/abc/memory.swap.max", "0"),
                                    ("pyker/abc/memory.max", str(10 * MB))]


def test_oom_kill_disable_is_v1_only(v2: tuple[V2Manager, RecordingFiles, FakeBpf, Path]) -> None:
    mgr, files, _, _ = v2
    assert mgr.apply(Resources(oom_kill_disable=True)) == (
        "Your kernel does not support OomKillDisable. OomKillDisable discarded.",)
    assert files.writes == []


def test_stats_and_oom(v2: tuple[V2Manager, RecordingFiles, FakeBpf, Path]) -> None:
    mgr, _, _, _ = v2
    stats = mgr.stats()
    assert stats.cpu_usage_ns == 2_500_000
    assert (stats.memory_usage, stats.memory_limit, stats.memory_inactive_file) == (
        8192000, None, 4096)
    assert (stats.pids_current, stats.pids_limit, stats.oom_kills) == (2, None, 1)
    assert (stats.blkio_read_bytes, stats.blkio_write_bytes) == (1024, 200)
    assert mgr.oom_killed()


def test_kill_all_uses_cgroup_kill(v2: tuple[V2Manager, RecordingFiles, FakeBpf, Path]) -> None:
    mgr, files, _, root = v2
    mgr.kill_all()
    assert files.relative(root) == [("pyker/abc/cgroup.kill", "1")]


def test_freeze_waits_for_events(v2: tuple[V2Manager, RecordingFiles, FakeBpf, Path]) -> None:
    mgr, files, _, root = v2
    with pytest.raises(CgroupError, match=r'cgroup.events: "frozen 1" not reached'):
        mgr.freeze()  # the fake kernel never reports frozen: the request is undone
    assert files.relative(root) == [("pyker/abc/cgroup.freeze", "1"),
                                    ("pyker/abc/cgroup.freeze", "0")]
    (root / "pyker/abc/cgroup.events").write_text("populated 1\nfrozen 1\n")
    mgr.freeze()


# --- the eBPF program ---------------------------------------------------------------------

PROLOGUE = [Insn(LDXW, 2, 1, 0, 0), Insn(AND32K, 2, 0, 0, 0xFFFF), Insn(LDXW, 3, 1, 0, 0),
            Insn(RSH32K, 3, 0, 0, 16), Insn(LDXW, 4, 1, 4, 0), Insn(LDXW, 5, 1, 8, 0)]


def exact(dev_type: int, major: int, minor: int) -> list[Insn]:
    """runc's block for an rwm exception ``<type> major:minor``: allow."""
    return [Insn(JNEK, 2, 0, 4, dev_type), Insn(JNEK, 4, 0, 3, major),
            Insn(JNEK, 5, 0, 2, minor), Insn(MOV32K, 0, 0, 0, 1), Insn(EXIT)]


def mknod_any(dev_type: int) -> list[Insn]:
    return [Insn(JNEK, 2, 0, 5, dev_type), Insn(MOV32X, 1, 3, 0, 0), Insn(AND32K, 1, 0, 0, 1),
            Insn(JNEX, 1, 3, 2, 0), Insn(MOV32K, 0, 0, 0, 1), Insn(EXIT)]


DENY = [Insn(MOV32K, 0, 0, 0, 0), Insn(EXIT)]

# runc's specconv.AllowedDevices, in runc's order.
RUNC_ALLOWED = (
    DeviceRule(True, "c", -1, -1, "m"), DeviceRule(True, "b", -1, -1, "m"),
    DeviceRule(True, "c", 1, 3), DeviceRule(True, "c", 1, 8), DeviceRule(True, "c", 1, 7),
    DeviceRule(True, "c", 5, 0), DeviceRule(True, "c", 1, 5), DeviceRule(True, "c", 1, 9),
    DeviceRule(True, "c", 136, -1), DeviceRule(True, "c", 5, 2), DeviceRule(True, "c", 10, 200))


def test_runc_allowed_devices_program_matches_runcs_test() -> None:
    # opencontainers/cgroups devices/devicefilter_test.go TestDeviceFilter_BuiltInAllowList
    expected = (PROLOGUE + mknod_any(1) + mknod_any(2)
                + [i for m, n in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2),
                                  (10, 200)) for i in exact(2, m, n)]
                + [Insn(JNEK, 2, 0, 3, 2), Insn(JNEK, 4, 0, 2, 136), Insn(MOV32K, 0, 0, 0, 1),
                   Insn(EXIT)]
                + DENY)
    assert list(devfilter.program(RUNC_ALLOWED)) == expected
    assert len(expected) == 64


def test_docker_default_program_adds_console() -> None:
    # moby adds c 5:1 (console); its "deny c 10:229" is a no-op in a deny-all list.
    pairs = ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (10, 200))
    expected = (PROLOGUE + mknod_any(1) + mknod_any(2)
                + [i for m, n in pairs for i in exact(2, m, n)]
                + [Insn(JNEK, 2, 0, 3, 2), Insn(JNEK, 4, 0, 2, 136), Insn(MOV32K, 0, 0, 0, 1),
                   Insn(EXIT)]
                + DENY)
    assert list(devfilter.program(DOCKER_DEFAULT_DEVICE_RULES)) == expected


def test_program_bytes() -> None:
    code = devfilter.assemble(devfilter.program(()))
    assert len(code) == 8 * 8
    assert struct.unpack("<BBhi", code[:8]) == (0x61, 0x12, 0, 0)   # r2 = *(u32 *)(r1 + 0)
    assert struct.unpack("<BBhi", code[8:16]) == (0x54, 0x02, 0, 0xFFFF)
    assert struct.unpack("<BBhi", code[32:40]) == (0x61, 0x14, 4, 0)  # r4 = *(u32 *)(r1 + 4)
    assert code[-16:] == bytes.fromhex("b400000000000000" "9500000000000000")


def test_privileged_and_blacklist_programs() -> None:
    allow_all = (DeviceRule(allow=True),)
    assert list(devfilter.program(allow_all)) == PROLOGUE + [Insn(MOV32K, 0, 0, 0, 1), Insn(EXIT)]
    except_sda = allow_all + (DeviceRule(False, "b", 8, 0),)
    assert list(devfilter.program(except_sda)) == PROLOGUE + [
        Insn(JNEK, 2, 0, 4, 1), Insn(JNEK, 4, 0, 3, 8), Insn(JNEK, 5, 0, 2, 0),
        Insn(MOV32K, 0, 0, 0, 0), Insn(EXIT), Insn(MOV32K, 0, 0, 0, 1), Insn(EXIT)]


def test_rules_cannot_punch_holes_in_wildcards() -> None:
    rules = (DeviceRule(False), DeviceRule(True, "c", 1, -1, "rw"), DeviceRule(False, "c", 1, 3, "r"))
    with pytest.raises(CgroupError, match='"c 1:3 r" cannot punch a hole in the wildcard rule '
                                          '"c 1:\\* rw"'):
        devfilter.program(rules)


def test_no_self_join_on_v2_the_monitor_moves_the_init(
        v2: tuple[V2Manager, RecordingFiles, FakeBpf, Path]) -> None:
    # cgroup.threads moves a thread alone only within a threaded subtree: a process joins
    # through cgroup.procs, written by its monitor (add_process).
    mgr, files, _, root = v2
    assert mgr.self_join_files() is None
    mgr.add_process(42)
    assert files.relative(root) == [("pyker/abc/cgroup.procs", "42")]
