"""The cgroup v1 driver on a fake tree: what each writer writes, in which order, and detect()."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pyker.cgroups import DOCKER_DEFAULT_DEVICE_RULES, DeviceRule, Resources, detect, manager_for
from pyker.cgroups.files import CgroupFiles, RecordingFiles
from pyker.cgroups.stats import V1_UNLIMITED
from pyker.cgroups.v1 import V1Manager
from pyker.errors import CgroupError

MB = 1 << 20
CG = "pyker/abc"

# The files a v1 kernel creates in a new cgroup, with their first contents.
LEAF_FILES: dict[str, dict[str, str]] = {
    "cpu": {"cpu.shares": "1024", "cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"},
    "cpuacct": {"cpuacct.usage": "1234567"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "memory": {"memory.limit_in_bytes": str(V1_UNLIMITED),
               "memory.memsw.limit_in_bytes": str(V1_UNLIMITED),
               "memory.soft_limit_in_bytes": str(V1_UNLIMITED),
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
               "memory.usage_in_bytes": "4096000",
               "memory.stat": "cache 0\nrss 0\ntotal_inactive_file 8192\n"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "freezer": {"freezer.state": "THAWED\n"},
    "blkio": {"blkio.throttle.io_service_bytes_recursive":
              "8:0 Read 4096\n8:0 Write 512\n8:16 Read 100\n8:16 Write 0\nTotal 4708\n"},
    "pids": {"pids.max": "max", "pids.current": "3"},
}


def make_tree(root: Path, *, without: tuple[str, ...] = ()) -> dict[str, Path]:
    """A fake v1 host under ``root``: one directory per controller, the cgroup pre-made."""
    mounts = {}
    for controller, leaf in LEAF_FILES.items():
        mount = root / controller
        mounts[controller] = mount
        for d in (mount, mount / "pyker", mount / CG):
            d.mkdir(parents=True, exist_ok=True)
            (d / "cgroup.procs").write_text("")
            for name, content in leaf.items():
                if name not in without:
                    (d / name).write_text(content)
    (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    return mounts


@pytest.fixture
def tree(tmp_path: Path) -> tuple[V1Manager, RecordingFiles, Path]:
    files = RecordingFiles()
    mgr = V1Manager(CG, mounts=make_tree(tmp_path), files=files, timeout=0.05)
    return mgr, files, tmp_path


def test_apply_writes_each_file_once_in_order(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    warnings = mgr.apply(Resources(memory=10 * MB, memory_swap=20 * MB,
                                   memory_reservation=5 * MB, cpu_shares=512,
                                   nano_cpus=1_500_000_000, cpuset_cpus="0", cpuset_mems="0",
                                   pids_limit=20, oom_kill_disable=True))
    assert warnings == ()
    assert files.relative(root) == [
        ("cpuset/pyker/abc/cpuset.cpus", "0"),
        ("cpuset/pyker/abc/cpuset.mems", "0"),
        # lowering from unlimited: the memory limit must go first, memsw >= limit always
        ("memory/pyker/abc/memory.limit_in_bytes", str(10 * MB)),
        ("memory/pyker/abc/memory.memsw.limit_in_bytes", str(20 * MB)),
        ("memory/pyker/abc/memory.soft_limit_in_bytes", str(5 * MB)),
        ("memory/pyker/abc/memory.oom_control", "1"),
        ("cpu/pyker/abc/cpu.shares", "512"),
        ("cpu/pyker/abc/cpu.cfs_period_us", "100000"),
        ("cpu/pyker/abc/cpu.cfs_quota_us", "150000"),
        ("pids/pyker/abc/pids.max", "20"),
    ]


def test_raising_memory_writes_memsw_first(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    (root / "memory" / CG / "memory.limit_in_bytes").write_text(str(10 * MB))
    (root / "memory" / CG / "memory.memsw.limit_in_bytes").write_text(str(20 * MB))
    mgr.update(Resources(memory=50 * MB, memory_swap=100 * MB))
    assert files.relative(root) == [
        ("memory/pyker/abc/memory.memsw.limit_in_bytes", str(100 * MB)),
        ("memory/pyker/abc/memory.limit_in_bytes", str(50 * MB)),
    ]


def test_unlimited_memory_also_unlimits_swap(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    (root / "memory" / CG / "memory.limit_in_bytes").write_text(str(10 * MB))
    mgr.update(Resources(memory=-1))
    assert files.relative(root) == [
        ("memory/pyker/abc/memory.memsw.limit_in_bytes", "-1"),
        ("memory/pyker/abc/memory.limit_in_bytes", "-1"),
    ]


def test_swap_without_swap_accounting_warns_like_docker(tmp_path: Path) -> None:
    files = RecordingFiles()
    mgr = V1Manager(CG, mounts=make_tree(tmp_path, without=("memory.memsw.limit_in_bytes",)),
                    files=files)
    warnings = mgr.apply(Resources(memory=10 * MB, memory_swap=20 * MB))
    assert warnings == ("Your kernel does not support swap limit capabilities or the cgroup "
                        "is not mounted. Memory limited without swap.",)
    assert files.relative(tmp_path) == [("memory/pyker/abc/memory.limit_in_bytes", str(10 * MB))]


def test_kernel_refusal_names_file_and_value(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    path = root / "memory" / CG / "memory.limit_in_bytes"
    files.refuse[str(path)] = errno.EBUSY
    with pytest.raises(CgroupError) as info:
        mgr.apply(Resources(memory=10 * MB))
    assert str(info.value) == f'write {path} "10485760": Device or resource busy'
    assert (info.value.path, info.value.value, info.value.errno) == (str(path), "10485760",
                                                                     errno.EBUSY)


def test_cpu_shares_clamped_with_dockers_warning(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    assert mgr.apply(Resources(cpu_shares=1)) == (
        "Changing requested CPUShares of 1 to minimum allowed of 2",)
    assert files.relative(root) == [("cpu/pyker/abc/cpu.shares", "2")]


def test_cpu_period_refused_is_retried_after_quota(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    period = root / "cpu" / CG / "cpu.cfs_period_us"
    files.refuse[str(period)] = errno.EINVAL
    mgr.apply(Resources(cpu_quota=20000, cpu_period=10000))
    assert files.relative(root) == [("cpu/pyker/abc/cpu.cfs_quota_us", "20000"),
                                    ("cpu/pyker/abc/cpu.cfs_period_us", "10000")]


@pytest.mark.parametrize(("cpus", "quota"), [(1.5, 150000), (0.5, 50000), (2, 200000),
                                             (0.01, 1000)])
def test_docker_cpus_is_a_quota_per_100ms(cpus: float, quota: int) -> None:
    assert Resources(nano_cpus=round(cpus * 1e9)).cfs() == (quota, 100000)


@pytest.mark.parametrize(("limit", "written"), [(20, "20"), (0, "max"), (-1, "max")])
def test_pids_limit(tree: tuple[V1Manager, RecordingFiles, Path], limit: int, written: str) -> None:
    mgr, files, root = tree
    mgr.apply(Resources(pids_limit=limit))
    assert files.relative(root) == [("pids/pyker/abc/pids.max", written)]


def test_docker_default_devices(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    mgr.apply(Resources(devices=DOCKER_DEFAULT_DEVICE_RULES))
    allow = "devices/pyker/abc/devices.allow"
    assert files.relative(root) == [("devices/pyker/abc/devices.deny", "a")] + [
        (allow, line) for line in (
            "b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
            "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm")]


def test_privileged_devices_allow_all(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    mgr.apply(Resources(devices=(DeviceRule(allow=True),)))
    assert files.relative(root) == [("devices/pyker/abc/devices.allow", "a")]


def test_create_copies_cpuset_down_each_level(tmp_path: Path) -> None:
    files = RecordingFiles()
    mounts = make_tree(tmp_path)
    mgr = V1Manager("pyker/abc", mounts=mounts, files=files)
    mgr.create()
    assert files.relative(tmp_path) == [
        ("cpuset/pyker/cpuset.cpus", "0-3"), ("cpuset/pyker/cpuset.mems", "0"),
        ("cpuset/pyker/abc/cpuset.cpus", "0-3"), ("cpuset/pyker/abc/cpuset.mems", "0")]


def test_create_makes_one_directory_per_hierarchy(tmp_path: Path) -> None:
    shared = tmp_path / "cpu,cpuacct"
    mgr = V1Manager("pyker/new", mounts={"cpu": shared, "cpuacct": shared,
                                         "pids": tmp_path / "pids"}, files=RecordingFiles())
    mgr.create()
    assert mgr.dirs() == [shared / "pyker/new", tmp_path / "pids/pyker/new"]
    assert all(d.is_dir() for d in mgr.dirs()) and mgr.exists()
    mgr.destroy()
    assert not mgr.exists()


def test_add_process_writes_every_hierarchy(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    mgr.add_process(4242)
    assert sorted(files.relative(root)) == sorted(
        (f"{c}/pyker/abc/cgroup.procs", "4242") for c in LEAF_FILES)


def test_stats_and_oom(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, _, root = tree
    assert mgr.stats().cpu_usage_ns == 1234567
    stats = mgr.stats()
    assert (stats.memory_usage, stats.memory_limit, stats.memory_inactive_file) == (
        4096000, None, 8192)
    assert (stats.pids_current, stats.pids_limit) == (3, None)
    assert (stats.blkio_read_bytes, stats.blkio_write_bytes) == (4196, 512)
    assert not mgr.oom_killed() and stats.oom_kills == 0
    (root / "memory" / CG / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert mgr.oom_killed()


def test_freeze_writes_frozen_and_reads_it_back(tree: tuple[V1Manager, RecordingFiles, Path]) -> None:
    mgr, files, root = tree
    mgr.freeze()
    mgr.thaw()
    assert files.relative(root) == [("freezer/pyker/abc/freezer.state", "FROZEN"),
                                    ("freezer/pyker/abc/freezer.state", "THAWED")]


class BusyFiles(RecordingFiles):
    def rmdir(self, path: Path) -> None:
        raise CgroupError(f"rmdir {path}: Device or resource busy", path=str(path),
                          errno=errno.EBUSY)


def test_destroy_busy_names_the_directory_and_pids(tmp_path: Path) -> None:
    mounts = make_tree(tmp_path)
    (tmp_path / "pids" / CG / "cgroup.procs").write_text("77\n")
    mgr = V1Manager(CG, mounts={"pids": mounts["pids"]}, files=BusyFiles(), timeout=0.01)
    with pytest.raises(CgroupError, match=r"rmdir .*/pids/pyker/abc: Device or resource busy "
                                          r"\(pids still in it: 77\)"):
        mgr.destroy()


def test_missing_controller_warns(tmp_path: Path) -> None:
    mgr = V1Manager(CG, mounts={"memory": make_tree(tmp_path)["memory"]}, files=RecordingFiles())
    assert mgr.apply(Resources(pids_limit=5)) == (
        "Your kernel does not support the pids cgroup controller or it is not mounted: "
        "limit discarded.",)


def test_real_files_error_names_path(tmp_path: Path) -> None:
    with pytest.raises(CgroupError, match=rf'write {tmp_path}/nope "1": No such file'):
        CgroupFiles().write(tmp_path / "nope", "1")


@pytest.mark.parametrize("bad", ["", "..", "a/../../b", "/"])
def test_path_must_stay_inside_the_hierarchy(bad: str) -> None:
    with pytest.raises(CgroupError, match="invalid cgroup path"):
        V1Manager(bad, mounts={})


def test_resources_checks() -> None:
    with pytest.raises(CgroupError, match="below memory"):
        Resources(memory=20 * MB, memory_swap=10 * MB)
    with pytest.raises(CgroupError, match="needs a memory limit"):
        Resources(memory_swap=10 * MB)
    with pytest.raises(CgroupError, match="Conflicting options: Nano CPUs"):
        Resources(nano_cpus=10**9, cpu_quota=50000)
    with pytest.raises(CgroupError, match='invalid device access "rx"'):
        DeviceRule(allow=True, type="c", access="rx")
    assert Resources(memory=10 * MB).with_docker_defaults().memory_swap == 20 * MB
    assert Resources(memory=10 * MB, memory_swap=-1).with_docker_defaults().memory_swap == -1


# --- detect() ----------------------------------------------------------------------------

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

# Debian 10: cpu and cpuacct co-mounted, systemd tracking in a named v1 hierarchy.
V1 = """\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,net_cls,net_prio
33 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
"""

# Debian 12: one cgroup2 mount, the controllers in it.
V2 = """\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
25 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 25 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""


def test_detect_hybrid() -> None:
    layout = detect(HYBRID)
    assert layout.mode == "hybrid"
    assert layout.unified == Path("/sys/fs/cgroup/unified")
    assert layout.v1["cpu"] == Path("/sys/fs/cgroup/cpu")
    assert layout.v1["cpuacct"] == Path("/sys/fs/cgroup/cpuacct")
    assert sorted(layout.v1) == sorted(["cpu", "cpuacct", "cpuset", "memory", "devices",
                                        "freezer", "blkio", "pids"])
    assert isinstance(manager_for("pyker/x", layout), V1Manager)


def test_detect_v1_with_comounted_cpu() -> None:
    layout = detect(V1)
    assert layout.mode == "v1" and layout.unified is None
    assert layout.v1 == {"cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
                         "cpuacct": Path("/sys/fs/cgroup/cpu,cpuacct"),
                         "memory": Path("/sys/fs/cgroup/memory"),
                         "pids": Path("/sys/fs/cgroup/pids")}


def test_detect_v2() -> None:
    from pyker.cgroups.v2 import V2Manager

    layout = detect(V2)
    assert (layout.mode, dict(layout.v1), layout.unified) == ("v2", {}, Path("/sys/fs/cgroup"))
    mgr = manager_for("pyker/x", layout)
    assert isinstance(mgr, V2Manager) and mgr.dir == Path("/sys/fs/cgroup/pyker/x")


def test_detect_unescapes_mount_points_and_refuses_none() -> None:
    text = r"40 31 0:37 / /mnt/my\040cgroups rw - cgroup2 cgroup2 rw" + "\n"
    assert detect(text).unified == Path("/mnt/my cgroups")
    with pytest.raises(CgroupError, match="no cgroup filesystem mounted"):
        detect("22 1 254:1 / / rw - ext4 /dev/vda1 rw\n")


def test_detect_answers_from_the_cgroup_mounts_alone() -> None:
    """Other mounts (a container's root, a pinned namespace) come and go with every run:
    they change nothing, and the parsed answer is reused; a cgroup mount's change counts."""
    first = detect(HYBRID)
    busier = HYBRID + "90 22 0:90 / /var/lib/pyker/x/rootfs rw - overlay overlay rw,lowerdir=a\n"
    assert detect(busier) is first
    moved = HYBRID.replace("/sys/fs/cgroup/pids rw", "/mnt/pids rw")
    assert detect(moved).v1["pids"] == Path("/mnt/pids")
    with pytest.raises(TypeError):
        first.v1["pids"] = Path("/elsewhere")  # shared by every caller: read-only


def test_self_join_files_are_each_hierarchys_tasks_once(tmp_path: Path) -> None:
    mounts = make_tree(tmp_path)
    mounts["cpuacct"] = mounts["cpu"]  # co-mounted "cpu,cpuacct": one directory, one file
    mgr = V1Manager(CG, mounts=mounts)
    files = mgr.self_join_files()
    assert files == tuple(mounts[c] / CG / "tasks" for c in dict.fromkeys(
        c for c in LEAF_FILES if c != "cpuacct"))


def test_the_init_moves_itself_unless_a_user_namespace_or_no_cgroup_forbids(
        tmp_path: Path) -> None:
    from pyker.runtime import cgroup_bridge

    mgr = V1Manager(CG, mounts=make_tree(tmp_path))
    assert cgroup_bridge.self_join_files(mgr, user_namespace=False) == mgr.self_join_files()
    assert cgroup_bridge.self_join_files(mgr, user_namespace=True) is None
    assert cgroup_bridge.self_join_files(None, user_namespace=False) is None
