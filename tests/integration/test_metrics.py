"""A real Prometheus scrapes ``pyker metrics serve`` and measures a busy container's CPU.

Both servers run in the tests' network namespace (conftest's ``pyk-tests-…``), on its
127.0.0.1, where the test's own HTTP requests go too: they are made from a thread that
joined that namespace (a network namespace is a per-thread attribute). Prometheus is
Debian's package, started with a configuration and a TSDB in ``tmp_path`` and a scrape
every second; the PromQL query is the course's ``rate(container_cpu_usage_seconds_total
{name="busy"}[5s])``: a ``while :; do :; done`` loop is one core, give or take the
machine's other work.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import Pyker, enter_tests_netns

pytestmark = [pytest.mark.requires("root", "busybox")]


def in_tests_netns(fn, *args):
    """``fn(*args)`` in a thread that joined the tests' network namespace."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            enter_tests_netns()
            result["value"] = fn(*args)
        except BaseException as err:  # handed to the caller
            result["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, dict(response.headers), response.read()


def promql(port: int, query: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    _, _, body = in_tests_netns(http_get, url)
    doc = json.loads(body)
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def wait_for(what, probe, timeout: float):
    """``probe()``'s first true value, tried every half second; ``what`` (a text, or a
    function giving it at the time of failure) names it in the error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
            if value:
                return value
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what() if callable(what) else what}: "
                                 f"not after {timeout:.0f}s")
        time.sleep(0.5)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def metrics_server(pk: Pyker):
    """``pyker metrics serve`` on a free port of the namespace's loopback; its URL."""
    with subprocess.Popen([sys.executable, "-m", "pyker", "metrics", "serve", "--listen",
                           "127.0.0.1:0"], env=pk.env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, preexec_fn=enter_tests_netns,
                          text=True) as proc:
        try:
            line = proc.stdout.readline()
            assert line.startswith("Serving metrics on http://127.0.0.1:"), \
                line + proc.stderr.read()
            yield line.split()[-1]
        finally:
            stop(proc)
        assert proc.returncode == 0, proc.stderr.read()  # SIGTERM is a clean exit


@pytest.fixture
def prometheus(tmp_path: Path, metrics_server: str):
    """Debian's Prometheus scraping the metrics server each second; its port."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("needs Prometheus: apt-get install -y prometheus (Debian package)")
    target = urllib.parse.urlsplit(metrics_server).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: pyker\n    static_configs:\n"
        f"      - targets: ['{target}']\n")
    port = in_tests_netns(free_port)
    with open(tmp_path / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=log, preexec_fn=enter_tests_netns, cwd=tmp_path)
    try:
        wait_for("Prometheus ready", lambda: in_tests_netns(
            http_get, f"http://127.0.0.1:{port}/-/ready")[0] == 200, 30)
        yield port
    finally:
        stop(proc)
        assert proc.poll() is not None


@pytest.fixture
def busy(pk: Pyker):
    pk("run", "-d", "--name", "busy", "--cpus", "1", "busybox", "sh", "-c",
       "while :; do :; done")
    yield "busy"
    pk("rm", "-f", "busy")


def test_prometheus_measures_a_busy_container_at_one_core(busy, metrics_server, prometheus):
    status, headers, body = in_tests_netns(http_get, metrics_server)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'container_cpu_usage_seconds_total{cpu="total",id="/pyker/' in body.decode()

    # The loop is one core when the machine lets it run; two cores shared with other work
    # (another test, a build) may hold it below for a while, so the query is repeated until
    # Prometheus reports it above 0.5. Never above 1.1: one thread, and --cpus 1 besides.
    query = 'rate(container_cpu_usage_seconds_total{name="busy"}[5s])'
    readings: list[float] = []

    def measured():
        result = promql(prometheus, query)
        if not result:
            return None  # fewer than two scrapes in the window yet
        (series,) = result
        cores = float(series["value"][1])
        readings.append(cores)
        assert cores < 1.1, f"{query} = {cores}"
        return series if cores > 0.5 else None

    series = wait_for(lambda: f"{query} above 0.5 (read {readings})", measured, 60)
    assert series["metric"]["image"] == "busybox"
    assert series["metric"]["id"].startswith("/pyker/")
    assert series["metric"]["cpu"] == "total"

    # Prometheus parsed every scrape: the target is up, with cAdvisor's other series.
    (up,) = promql(prometheus, 'up{job="pyker"}')
    assert up["value"][1] == "1"
    (quota,) = promql(prometheus, 'container_spec_cpu_quota{name="busy"}')
    assert quota["value"][1] == "100000"  # --cpus 1: 100 ms per 100 ms period
    (working_set,) = promql(prometheus, 'container_memory_working_set_bytes{name="busy"}')
    assert float(working_set["value"][1]) > 0
    (running,) = promql(prometheus, 'pyker_containers{state="running"}')
    assert running["value"][1] == "1"
    (tasks,) = promql(prometheus, 'container_tasks_state{name="busy",state="running"}')
    assert tasks["value"][1] == "1"


def test_metrics_show_and_the_python_call_agree_on_the_containers(pk: Pyker, busy):
    text = pk.out("metrics", "show")
    assert 'pyker_containers{state="running"} 1' in text
    line = next(x for x in text.splitlines() if x.startswith("container_processes{"))
    assert 'name="busy"' in line and line.endswith(" 1")
    code = ("import pyker.metrics as m; t = m.render(); "
            "print(sum(l.startswith('container_last_seen{') for l in t.splitlines()))")
    out = subprocess.run([sys.executable, "-c", code], env=pk.env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "1"
