"""Both cgroup drivers on the real kernel, as root: limits the kernel enforces, not files written.

On a hybrid host every controller is bound to v1, so the v2 driver is checked on the core
interface cgroup2 offers without controllers (procs, freeze, kill, device filters) and its
limit tests skip, saying so. Every cgroup created here is removed by its fixture.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from forked import run_in_child
from pyker.cgroups import DOCKER_DEFAULT_DEVICE_RULES, Resources, detect
from pyker.cgroups.v1 import V1Manager
from pyker.cgroups.v2 import V2Manager, devices

MB = 1 << 20


def _parent() -> str:
    return f"pyker-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/status") as f:
        return next(line.split(":", 1)[1].strip() for line in f if line.startswith("State:"))


def _back_to_sleep(pid: int, timeout: float = 5.0) -> str:
    """The state of ``pid`` once it sleeps again: a thawed task is woken and must be
    scheduled to go back to its sleep, which on a loaded machine takes a moment."""
    deadline = time.monotonic() + timeout
    while not (state := _proc_state(pid)).startswith("S") and time.monotonic() < deadline:
        time.sleep(0.01)
    return state


def fork_until_refused() -> str:
    """In the cgroup: fork sleeping children until fork fails; report ``<count> <error>``."""
    count = 0
    while count < 1000:
        try:
            pid = os.fork()
        except OSError as err:
            return f"{count} {err.strerror}"
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        count += 1
    return f"{count} never refused"


def allocate(mb: int) -> str:
    block = b"x" * (mb * MB)  # bytes(n) would be lazily-zeroed pages, never charged
    return f"allocated {len(block)}"


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


# --- v1 ----------------------------------------------------------------------------------

@pytest.fixture
def v1() -> Iterator[V1Manager]:
    layout = detect()
    if layout.mode == "v2":
        pytest.skip("this host has no cgroup v1 controllers (pure v2)")
    parent = _parent()
    mgr = V1Manager(f"{parent}/c", mounts=layout.v1, timeout=10)
    mgr.create()
    try:
        yield mgr
    finally:
        if mgr.exists():
            mgr.kill_all(signal.SIGKILL)
            mgr.destroy()
        for mount in set(layout.v1.values()):
            if (mount / parent).exists():
                os.rmdir(mount / parent)


pytestmark = pytest.mark.requires("root")


@pytest.mark.requires("cgroup1")
def test_v1_pids_limit_stops_a_fork_bomb(v1: V1Manager) -> None:
    v1.apply(Resources(pids_limit=20))
    result = run_in_child(lambda: (v1.add_process(os.getpid()), fork_until_refused())[1])
    count, reason = result.output.split(" ", 1)
    # The forking child is one of the 20 tasks: 19 children, then EAGAIN as in the lab.
    assert (result.status, int(count), reason) == (0, 19, "Resource temporarily unavailable")
    assert v1.stats().pids_current == 19
    v1.kill_all(signal.SIGKILL)
    v1.destroy()
    assert not v1.exists()


def _move_self_and_report(files) -> str:
    for path in files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
    return Path("/proc/self/cgroup").read_text()


@pytest.mark.requires("cgroup1")
def test_v1_a_process_moves_itself_through_tasks(v1: V1Manager) -> None:
    files = v1.self_join_files()
    assert files and all(f.name == "tasks" and f.parent in v1.dirs() for f in files)
    result = run_in_child(lambda: _move_self_and_report(files))
    assert result.status == 0, result.output
    # /proc/self/cgroup: "id:controllers:path"; every controller the manager uses (each
    # of a co-mounted hierarchy too) now names the manager's cgroup.
    joined = {controller for line in result.output.splitlines()
              if line.endswith(":/" + v1.path)
              for controller in line.split(":", 2)[1].split(",")}
    assert set(v1.mounts) <= joined, result.output


@pytest.mark.requires("cgroup1")
def test_v1_memory_limit_oom_kills(v1: V1Manager) -> None:
    # memory_swap = memory: no swap to escape to, as with Docker's --memory-swap equal.
    v1.apply(Resources(memory=10 * MB, memory_swap=10 * MB))
    assert (v1.dir("memory") / "memory.limit_in_bytes").read_text().strip() == str(10 * MB)
    result = run_in_child(lambda: (v1.add_process(os.getpid()), allocate(30))[1])
    assert result.status == -signal.SIGKILL, result
    assert v1.oom_killed()
    assert v1.stats().oom_kills == 1


@pytest.mark.requires("cgroup1")
def test_v1_cpu_files_read_back(v1: V1Manager) -> None:
    v1.apply(Resources(cpu_shares=512, nano_cpus=1_500_000_000, cpuset_cpus="0"))
    cpu = v1.dir("cpu")
    assert (cpu / "cpu.shares").read_text().strip() == "512"
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "150000"
    assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
    assert (v1.dir("cpuset") / "cpuset.cpus").read_text().strip() == "0"


@pytest.mark.requires("cgroup1")
def test_v1_freeze_thaw(v1: V1Manager, sleeper: subprocess.Popen[bytes]) -> None:
    v1.add_process(sleeper.pid)
    assert v1.pids() == [sleeper.pid]
    v1.freeze()
    assert (v1.dir("freezer") / "freezer.state").read_text().strip() == "FROZEN"
    frozen_state = _proc_state(sleeper.pid)
    v1.thaw()
    assert (v1.dir("freezer") / "freezer.state").read_text().strip() == "THAWED"
    assert _back_to_sleep(sleeper.pid).startswith("S"), frozen_state
    v1.kill_all(signal.SIGKILL)
    assert sleeper.wait(5) == -signal.SIGKILL


@pytest.mark.requires("cgroup1")
def test_v1_stats_count_real_usage(v1: V1Manager) -> None:
    result = run_in_child(lambda: (v1.add_process(os.getpid()), spin(0.2), allocate(4))[2])
    assert result.status == 0, result
    stats = v1.stats()
    assert stats.cpu_usage_ns is not None and stats.cpu_usage_ns > 100_000_000
    assert stats.memory_usage is not None and stats.memory_usage > 0
    assert stats.pids_current == 0


@pytest.mark.requires("cgroup1")
def test_v1_default_devices_deny_kmsg(v1: V1Manager, tmp_path: Path) -> None:
    v1.apply(Resources(devices=DOCKER_DEFAULT_DEVICE_RULES))
    listed = (v1.dir("devices") / "devices.list").read_text().split("\n")
    assert "c 1:3 rwm" in listed and "a *:* rwm" not in listed
    result = run_in_child(lambda: (v1.add_process(os.getpid()), _open_devices(tmp_path))[1])
    assert result.output == "null ok; mknod ok; mem EPERM; kmsg EPERM", result


@pytest.mark.requires("cgroup1")
def test_v1_destroy_leaves_nothing(v1: V1Manager, sleeper: subprocess.Popen[bytes]) -> None:
    v1.add_process(sleeper.pid)
    v1.kill_all(signal.SIGKILL)
    v1.destroy()  # retries while the killed task exits
    assert [d for d in v1.dirs() if d.exists()] == []


# --- v2 ----------------------------------------------------------------------------------

@pytest.fixture
def v2() -> Iterator[V2Manager]:
    layout = detect()
    assert layout.unified is not None
    parent = _parent()
    mgr = V2Manager(f"{parent}/c", root=layout.unified, timeout=10)
    mgr.create()
    try:
        yield mgr
    finally:
        if mgr.exists():
            mgr.kill_all(signal.SIGKILL)
            mgr.destroy()
        if (layout.unified / parent).exists():
            os.rmdir(layout.unified / parent)


@pytest.mark.requires("cgroup2")
def test_v2_core_procs_freeze_kill(v2: V2Manager, sleeper: subprocess.Popen[bytes]) -> None:
    v2.add_process(sleeper.pid)
    assert v2.pids() == [sleeper.pid]
    v2.freeze()
    assert "frozen 1" in (v2.dir / "cgroup.events").read_text().splitlines()
    v2.thaw()
    assert "frozen 0" in (v2.dir / "cgroup.events").read_text().splitlines()
    v2.kill_all()  # cgroup.kill
    assert sleeper.wait(5) == -signal.SIGKILL
    v2.destroy()
    assert not v2.exists()


@pytest.mark.requires("cgroup2")
def test_v2_stats_from_core_files(v2: V2Manager) -> None:
    result = run_in_child(lambda: (v2.add_process(os.getpid()), spin(0.2))[1])
    assert result.status == 0, result
    assert (v2.stats().cpu_usage_ns or 0) > 100_000_000


def _need(v2: V2Manager, controller: str) -> None:
    if controller not in v2.available():
        pytest.skip(f"controller {controller} is bound to cgroup v1 on this hybrid host")


@pytest.mark.requires("cgroup2")
def test_v2_pids_limit(v2: V2Manager) -> None:
    _need(v2, "pids")
    v2.apply(Resources(pids_limit=20))
    result = run_in_child(lambda: (v2.add_process(os.getpid()), fork_until_refused())[1])
    assert result.output == "19 Resource temporarily unavailable"


@pytest.mark.requires("cgroup2")
def test_v2_memory_limit_oom_kills(v2: V2Manager) -> None:
    _need(v2, "memory")
    v2.apply(Resources(memory=10 * MB, memory_swap=10 * MB))
    result = run_in_child(lambda: (v2.add_process(os.getpid()), allocate(30))[1])
    assert result.status == -signal.SIGKILL and v2.oom_killed()


@pytest.mark.requires("cgroup2")
def test_v2_cpu_weight(v2: V2Manager) -> None:
    _need(v2, "cpu")
    v2.apply(Resources(cpu_shares=1024, nano_cpus=1_500_000_000))
    assert (v2.dir / "cpu.weight").read_text().strip() == "39"
    assert (v2.dir / "cpu.max").read_text().strip() == "150000 100000"


def _open_devices(tmp: Path) -> str:
    """Inside the cgroup: /dev/null, mknod of c 1:1 (m allowed), open it, open /dev/kmsg."""
    out = []
    os.close(os.open("/dev/null", os.O_RDWR))
    out.append("null ok")
    node = tmp / "mem"
    os.mknod(node, 0o600 | 0o020000, os.makedev(1, 1))  # S_IFCHR
    out.append("mknod ok")
    for name, path in (("mem", node), ("kmsg", Path("/dev/kmsg"))):
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
            out.append(f"{name} opened")
        except OSError as err:
            out.append(f"{name} {errno.errorcode[err.errno or 0]}")
    return "; ".join(out)


@pytest.mark.requires("cgroup2", "mknod")
def test_v2_ebpf_device_filter(v2: V2Manager, tmp_path: Path) -> None:
    v2.apply(Resources(devices=DOCKER_DEFAULT_DEVICE_RULES))
    assert len(devices.attached(v2.bpf, v2.dir)) == 1
    v2.apply(Resources(devices=DOCKER_DEFAULT_DEVICE_RULES))  # replaced, not stacked
    assert len(devices.attached(v2.bpf, v2.dir)) == 1
    result = run_in_child(lambda: (v2.add_process(os.getpid()), _open_devices(tmp_path))[1])
    assert result.output == "null ok; mknod ok; mem EPERM; kmsg EPERM", result
    # Outside the cgroup the kernel gets past the device check: /dev/kmsg opens, and the
    # 1:1 node reaches its driver (ENXIO where the kernel has no /dev/mem driver).
    os.close(os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK))
    try:
        os.close(os.open(tmp_path / "mem", os.O_RDONLY | os.O_NONBLOCK))
    except OSError as err:
        assert err.errno == errno.ENXIO
