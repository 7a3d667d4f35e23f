"""``pyker run`` end to end on the real kernel: the course's TPs, reproduced as tests.

Every test removes the containers it makes (``pk``: a busybox store per module, see
conftest.py), and the cleanup test checks that nothing of them is left.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_exit_code_stdin_and_stdout(pk):
    assert pk("run", "--rm", "busybox", "sh", "-c", "exit 3", check=False).returncode == 3
    proc = pk("run", "-i", "--rm", "busybox", "cat", input=b"hi\n")
    assert proc.stdout == b"hi\n" and proc.returncode == 0
    proc = pk("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert (proc.stdout, proc.stderr) == (b"out\n", b"err\n")


def test_the_container_runs_in_its_cgroup_in_every_hierarchy(pk):
    """The init joins the container's cgroup before its exec (on v1 it moves itself,
    pyker.cgroups.v1.manager.V1Manager.self_join_files; on v2 its monitor moves it)."""
    from pyker.cgroups import detect

    layout = detect()
    cid = pk.out("run", "-d", "busybox", "sleep", "30").strip()
    try:
        inside = pk.out("exec", cid, "cat", "/proc/1/cgroup")
    finally:
        pk("rm", "-f", cid)
    where = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in inside.splitlines()}
    wanted = set(layout.v1) if layout.mode != "v2" else {""}
    found = {controller for controllers, path in where.items() if path == f"/pyker/{cid}"
             for controller in (controllers.split(",") if controllers else [""])}
    assert wanted <= found, inside


def test_signals_start_at_their_defaults(pk):
    """Python ignores SIGPIPE; the container's process must not inherit that (`yes | head`)."""
    status = pk.out("run", "--rm", "busybox", "grep", "-E", "Sig(Ign|Blk)", "/proc/self/status")
    assert status.split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]
    assert pk.out("run", "--rm", "busybox", "sh", "-c", "yes | head -1; echo end") == "y\nend\n"


@pytest.mark.parametrize("command, code, message", [
    ("nosuchcommand", 127, 'exec: "nosuchcommand": executable file not found in $PATH'),
    ("/etc/passwd", 126, 'exec: "/etc/passwd": permission denied'),
])
def test_command_cannot_run(pk, command, code, message):
    proc = pk("run", "--rm", "busybox", command, check=False)
    assert proc.returncode == code
    assert message in proc.stderr.decode() and b"Traceback" not in proc.stderr


@pytest.mark.parametrize("flags, ok", [
    ((), True),
    (("--cap-drop", "ALL", "--cap-add", "CHOWN"), True),
    (("--cap-drop", "CHOWN"), False),
    (("--cap-add", "chown", "-u", "nobody"), False),
])
def test_tp_cap01_chown(pk, flags, ok):
    proc = pk("run", "--rm", *flags, "busybox", "chown", "nobody", "/", check=False)
    assert (proc.returncode == 0) is ok
    if not ok:
        assert b"Operation not permitted" in proc.stderr


def test_isolation_is_real(pk):
    out = pk.out("run", "--rm", "--hostname", "box", "busybox", "sh", "-c",
                 "hostname; echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/self/status")
    hostname, pid, nprocs, status = out.split("\n", 3)
    assert hostname == "box" and pid == "1" and int(nprocs) <= 3
    assert "Seccomp:\t2" in status and "NoNewPrivs:\t0" in status
    assert "CapEff:\t00000000a80425fb" in status  # Docker's default 14 capabilities
    hidden = next(p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list") if Path(p).exists())
    masked = pk.out("run", "--rm", "busybox", "sh", "-c", f"wc -c < {hidden}; "
                    "echo x 2>&1 > /proc/sys/kernel/hostname; ls /dev | tr '\\n' ' '")
    assert masked.startswith("0\n"), masked  # /dev/null is bound over it
    assert "Read-only file system" in masked
    assert "null" in masked and "sda" not in masked


def test_network_none_has_only_a_working_loopback(pk):
    out = pk.out("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                 "ls /sys/class/net; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo pong")
    assert out == "lo\npong\n"
    # Without --network, Docker's default: the bridge, an eth0 beside lo.
    assert pk.out("run", "--rm", "busybox", "ls", "/sys/class/net") == "eth0\nlo\n"


def test_add_host_without_a_bridge(pk):
    hosts = pk.out("run", "--rm", "--network", "none", "--add-host", "db.local:10.9.8.7",
                   "busybox", "cat", "/etc/hosts")
    assert "10.9.8.7\tdb.local\n" in hosts and hosts.startswith("127.0.0.1\tlocalhost\n")
    hosts = pk.out("run", "--rm", "--network", "host", "--add-host", "db.local:10.9.8.7",
                   "busybox", "cat", "/etc/hosts")
    assert hosts.endswith("10.9.8.7\tdb.local\n")
    # host-gateway names a bridge's gateway: refused before anything is created.
    proc = pk("run", "--rm", "--network", "none", "--add-host", "gw:host-gateway", "busybox",
              "true", check=False)
    assert (proc.returncode, proc.stderr) == (
        125, b"pyker: unable to derive the IP value for host-gateway\n")
    assert pk.out("ps", "-aq") == ""


def test_tp_cgroups_pids_limit_stops_a_fork_bomb(pk):
    proc = pk("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c",
              "for i in $(seq 1 40); do sleep 2.718 & done; wait", check=False)
    assert b"Resource temporarily unavailable" in proc.stderr
    deadline = time.monotonic() + 5  # the PID namespace's end takes them all away
    while time.monotonic() < deadline and _running("sleep 2.718"):
        time.sleep(0.05)
    assert not _running("sleep 2.718")


def test_tp_cgroups_oom_kill(pk):
    proc = pk("run", "--name", "oomer", "--memory", "10m", "busybox", "sh", "-c",
              "x=$(head -c 30000000 /dev/zero | tr '\\0' a); echo survived", check=False)
    assert proc.returncode == 137 and b"survived" not in proc.stdout
    assert pk.out("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oomer") == \
        "true 137\n"
    pk("rm", "oomer")


def test_tp_seccomp01(pk, tmp_path):
    deny = pk("run", "--rm", "--security-opt", f"seccomp={FIXTURES}/seccomp/deny.json",
              "busybox", "true", check=False)
    assert deny.returncode != 0 and b'denies "execve"' in deny.stderr
    nochmod = pk("run", "--rm", "--security-opt",
                 f"seccomp={FIXTURES}/seccomp/default-no-chmod.json", "busybox", "chmod", "777",
                 "/", check=False)
    assert nochmod.returncode == 1 and b"Operation not permitted" in nochmod.stderr
    assert pk("run", "--rm", "busybox", "chmod", "777", "/tmp").returncode == 0
    pk("run", "--rm", "--security-opt", "seccomp=unconfined", "--cap-add", "SYS_ADMIN",
       "busybox", "unshare", "-u", "true")
    assert pk("run", "--rm", "busybox", "unshare", "-u", "true", check=False).returncode == 1


def test_tp_intro01_detached_clock(pk):
    cid = pk.out("run", "-d", "--name", "test-clock", "busybox", "sh", "-c",
                 "while true; do date; sleep 1; done").strip()
    assert len(cid) == 64
    time.sleep(2.2)
    assert pk.out("ps", "--format", "{{.Names}} {{.State}}") == "test-clock running\n"
    assert len(pk.out("logs", "test-clock").splitlines()) >= 2
    assert len(pk.out("logs", "--tail", "1", "test-clock").splitlines()) == 1
    pk("run", "--rm", "busybox", "true")  # other containers do not disturb it
    pk("stop", "-t", "1", "test-clock")
    doc = json.loads(pk.out("inspect", "test-clock"))[0]
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 137
    pk("start", "test-clock")
    assert pk.out("ps", "-q") == cid[:12] + "\n"
    pk("rm", "-f", "test-clock")
    assert pk.out("ps", "-aq") == ""


def test_changes_survive_stop_start_and_go_with_rm(pk):
    pk("create", "--name", "keep", "busybox", "sh", "-c", "echo v1 >> /data.txt; cat /data.txt")
    assert pk.out("start", "-a", "keep") == "v1\n"
    assert pk.out("start", "-a", "keep") == "v1\nv1\n"
    pk("rm", "keep")
    assert pk("run", "--rm", "busybox", "cat", "/data.txt", check=False).returncode == 1


def _leftovers(ids: list[str]) -> list[str]:
    """Mounts, cgroups and processes of these containers still on the host."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if any(i in line for i in ids)]
    cgroups = [str(p) for i in ids for p in (*Path("/sys/fs/cgroup").glob(f"*/pyker/{i}"),
                                             *Path("/sys/fs/cgroup").glob(f"pyker/{i}"))]
    procs = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()
             and _cmdline(p).startswith("sleep 1234")]
    return mounts + cgroups + procs


def _running(prefix: str) -> list[str]:
    """PIDs of live (not zombie) processes whose command line starts with ``prefix``."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and _cmdline(p).startswith(prefix):
            try:
                if " Z " not in (p / "stat").read_text().split(")", 1)[1][:4]:
                    out.append(p.name)
            except (OSError, IndexError):
                continue
    return out


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_rm_leaves_nothing_behind(pk, tmp_path):
    cid = pk.out("run", "-d", "busybox", "sleep", "1234").strip()
    assert _leftovers([cid])  # the check sees a live container
    pk("rm", "-f", cid)
    assert _leftovers([cid]) == []
    ids = []
    for n in range(int(os.environ.get("PYKER_RM_CYCLES", "200"))):
        pk("run", "--rm", "--cidfile", str(tmp_path / f"cid{n}"), "busybox", "true")
        ids.append((tmp_path / f"cid{n}").read_text())
    assert len(set(ids)) == len(ids) and _leftovers(ids) == []
    # Each container left the store (one rename) before its CLI returned; its monitor deletes
    # the renamed files just after, then exits.
    containers = Path(pk.env["PYKER_DATA_ROOT"]) / "containers"
    deadline = time.monotonic() + 5
    while (left := os.listdir(containers)) and time.monotonic() < deadline:
        assert all(name.startswith(".tmp-") for name in left), left
        time.sleep(0.01)
    assert left == []


def test_rm_sweeps_the_files_a_killed_remover_left(pk):
    # A remover killed between its rename and its delete leaves a .tmp-<pid>- directory.
    dead = subprocess.Popen(["true"])
    dead.wait()
    containers = Path(pk.env["PYKER_DATA_ROOT"]) / "containers"
    left = containers / f".tmp-{dead.pid}-{'d' * 64}"
    (left / "upper").mkdir(parents=True)
    (left / "container.json").write_text("{}")
    assert pk.out("ps", "-aq") == ""
    pk("run", "--rm", "busybox", "true")
    assert not left.exists()


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_the_spec_is_the_seam(pk, runtime):
    """The bundle pyker writes runs unchanged under runc and crun, with the same answers."""
    if not shutil.which(runtime):
        pytest.skip(f"{runtime} not installed (Debian package {runtime})")
    base = ("run", "--rm", "--runtime", runtime, "busybox")
    assert pk(*base, "sh", "-c", "exit 4", check=False).returncode == 4
    denied = pk("run", "--rm", "--runtime", runtime, "--cap-drop", "CHOWN", "busybox",
                "chown", "nobody", "/", check=False)
    assert denied.returncode == 1 and b"Operation not permitted" in denied.stderr
    assert pk.out(*base, "hostname", "-s") != ""


def test_no_ghost_when_the_monitor_is_killed(pk):
    """kill -9 of the monitor: ps tells the truth (dead, then gone), rm cleans everything."""
    import signal

    cid = pk.out("run", "-d", "busybox", "sleep", "1234").strip()
    record = json.loads((Path(pk.env["PYKER_DATA_ROOT"]) / "containers" / cid /
                         "container.json").read_text())
    os.kill(record["state"]["monitor_pid"], signal.SIGKILL)
    time.sleep(0.2)
    assert pk.out("ps", "-a", "--format", "{{.State}}", "--filter", f"id={cid}") == "dead\n"
    pk("rm", "-f", cid)
    assert _leftovers([cid]) == []


@pytest.mark.requires("tini")
def test_init_is_pid_1_and_the_command_its_child(pk):
    out = pk.out("run", "--rm", "--init", "busybox", "ps", "-o", "pid,ppid,args")
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    assert rows[0] == ["1", "0", "/sbin/docker-init -- ps -o pid,ppid,args"]
    assert rows[1][1] == "1" and rows[1][2] == "ps -o pid,ppid,args"


def test_privileged_gets_every_capability_this_host_can_grant(pk):
    with open("/proc/self/status") as f:
        bounding = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    out = pk.out("run", "--rm", "--privileged", "busybox", "sh", "-c",
                 "grep -E '^(CapEff|Seccomp):' /proc/self/status")
    assert out == f"CapEff:\t{bounding}\nSeccomp:\t0\n"


def test_logs_follow_and_restart(pk):
    pk("run", "-d", "--name", "talker", "busybox", "sh", "-c",
       "echo a; sleep 0.5; echo b; sleep 0.5; echo c")
    assert pk.out("logs", "-f", "talker") == "a\nb\nc\n"  # returns when the container stops
    pk("restart", "-t", "1", "talker")
    assert pk.out("wait", "talker") == "0\n"
    assert pk.out("logs", "talker") == "a\nb\nc\n" * 2
    pk("rm", "talker")


def test_the_container_sees_its_own_cgroup_read_only(pk):
    out = pk.out("run", "--rm", "--pids-limit", "7", "busybox", "sh", "-c",
                 "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
                 "(echo 9 > /sys/fs/cgroup/pids/pids.max) 2>&1 || true")
    assert out.startswith("7\n") and "Read-only file system" in out


def test_stop_sends_the_containers_stop_signal_and_waits_its_stop_timeout(pk, tmp_path):
    handler = 'trap "echo got $0; exit 3" {sig}; while :; do sleep 0.1; done'
    pk("run", "-d", "--name", "usr1", "--network", "none", "--stop-signal", "SIGUSR1",
       "busybox", "sh", "-c", handler.format(sig="USR1"), "usr1")
    pk("stop", "usr1")
    doc = json.loads(pk.out("inspect", "usr1"))[0]
    assert (doc["State"]["ExitCode"], doc["Config"]["StopSignal"]) == (3, "SIGUSR1")
    assert pk.out("logs", "usr1") == "got usr1\n"

    (tmp_path / "Dockerfile").write_text("FROM busybox\nSTOPSIGNAL SIGUSR2\n")
    pk("build", "-q", "-t", "stopsig", str(tmp_path))
    pk("run", "-d", "--name", "usr2", "--network", "none", "stopsig", "sh", "-c",
       handler.format(sig="USR2"), "usr2")
    pk("stop", "usr2")  # the image's STOPSIGNAL
    assert json.loads(pk.out("inspect", "usr2"))[0]["State"]["ExitCode"] == 3
    pk("start", "usr2")
    pk("stop", "-s", "KILL", "usr2")  # -s wins over the container's
    assert json.loads(pk.out("inspect", "usr2"))[0]["State"]["ExitCode"] == 137

    # TERM ignored: killed once --stop-timeout's 1 s is over, not Docker's default 10 s.
    pk("run", "-d", "--name", "deaf", "--network", "none", "--stop-timeout", "1", "busybox",
       "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done")
    began = time.monotonic()
    pk("stop", "deaf")
    assert time.monotonic() - began < 8
    doc = json.loads(pk.out("inspect", "deaf"))[0]
    assert (doc["State"]["ExitCode"], doc["Config"]["StopTimeout"]) == (137, 1)

    bad = pk("run", "--stop-signal", "SIGNOPE", "busybox", "true", check=False)
    assert (bad.returncode, bad.stderr.decode().strip()) == (125, "pyker: invalid signal: SIGNOPE")
    pk("rm", "-f", "usr1", "usr2", "deaf")
    pk("rmi", "stopsig")


def test_run_piped_into_head_returns_and_the_container_goes_on(pk):
    """`pyker run … yes | head -2`: when head has read enough, the CLI ends as Docker's
    does (killed by SIGPIPE: 141) while the container goes on, its output to the log."""
    import subprocess
    import sys

    from conftest import enter_tests_netns

    script = (f"{sys.executable} -m pyker run --name piped --network none busybox yes | "
              "head -2; echo \"status ${PIPESTATUS[*]}\"")
    proc = subprocess.run(["bash", "-c", script], env=pk.env, capture_output=True, text=True,
                          timeout=60, preexec_fn=enter_tests_netns)
    assert proc.stdout == "y\ny\nstatus 141 0\n"
    assert pk.out("inspect", "-f", "{{.State.Status}}", "piped") == "running\n"
    pk("rm", "-f", "piped")


def test_rm_force_of_a_rm_container_leaves_it_to_its_monitor(pk):
    for _ in range(3):  # the monitor's own removal and rm -f's used to race
        cid = pk.out("run", "-d", "--rm", "--network", "none", "busybox", "sleep", "100").strip()
        assert pk.out("rm", "-f", cid) == cid + "\n"
        assert _leftovers([cid]) == []
    assert pk.out("ps", "-aq") == ""


def test_ps_name_filter_is_a_regular_expression(pk):
    for name in ("web", "web2", "api-web"):
        pk("create", "--name", name, "--network", "none", "busybox", "true")
    names = lambda flt: sorted(pk.out("ps", "-a", "--filter", flt, "--format",  # noqa: E731
                                      "{{.Names}}").split())
    assert names("name=web") == ["api-web", "web", "web2"]  # part of the name
    assert names("name=^web$") == ["web"]
    assert names("name=^/web") == ["web", "web2"]  # Docker's stored form, "/web"
    bad = pk("ps", "-a", "--filter", "name=we[", check=False)
    assert bad.returncode == 125 and b'invalid filter "name=we["' in bad.stderr
    pk("rm", "web", "web2", "api-web")


def test_env_by_name_takes_the_clients_value_or_nothing(pk, tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("# the client's LEVEL, and a value of the file's own\nLEVEL\nA=1\n")
    client = {**pk.env, "LEVEL": "debug"}
    client.pop("ABSENT_HERE", None)
    from conftest import Pyker

    out = Pyker(client).out("run", "--rm", "--network", "none", "-e", "LEVEL", "-e",
                            "ABSENT_HERE", "--env-file", str(env_file), "busybox", "env")
    lines = out.splitlines()
    assert "LEVEL=debug" in lines and "A=1" in lines
    assert not any(line.startswith("ABSENT_HERE") for line in lines)
