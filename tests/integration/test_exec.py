"""``exec``, ``top``, ``pause``/``unpause``, ``stats`` and ``update`` on a running container.

One busybox store per module, as test_run.py; each test removes the containers it makes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from conftest import REPO, Pyker

pytestmark = pytest.mark.requires("root", "overlay", "busybox")


@pytest.fixture(scope="module")
def pk(tmp_path_factory: pytest.TempPathFactory) -> Pyker:
    root = tmp_path_factory.mktemp("exec")
    env = {**os.environ, "PYKER_DATA_ROOT": str(root / "data"), "PYKER_RUN_ROOT": str(root / "run"),
           "PYKER_DAEMON_CONFIG": str(root / "daemon.json"), "PYTHONPATH": str(REPO)}
    cli = Pyker(env)
    cli("bootstrap", "busybox")
    yield cli
    for cid in cli.out("ps", "-aq").split():
        cli("rm", "-f", cid, check=False)


@pytest.fixture
def box(pk):
    """A running container whose command wrote a file first; removed afterwards."""
    name = f"box{time.monotonic_ns()}"
    pk("run", "-d", "--name", name, "busybox", "sh", "-c", "echo from-run > /made-by-run; "
       "exec sleep 1000")
    doc = json.loads(pk.out("inspect", name))[0]
    yield name, doc["State"]["Pid"], doc["Id"]
    pk("rm", "-f", name, check=False)


def _ns(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_exec_joins_the_namespaces_and_sees_the_files(pk, box):
    name, pid, _ = box
    for kind in ("pid", "uts", "net", "mnt", "ipc"):
        assert pk.out("exec", name, "readlink", f"/proc/self/ns/{kind}").strip() == _ns(pid, kind)
    assert pk.out("exec", name, "cat", "/made-by-run") == "from-run\n"
    assert pk.out("exec", name, "hostname").strip() == pk.out(
        "inspect", "-f", "{{.Config.Hostname}}", name).strip()
    pk("exec", name, "sh", "-c", "echo from-exec > /made-by-exec")
    assert Path(f"/proc/{pid}/root/made-by-exec").read_text() == "from-exec\n"


def test_exec_user_env_cwd_and_privileges(pk, box):
    name, _, _ = box
    assert pk.out("exec", "-u", "nobody", name, "id", "-u") == "65534\n"
    assert "A=1" in pk.out("exec", "-e", "A=1", name, "env").splitlines()
    assert pk.out("exec", "-w", "/tmp", name, "pwd") == "/tmp\n"
    status = pk.out("exec", name, "cat", "/proc/self/status")
    assert "CapEff:\t00000000a80425fb" in status and "Seccomp:\t2" in status


def test_exec_process_starts_with_default_signals(pk, box):
    status = pk.out("exec", box[0], "grep", "SigIgn", "/proc/self/status")
    assert status.split() == ["SigIgn:", "0" * 16]


def test_exec_status_stdin_and_errors(pk, box):
    name, _, _ = box
    assert pk("exec", name, "sh", "-c", "exit 7", check=False).returncode == 7
    assert pk("exec", "-i", name, "cat", input=b"hello\n").stdout == b"hello\n"
    missing = pk("exec", name, "nosuchcommand", check=False)
    assert missing.returncode == 127
    assert b'exec: "nosuchcommand": executable file not found in $PATH' in missing.stderr
    assert b"Traceback" not in missing.stderr
    assert pk("exec", "-d", name, "sh", "-c", "echo bg > /bg").stdout == b""
    deadline = time.monotonic() + 5
    while pk("exec", name, "cat", "/bg", check=False).returncode and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pk.out("exec", name, "cat", "/bg") == "bg\n"


def test_exec_into_a_stopped_container_fails(pk):
    pk("create", "--name", "stopped", "busybox", "true")
    cid = pk.out("inspect", "-f", "{{.Id}}", "stopped").strip()
    proc = pk("exec", "stopped", "true", check=False)
    assert proc.returncode == 1
    assert f"Container {cid} is not running" in proc.stderr.decode()
    pk("rm", "stopped")


def test_top_lists_the_containers_processes_with_host_pids(pk, box):
    name, pid, _ = box
    lines = pk.out("top", name).splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert [line.split()[1] for line in lines[1:]] == [str(pid)]
    assert lines[1].endswith("sleep 1000")


def test_pause_freezes_and_unpause_thaws(pk, box):
    name, pid, cid = box
    assert pk.out("pause", name) == name + "\n"
    assert pk.out("ps", "--filter", f"name={name}", "--format", "{{.Status}}").rstrip().endswith(
        "(Paused)")
    freezer = Path(f"/sys/fs/cgroup/freezer/pyker/{cid}/freezer.state")
    if freezer.exists():
        assert freezer.read_text().strip() == "FROZEN"
    state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                 if line.startswith("State:"))
    assert "D" in state or freezer.exists()
    paused = pk("exec", name, "true", check=False)
    assert paused.returncode == 1 and b"is paused" in paused.stderr
    assert pk.out("unpause", name) == name + "\n"
    assert pk.out("inspect", "-f", "{{.State.Status}}", name) == "running\n"
    assert pk("unpause", name, check=False).returncode == 1


def test_stats_no_stream_format(pk, box):
    name, _, _ = box
    assert pk.out("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name) == f"{name} 1\n"
    table = pk.out("stats", "--no-stream", name).splitlines()
    assert [t.strip() for t in table[0].split("   ") if t.strip()] == [
        "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O",
        "PIDS"]
    fields = table[1].split()
    assert fields[2].endswith("%") and fields[4] == "/" and fields[-1] == "1"


def test_update_pids_limit_live_and_stored(pk, box):
    name, _, cid = box
    assert pk.out("update", "--pids-limit", "5", name) == name + "\n"
    pids_max = next(Path("/sys/fs/cgroup").glob(f"*/pyker/{cid}/pids.max"), None) or \
        next(Path("/sys/fs/cgroup").glob(f"pyker/{cid}/pids.max"))
    assert pids_max.read_text().strip() == "5"
    assert pk.out("inspect", "-f", "{{.HostConfig.PidsLimit}}", name) == "5\n"
