"""Metrics: the text exposition format on exact outputs, the collector on fake cgroup and
/proc trees (v1 and v2), the build cache counters, and the metrics CLI's address checks."""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from pyker.build.cache import BuildCache, StepKey, count_lookup, lookup_counts
from pyker.cgroups.layout import Layout
from pyker.errors import UsageError
from pyker.image.store import ImageStore
from pyker.metrics import cgroup_usage, collect, proc_usage
from pyker.metrics.exposition import (
    Exposition, Family, escape_help, escape_label_value, format_value, sanitize_label_name,
)
from pyker.metrics.server import is_loopback, parse_listen
from pyker.runtime.state import Record, State, process_start_time

CID = "0f3a" + "b" * 60
CGROUP = f"pyker/{CID}"

# ---- exposition -----------------------------------------------------------------------------


def test_render_groups_families_with_help_and_type():
    out = Exposition()
    cpu = Family("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time.")
    mem = Family("container_memory_usage_bytes", "gauge", "Current memory usage in bytes.")
    out.add(cpu, 1.5, {"name": "a", "cpu": "total"})
    out.add(mem, 4096, {"name": "a"})
    out.add(cpu, 2.25, {"name": "b", "cpu": "total"})  # after another family: still grouped
    out.declare(Family("pyker_nothing", "gauge", "No sample."))
    assert out.render() == (
        "# HELP container_cpu_usage_seconds_total Cumulative cpu time.\n"
        "# TYPE container_cpu_usage_seconds_total counter\n"
        'container_cpu_usage_seconds_total{cpu="total",name="a"} 1.5\n'
        'container_cpu_usage_seconds_total{cpu="total",name="b"} 2.25\n'
        "# HELP container_memory_usage_bytes Current memory usage in bytes.\n"
        "# TYPE container_memory_usage_bytes gauge\n"
        'container_memory_usage_bytes{name="a"} 4096\n'
        "# HELP pyker_nothing No sample.\n"
        "# TYPE pyker_nothing gauge\n")


def test_label_values_and_help_are_escaped():
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert escape_help('say "hi"\\\nbye') == 'say "hi"\\\\\\nbye'  # quotes stay in HELP
    out = Exposition()
    out.add(Family("m", "untyped", "multi\nline"), 1, {"path": 'C:\\x "y"'})
    assert out.render() == ('# HELP m multi\\nline\n# TYPE m untyped\n'
                            'm{path="C:\\\\x \\"y\\""} 1\n')


def test_values_are_go_floats():
    assert format_value(math.inf) == "+Inf"
    assert format_value(-math.inf) == "-Inf"
    assert format_value(math.nan) == "NaN"
    assert format_value(12345678901234567890) == "12345678901234567890"  # every digit
    assert format_value(0.1) == "0.1"
    assert format_value(True) == "1"
    assert float(format_value(1e-9)) == 1e-9


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "é"])
def test_invalid_metric_names_are_refused(name):
    with pytest.raises(ValueError, match="invalid metric name"):
        Family(name, "gauge", "")


def test_invalid_labels_types_and_duplicates_are_refused():
    with pytest.raises(ValueError, match="unknown type"):
        Family("m", "histogramm", "")
    out = Exposition()
    fam = Family("m", "gauge", "h")
    for bad in ("__name__", "a-b", "0x"):
        with pytest.raises(ValueError, match="invalid label name"):
            out.add(fam, 1, {bad: "v"})
    out.add(fam, 1, {"a": "1"})
    with pytest.raises(ValueError, match="duplicate sample"):
        out.add(fam, 2, {"a": "1"})
    with pytest.raises(ValueError, match="declared twice"):
        out.add(Family("m", "counter", "h"), 1, {"a": "2"})


def test_label_names_are_sanitized_like_cadvisor():
    assert sanitize_label_name("com.example.team-name") == "com_example_team_name"
    assert sanitize_label_name("9lives") == "_9lives"


# ---- fake cgroup trees ----------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


V1_FILES = {
    f"cpuacct/{CGROUP}/cpuacct.usage": "2500000000\n",
    f"cpuacct/{CGROUP}/cpuacct.stat": "user 200\nsystem 40\n",
    f"cpu/{CGROUP}/cpu.cfs_quota_us": "50000\n",
    f"cpu/{CGROUP}/cpu.cfs_period_us": "100000\n",
    f"cpu/{CGROUP}/cpu.shares": "512\n",
    f"cpu/{CGROUP}/cpu.stat": "nr_periods 30\nnr_throttled 7\nthrottled_time 350000000\n",
    f"memory/{CGROUP}/memory.usage_in_bytes": "10485760\n",
    f"memory/{CGROUP}/memory.max_usage_in_bytes": "12582912\n",
    f"memory/{CGROUP}/memory.limit_in_bytes": "9223372036854771712\n",
    f"memory/{CGROUP}/memory.memsw.usage_in_bytes": "10489856\n",
    f"memory/{CGROUP}/memory.failcnt": "0\n",
    f"memory/{CGROUP}/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    f"memory/{CGROUP}/memory.stat": ("cache 1\nrss 2\ntotal_cache 4194304\ntotal_rss 5242880\n"
                                     "total_mapped_file 8192\ntotal_inactive_file 3145728\n"),
    f"pids/{CGROUP}/pids.current": "3\n",
    f"pids/{CGROUP}/pids.max": "max\n",
    f"pids/{CGROUP}/cgroup.procs": "4242\n4243\n",
    f"pids/{CGROUP}/tasks": "4242\n4243\n4244\n",
    f"blkio/{CGROUP}/blkio.io_service_bytes_recursive": "Total 0\n",  # CFQ gone: no data
    f"blkio/{CGROUP}/blkio.throttle.io_service_bytes_recursive": (
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\n"
        "253:1 Read 0\n253:1 Write 512\nTotal 12800\n"),
    f"blkio/{CGROUP}/blkio.throttle.io_serviced_recursive": (
        "8:0 Read 1\n8:0 Write 2\n253:1 Read 0\n253:1 Write 1\nTotal 4\n"),
}

V2_FILES = {
    f"{CGROUP}/cpu.stat": ("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 400000\n"
                           "nr_periods 30\nnr_throttled 7\nthrottled_usec 350000\n"),
    f"{CGROUP}/cpu.max": "50000 100000\n",
    f"{CGROUP}/cpu.weight": "39\n",
    f"{CGROUP}/memory.current": "10485760\n",
    f"{CGROUP}/memory.peak": "12582912\n",
    f"{CGROUP}/memory.max": "268435456\n",
    f"{CGROUP}/memory.swap.current": "4096\n",
    f"{CGROUP}/memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
    f"{CGROUP}/memory.stat": ("anon 5242880\nfile 4194304\nfile_mapped 8192\n"
                              "inactive_file 3145728\n"),
    f"{CGROUP}/pids.current": "3\n",
    f"{CGROUP}/pids.max": "100\n",
    f"{CGROUP}/cgroup.procs": "4242\n4243\n",
    f"{CGROUP}/cgroup.threads": "4242\n4243\n4244\n",
    f"{CGROUP}/io.stat": ("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                          "253:1 rbytes=0 wbytes=512 rios=0 wios=1 dbytes=0 dios=0\n"),
}


def _v1(tmp_path: Path) -> Layout:
    _write(tmp_path, V1_FILES)
    return Layout("hybrid", {c: tmp_path / c for c in ("cpu", "cpuacct", "memory", "pids",
                                                       "blkio")}, tmp_path / "unified")


def _v2(tmp_path: Path) -> Layout:
    _write(tmp_path, V2_FILES)
    return Layout("v2", {}, tmp_path)


def test_v1_usage_read_from_each_hierarchy(tmp_path):
    u = cgroup_usage.read(_v1(tmp_path), CGROUP)
    assert (u.cpu_usage_ns, u.cpu_user_ns, u.cpu_system_ns) == (2_500_000_000, 2_000_000_000,
                                                                 400_000_000)
    assert (u.cfs_periods, u.cfs_throttled_periods, u.cfs_throttled_ns) == (30, 7, 350_000_000)
    assert (u.cpu_quota_us, u.cpu_period_us, u.cpu_shares) == (50000, 100000, 512)
    assert u.memory_limit is None  # v1's "unlimited" number
    assert (u.memory_usage, u.memory_max_usage, u.memory_rss, u.memory_cache) == (
        10485760, 12582912, 5242880, 4194304)
    assert u.working_set == 10485760 - 3145728
    assert (u.memory_swap, u.memory_failcnt, u.oom_kills) == (4096, 0, 1)
    assert (u.pids_current, u.pids_limit, u.procs, u.tasks) == (3, None, (4242, 4243),
                                                                (4242, 4243, 4244))
    # the throttle file, since the CFQ one has no per-device line
    assert u.io == (cgroup_usage.DeviceIO(8, 0, 4096, 8192, 1, 2),
                    cgroup_usage.DeviceIO(253, 1, 0, 512, 0, 1))


def test_v2_usage_is_the_same_container_read_from_one_directory(tmp_path):
    u = cgroup_usage.read(_v2(tmp_path), CGROUP)
    assert (u.cpu_usage_ns, u.cpu_user_ns, u.cpu_system_ns) == (2_500_000_000, 2_000_000_000,
                                                                 400_000_000)
    assert (u.cfs_periods, u.cfs_throttled_periods, u.cfs_throttled_ns) == (30, 7, 350_000_000)
    assert (u.cpu_quota_us, u.cpu_period_us) == (50000, 100000)
    assert u.cpu_shares == 998  # runc wrote weight 39 for 1024 shares: back, less rounding
    assert (u.memory_usage, u.memory_limit, u.memory_rss, u.memory_cache) == (
        10485760, 268435456, 5242880, 4194304)
    assert u.working_set == 10485760 - 3145728
    assert (u.memory_swap, u.memory_failcnt, u.oom_kills) == (4096, 5, 1)
    assert (u.pids_current, u.pids_limit, u.procs, u.tasks) == (3, 100, (4242, 4243),
                                                                (4242, 4243, 4244))
    assert u.io == (cgroup_usage.DeviceIO(8, 0, 4096, 8192, 1, 2),
                    cgroup_usage.DeviceIO(253, 1, 0, 512, 0, 1))


def test_missing_controllers_read_none_not_zero(tmp_path):
    _write(tmp_path, {f"{CGROUP}/cpu.stat": "usage_usec 10\nuser_usec 6\nsystem_usec 4\n",
                      f"{CGROUP}/cgroup.procs": "1\n"})
    u = cgroup_usage.read(Layout("v2", {}, tmp_path), CGROUP)
    assert u.cpu_usage_ns == 10_000
    assert u.memory_usage is u.working_set is u.pids_current is u.cfs_periods is None
    assert u.io == ()
    unlimited = tmp_path / "v1"
    _write(unlimited, {f"cpu/{CGROUP}/cpu.cfs_quota_us": "-1\n"})
    assert cgroup_usage.read_v1({"cpu": unlimited / "cpu"}, CGROUP).cpu_quota_us is None


# ---- fake /proc and /sys --------------------------------------------------------------------

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0:    1500      12    1    2    0     0          0         0      648       8    3    4    0     0       0          0
"""


def _proc(tmp_path: Path) -> Path:
    proc = tmp_path / "proc"
    _write(proc, {
        "1/ns/net": "host", "4242/ns/net": "container",  # two files: two inode numbers
        "4242/net/dev": NET_DEV,
        "4242/stat": "4242 (sh) R 1 4242 4242 0 -1 4194560 0 0 0 0\n",
        "4243/stat": "4243 (a) b (c)) S 4242 4242\n",  # a command name with ) and spaces
        "4244/stat": "4244 (worker) D 4242\n",
        "stat": "cpu  100 0 50 800 10 0 0 0 0 0\ncpu0 1\ncpu1 1\n",
        "meminfo": "MemTotal:       2048 kB\n",
    })
    for pid, links in {"4242": ["/dev/null", "socket:[77]"], "4243": ["pipe:[5]"]}.items():
        (proc / pid / "fd").mkdir()
        for i, target in enumerate(links):
            os.symlink(target, proc / pid / "fd" / str(i))
    return proc


def test_proc_readings(tmp_path):
    proc = _proc(tmp_path)
    (eth0,) = proc_usage.container_interfaces(4242, proc)
    assert eth0 == proc_usage.Interface("eth0", 1500, 12, 1, 2, 648, 8, 3, 4)
    assert proc_usage.task_states((4242, 4243, 4244, 999), proc) == {
        "running": 1, "sleeping": 1, "uninterruptible": 1, "stopped": 0}
    assert proc_usage.descriptors((4242, 4243), proc) == (3, 1)
    assert proc_usage.machine(proc) == (2, 2048 * 1024)
    (proc / "4243/ns").mkdir()  # 4243 in the host's namespace (PID 1's): not reported
    os.link(proc / "1/ns/net", proc / "4243/ns/net")
    _write(proc, {"4243/net/dev": NET_DEV})
    assert proc_usage.container_interfaces(4243, proc) == ()


def test_device_names_from_sysfs(tmp_path):
    _write(tmp_path, {"dev/block/8:0/uevent": "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n"})
    assert proc_usage.device_name(8, 0, tmp_path) == "/dev/sda"
    assert proc_usage.device_name(253, 1, tmp_path) == "253:1"


# ---- the whole scrape -----------------------------------------------------------------------


def _record(**state) -> Record:
    return Record(id=CID, name="web", image_id="sha256:" + "1" * 64, image_ref="busybox",
                  created="2024-01-02T03:04:05Z", path="sh", args=(),
                  options={"labels": {"com.example.team": "blue"}},
                  state=State(**state))


def _engine(tmp_path: Path, records: list[Record]):
    store = ImageStore(tmp_path / "data")
    (tmp_path / "data").mkdir()
    return SimpleNamespace(containers=SimpleNamespace(all=lambda: iter(records)),
                           images=store, data_root=tmp_path / "data")


def _scrape(tmp_path: Path, layout: Layout) -> str:
    # A "running" container whose init is this very process: alive, as the collector checks.
    me = os.getpid()
    running = _record(status="running", pid=me, pid_start=process_start_time(me),
                      started_at="2024-01-02T03:04:06.5Z")
    stopped = _record(status="exited")
    engine = _engine(tmp_path, [running, stopped])
    count_lookup(engine.data_root, hit=True)
    count_lookup(engine.data_root, hit=False)
    count_lookup(engine.data_root, hit=True)
    proc = _proc(tmp_path)
    (proc / str(me)).symlink_to(proc / "4242")  # the fake /proc names our pid as 4242
    _write(tmp_path, {"sys/dev/block/8:0/uevent": "DEVNAME=sda\n"})
    return collect.collect(engine, layout=layout, proc=proc, sys=tmp_path / "sys").render()


BASE = {"container_label_com_example_team": "blue", "id": f"/pyker/{CID}", "image": "busybox",
        "name": "web"}


def series(name: str, value: str, **extra: str) -> str:
    """One line as Prometheus's clients write it: label names in order."""
    labels = ",".join(f'{k}="{v}"' for k, v in sorted({**BASE, **extra}.items()))
    return f"{name}{{{labels}}} {value}"


@pytest.mark.parametrize("tree", [_v1, _v2])
def test_scrape_has_cadvisor_names_and_labels(tmp_path, tree):
    text = _scrape(tmp_path, tree(tmp_path))
    lines = set(text.splitlines())
    expected = [
        series("container_cpu_usage_seconds_total", "2.5", cpu="total"),
        series("container_cpu_user_seconds_total", "2.0"),
        series("container_cpu_system_seconds_total", "0.4"),
        series("container_cpu_cfs_throttled_periods_total", "7"),
        series("container_cpu_cfs_throttled_seconds_total", "0.35"),
        series("container_spec_cpu_quota", "50000"),
        series("container_spec_cpu_period", "100000"),
        series("container_memory_usage_bytes", "10485760"),
        series("container_memory_working_set_bytes", "7340032"),
        series("container_memory_rss", "5242880"),
        series("container_oom_events_total", "1"),
        series("container_network_receive_bytes_total", "1500", interface="eth0"),
        series("container_network_transmit_bytes_total", "648", interface="eth0"),
        series("container_network_receive_errors_total", "1", interface="eth0"),
        series("container_fs_reads_bytes_total", "4096", device="/dev/sda"),
        series("container_fs_writes_bytes_total", "8192", device="/dev/sda"),
        series("container_fs_writes_bytes_total", "512", device="253:1"),
        series("container_processes", "2"),
        series("container_threads", "3"),
        series("container_file_descriptors", "3"),
        series("container_sockets", "1"),
        series("container_tasks_state", "1", state="uninterruptible"),
        series("container_start_time_seconds", "1704164646.5"),
        'pyker_containers{state="running"} 1',
        'pyker_containers{state="exited"} 1',
        'pyker_containers{state="paused"} 0',
        "pyker_images 0",
        "pyker_build_cache_hits_total 2",
        "pyker_build_cache_misses_total 1",
        "machine_cpu_cores 2",
        "container_scrape_error 0",
        "# TYPE container_cpu_usage_seconds_total counter",
        "# TYPE container_memory_working_set_bytes gauge",
    ]
    assert [line for line in expected if line not in lines] == []
    assert not any("network" in line and 'interface="lo"' in line for line in lines)
    assert sum(line.startswith("container_last_seen{") for line in lines) == 1  # running only


def test_limits_as_cadvisor_reports_them(tmp_path):
    v1 = _scrape(tmp_path / "a", _v1(tmp_path / "a"))
    assert series("container_spec_memory_limit_bytes", "0") in v1  # unlimited reads 0
    assert series("container_threads_max", "0") in v1
    v2 = _scrape(tmp_path / "b", _v2(tmp_path / "b"))
    assert series("container_spec_memory_limit_bytes", "268435456") in v2
    assert series("container_threads_max", "100") in v2


def test_no_quota_no_cfs_series(tmp_path):
    files = dict(V2_FILES, **{f"{CGROUP}/cpu.max": "max 100000\n"})
    _write(tmp_path, files)
    text = _scrape(tmp_path, Layout("v2", {}, tmp_path))
    assert "container_spec_cpu_period{" in text
    assert "container_spec_cpu_quota{" not in text
    assert "container_cpu_cfs_periods_total{" not in text


# ---- build cache counters -------------------------------------------------------------------


def test_build_cache_lookups_are_counted(tmp_path):
    store = ImageStore(tmp_path)
    store.create()
    cache = BuildCache(store)
    key = StepKey(parent="", instruction="RUN true")
    assert lookup_counts(tmp_path) == (0, 0)
    assert cache.lookup(key) is None
    assert cache.lookup(key) is None
    assert lookup_counts(tmp_path) == (0, 2)
    count_lookup(tmp_path / "missing-root", hit=True)  # no data root: no count, no failure
    assert lookup_counts(tmp_path / "missing-root") == (0, 0)


# ---- metrics serve addresses ----------------------------------------------------------------


def test_listen_addresses():
    assert parse_listen("127.0.0.1:9323") == ("127.0.0.1", 9323)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert is_loopback("127.0.0.2") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1")
    for bad in ("9323", "localhost:9323", "127.0.0.1:99999", "127.0.0.1:x"):
        with pytest.raises(UsageError, match="invalid --listen"):
            parse_listen(bad)


def test_serve_refuses_a_non_loopback_address_unless_explicit():
    from pyker.metrics.server import serve

    with pytest.raises(UsageError, match="not a loopback address"):
        serve(None, "0.0.0.0:0")


# ---- the notebook dashboard, without containers ---------------------------------------------


def test_static_mode_is_detected(monkeypatch):
    pytest.importorskip("IPython")
    from pyker.metrics.dashboard import static_mode

    monkeypatch.delenv("PYKER_NOTEBOOK_STATIC", raising=False)
    assert static_mode()  # no Jupyter kernel in pytest: nothing to update live
    monkeypatch.setattr("IPython.get_ipython", lambda: SimpleNamespace(kernel=object()))
    assert not static_mode()  # in a kernel
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "notebooks/03-cgroups.ipynb::Cell 4 (call)")
    assert static_mode()  # nbval runs the kernel
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/unit/test_metrics.py::x (call)")
    assert not static_mode()
    monkeypatch.setenv("PYKER_NOTEBOOK_STATIC", "1")
    assert static_mode()


@pytest.mark.parametrize("kwargs, message", [
    ({"metrics": ("cpu", "disk")}, "unknown dashboard metric disk"),
    ({"metrics": ()}, "unknown dashboard metric"),
    ({"interval": 0}, "must be positive"),
])
def test_dashboard_arguments_are_checked_first(kwargs, message):
    from pyker.metrics.dashboard import Dashboard

    with pytest.raises(UsageError, match=message):
        Dashboard(["web"], engine=object(), **kwargs)  # refused before the store is read
    with pytest.raises(UsageError, match="at least one container"):
        Dashboard([], engine=object())


def test_dashboard_plot_draws_a_line_per_container():
    pytest.importorskip("matplotlib")
    np = pytest.importorskip("numpy")
    import io as _io

    from PIL import Image

    from pyker.metrics.dashboard import _Plot

    plot = _Plot(["a", "b"], ["cpu", "pids"])
    ramp = [(t / 2, 10.0 + t) for t in range(20)]
    plot.update({"a": {"cpu": ramp, "pids": [(0.0, 1.0), (9.5, 3.0)]},
                 "b": {"cpu": [(t, 90.0) for t, _ in ramp], "pids": []}}, 60.0, 1.0)
    assert plot.axes[0].get_ylim() == (0.0, pytest.approx(90 * 1.15))
    assert plot.axes[0].get_xlim() == (0.0, 9.5)
    rgb = np.asarray(Image.open(_io.BytesIO(plot.png())).convert("RGB"))
    assert rgb.shape == (int((2.1 * 2 + 0.5) * 100), 800, 3)
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):  # C0 for a, C1 for b
        assert (rgb == colour).all(axis=2).sum() > 200
