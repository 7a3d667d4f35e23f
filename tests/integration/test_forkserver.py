"""The fork server: commands handed to it behave as when ``pyker`` runs them itself.

Each test module gets a server of its own (private run root and data root); the ``pyker``
program is what the tests run, as a user would, in both its forms: the Python client
(bin/pyker, through pyker.cli.client) and the C one (pyker/cli/client.c, built here with the
host's compiler for this interpreter).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, enter_tests_netns

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

CLIENT: list[str] = []  # the client of the current parameter (fixture `client`)


@pytest.fixture(scope="module", params=["python", "c"])
def client(request, tmp_path_factory) -> list[str]:
    if request.param == "python":
        CLIENT[:] = [sys.executable, str(REPO / "bin" / "pyker")]
    else:
        cc = shutil.which(os.environ.get("CC", "cc"))
        if cc is None:
            pytest.skip("the C client needs a C compiler: apt-get install -y gcc libc6-dev")
        binary = tmp_path_factory.mktemp("client") / "pyker"
        subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror",
                        f'-DPYKER_PYTHON="{sys.executable}"', "-o", str(binary),
                        str(REPO / "pyker" / "cli" / "client.c")], check=True)
        CLIENT[:] = [str(binary)]
    return CLIENT


@pytest.fixture(scope="module")
def env(pk, client) -> dict[str, str]:
    run_root = Path(pk.env["PYKER_DATA_ROOT"]).parent / "fs-run"
    env = {**pk.env, "PYKER_RUN_ROOT": str(run_root)}
    subprocess.run([*CLIENT, "system", "forkserver", "start"], env=env, check=True,
                   capture_output=True, preexec_fn=enter_tests_netns)
    yield env
    subprocess.run([*CLIENT, "system", "forkserver", "stop"], env=env, check=True,
                   capture_output=True)
    assert not (run_root / "forkserver.sock").exists()


def server_pid(env: dict[str, str]) -> int:
    return int((Path(env["PYKER_RUN_ROOT"]) / "forkserver.pid").read_text())


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _outputs(server: int) -> dict[int, str]:
    """The server's live children and their stdout; one that is exiting (its descriptors
    already closed, not reaped yet) is left out."""
    found = {}
    for child in children(server):
        try:
            found[child] = os.readlink(f"/proc/{child}/fd/1")
        except FileNotFoundError:
            pass
    return found


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return ""


def spares(server: int) -> list[int]:
    """The server's children still waiting for a command: their stdout is the server's
    own (its log), where a command's is its client's."""
    log = os.readlink(f"/proc/{server}/fd/1")
    return [c for c, out in _outputs(server).items()
            if out == log and _name(c) != "pyker-assistant"]


def assistants(server: int) -> list[int]:
    """The server's children that assist a spare, or its command (pyker.cli.assistant)."""
    return [c for c in _outputs(server) if _name(c) == "pyker-assistant"]


def commands(server: int) -> list[int]:
    log = os.readlink(f"/proc/{server}/fd/1")
    return [c for c, out in _outputs(server).items() if out != log]


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def run(env, *args: str, **kw) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLIENT, *args], env=env, capture_output=True, timeout=60,
                          preexec_fn=enter_tests_netns, **kw)


def popen(env, *args: str, **kw) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*CLIENT, *args], env=env, preexec_fn=enter_tests_netns, **kw)


def test_status_names_the_running_server(env):
    proc = run(env, "system", "forkserver", "status")
    assert proc.returncode == 0
    assert f"pid {server_pid(env)}" in proc.stdout.decode()


def test_output_and_exit_status_come_back(env):
    assert run(env, "run", "--rm", "busybox", "echo", "hello").stdout == b"hello\n"
    assert run(env, "run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3


def test_arguments_and_environment_travel_as_bytes(env):
    """Neither UTF-8 nor text: what the kernel gave the client is what the container gets."""
    odd = {**env, "ODD": "caf\udce9"}  # the byte 0xe9 alone, as os.environ decodes it
    proc = run(odd, "run", "--rm", "-e", "ODD", "busybox", "sh", "-c",
               'printf "%s|%s" "$1" "$ODD"', "sh", "\udcff=x")
    assert proc.stdout == b"\xff=x|caf\xe9", proc.stderr


def test_a_request_over_the_servers_limit_runs_in_the_client(env):
    # Over 1 MiB in all, in entries under the kernel's 128 KiB a string (MAX_ARG_STRLEN).
    big = {**env, **{f"BIG{i}": "x" * 100_000 for i in range(11)}}
    proc = run(big, "run", "--rm", "busybox", "echo", "here")
    assert proc.stdout == b"here\n", proc.stderr
    assert server_pid(env)  # the server is still the same one, still answering
    assert run(env, "system", "forkserver", "status").returncode == 0


def test_the_command_reads_the_clients_stdin(env):
    proc = run(env, "run", "-i", "--rm", "busybox", "cat", input=b"hi there\n")
    assert proc.stdout == b"hi there\n"


def test_errors_keep_their_line_and_exit_code(env):
    proc = run(env, "run", "--rm", "no-such-image:1")
    assert proc.returncode == 125
    assert proc.stderr.decode().startswith("pyker: ")
    assert "no-such-image" in proc.stderr.decode()


def test_the_command_runs_in_the_clients_directory_with_its_environment(env, tmp_path):
    proc = run(env, "save", "-o", "busybox.tar", "busybox", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "busybox.tar").stat().st_size > 1_000_000
    # A data root of its own (env) shows an empty store: the environment travelled.
    other = {**env, "PYKER_DATA_ROOT": str(tmp_path / "empty-store")}
    assert run(other, "images", "-q").stdout == b""


def test_the_command_is_the_servers_child_not_the_clients(env):
    client = popen(env, "run", "--rm", "busybox", "sleep", "2", stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not commands(server_pid(env)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert commands(server_pid(env)), "no command running under the server"
        assert children(client.pid) == []
    finally:
        assert client.wait(timeout=30) == 0


def _unix_socket_paths(pid: int) -> list[str]:
    """The bound path of each unix socket ``pid`` holds ("" for an unnamed one)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    paths = {}
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:  # its netns
        fields = line.split()
        paths[fields[6]] = fields[7] if len(fields) > 7 else ""
    return sorted(paths.get(inode, "?") for inode in inodes)


def test_the_commands_report_socket_stays_out_of_the_monitor(env):
    """The command tells its client its end on a copy of the client's socket; the monitor it
    forks for a detached container keeps only its own attach socket."""
    assert run(env, "run", "-d", "--name", "fdcheck", "busybox", "sleep", "60").returncode == 0
    try:
        init = int(run(env, "inspect", "-f", "{{.State.Pid}}", "fdcheck").stdout)
        monitor = int(Path(f"/proc/{init}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert [p.rsplit("/", 1)[-1] for p in _unix_socket_paths(monitor)] == ["attach.sock"]
    finally:
        run(env, "rm", "-f", "fdcheck")


def test_a_signal_to_the_client_reaches_the_container(env):
    script = "trap 'exit 7' TERM; echo ready; sleep 30 & wait"
    with popen(env, "run", "--rm", "busybox", "sh", "-c", script, stdout=subprocess.PIPE,
               stderr=subprocess.DEVNULL) as client:
        assert client.stdout.readline() == b"ready\n"
        client.send_signal(signal.SIGTERM)
        assert client.wait(timeout=30) == 7


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.02)
    return not os.path.exists(f"/proc/{pid}")


def test_a_killed_client_takes_its_command_along(env):
    assert run(env, "run", "-d", "--name", "waited", "busybox", "sleep", "60").returncode == 0
    try:
        with popen(env, "wait", "waited", stdout=subprocess.PIPE) as client:
            deadline = time.monotonic() + 10
            while not commands(server_pid(env)) and time.monotonic() < deadline:
                time.sleep(0.02)
            command = commands(server_pid(env))
            assert len(command) == 1
            client.kill()
            client.wait()
        assert _wait_gone(command[0])
    finally:
        run(env, "rm", "-f", "waited")


def test_a_foreground_runs_command_is_its_monitor_and_outlives_a_killed_client(env):
    """A foreground run without a tty: the command's process monitors the container (no
    monitor forked), so a killed client leaves it running the container to its end, as
    a killed `pyker run` leaves its monitor; --rm then removes the container."""
    with popen(env, "run", "--rm", "-i", "--name", "orphaned", "busybox", "sh", "-c",
               "echo ready; read line", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
               stderr=subprocess.DEVNULL) as client:
        assert client.stdout.readline() == b"ready\n"
        [command] = commands(server_pid(env))
        init = int(run(env, "inspect", "-f", "{{.State.Pid}}", "orphaned").stdout)
        assert int(Path(f"/proc/{init}/stat").read_text().rsplit(")", 1)[1].split()[1]) \
            == command  # the container's parent: the command itself
        assert sorted(os.listdir(f"/proc/{init}/fd")) == ["0", "1", "2"]
        client.kill()
        client.wait()
        time.sleep(0.2)
        assert os.path.exists(f"/proc/{command}") and os.path.exists(f"/proc/{init}")
        client.stdin.close()  # the container's `read` ends: it exits, and is removed
    assert _wait_gone(init) and _wait_gone(command)
    assert b"orphaned" not in run(env, "ps", "-a").stdout


def test_a_closed_stdout_ends_a_foreground_run_as_sigpipe_would(env):
    with popen(env, "run", "--rm", "--name", "piped", "busybox", "sh", "-c",
               "echo first; sleep 1; while echo more; do :; done",
               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as client:
        assert client.stdout.readline() == b"first\n"
        client.stdout.close()  # as `| head -n 1` does
        assert client.wait(timeout=30) == 128 + signal.SIGPIPE
    # Docker's CLI dies; the container goes on, its output unread: stop it.
    assert run(env, "rm", "-f", "piped").returncode == 0


def _settled(server: int) -> None:
    """Until the server's children are one spare and its assistant (the last command and
    its assistant reaped)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if len(children(server)) == 2 and len(spares(server)) == len(assistants(server)) == 1:
            return
        time.sleep(0.02)
    raise AssertionError(f"server's children: {children(server)}")


def test_one_spare_waits_holding_nothing_of_the_server(env):
    """The next command's process is forked ahead; it keeps only stdin/stdout/stderr (the
    server's /dev/null and log), its socket to the server and one to its assistant: no
    listener, no client's socket, no pidfd or inotify descriptor of the server."""
    server = server_pid(env)
    assert run(env, "version").returncode == 0
    _settled(server)
    [spare] = spares(server)
    _holds_stdio_and_sockets(spare, 2)


def _holds_stdio_and_sockets(pid: int, sockets: int) -> None:
    fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    assert fds[:3] == [0, 1, 2] and len(fds) == 3 + sockets
    assert all(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:") for fd in fds[3:])
    assert os.getsid(pid) == pid  # a session of its own, as a command has


def test_each_spare_has_an_assistant_holding_only_its_socket(env):
    """Forked by the server beside the spare (pyker.cli.assistant): the server's child, in
    a session of its own, with stdin/stdout/stderr and its socket to the spare alone."""
    server = server_pid(env)
    assert run(env, "version").returncode == 0
    _settled(server)
    [helper] = assistants(server)
    _holds_stdio_and_sockets(helper, 1)


def test_an_idle_assistant_already_watches_for_its_command(env):
    """Once it has copied its memory, the assistant starts the thread that ends it with its
    command (off the first call's path): two tasks while it waits."""
    server = server_pid(env)
    assert run(env, "version").returncode == 0
    _settled(server)
    [helper] = assistants(server)
    deadline = time.monotonic() + 30  # its copy runs at SCHED_IDLE: a busy machine delays it
    while len(tasks := os.listdir(f"/proc/{helper}/task")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(tasks) == 2, tasks


def test_a_bridge_run_is_served_and_its_assistant_reaped(env):
    """A run on a network hands its set-up, then its release, to the spare's assistant:
    the container has its address, then nothing of its network is left (no veth on the
    bridge, no pinned namespace, no endpoint), and the assistant, exited with its command,
    is reaped by the server (no zombie)."""
    server = server_pid(env)
    _settled(server)
    [helper] = assistants(server)
    proc = run(env, "run", "--rm", "--network", "bridge", "busybox", "ip", "-4", "-o",
               "addr", "show", "eth0")
    assert proc.returncode == 0, proc.stderr
    assert b"inet 172." in proc.stdout or b"inet 10." in proc.stdout, proc.stdout
    ports = subprocess.run(["ip", "-o", "link", "show", "master", "pyker0"],
                           capture_output=True, preexec_fn=enter_tests_netns)
    assert ports.stdout == b""
    assert not list((Path(env["PYKER_RUN_ROOT"]) / "netns").glob("*"))
    inspect = run(env, "network", "inspect", "-f", "{{len .Containers}}", "bridge")
    assert inspect.stdout == b"0\n"
    _settled(server)
    assert helper not in assistants(server) and not os.path.exists(f"/proc/{helper}")
    assert all(_state(child) != "Z" for child in children(server))


def test_a_network_error_comes_back_from_the_assistant_as_one_line(env):
    """An address taken is found by the set-up itself (in the assistant): its error is
    the command's, with its line and exit code, and nothing of the failed start is left."""
    assert run(env, "network", "create", "--subnet", "10.251.77.0/24", "fsnet").returncode == 0
    try:
        first = run(env, "run", "-d", "--name", "fs-first", "--network", "fsnet", "--ip",
                    "10.251.77.9", "busybox", "sleep", "60")
        assert first.returncode == 0, first.stderr
        proc = run(env, "run", "--rm", "--network", "fsnet", "--ip", "10.251.77.9",
                   "busybox", "true")
        assert proc.returncode == 125
        assert proc.stderr.decode() == "pyker: Address already in use: 10.251.77.9\n"
        inspect = run(env, "network", "inspect", "-f", "{{len .Containers}}", "fsnet")
        assert inspect.stdout == b"1\n"
    finally:
        run(env, "rm", "-f", "fs-first")
        run(env, "network", "rm", "fsnet")


def _private_dirty_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Private_Dirty:"):
            return int(line.split()[1])
    return 0


@pytest.mark.skipif(tuple(int(x) for x in os.uname().release.split(".")[:2]) < (5, 14),
                    reason="MADV_POPULATE_WRITE needs Linux 5.14")
def test_an_idle_spare_copies_its_memory_before_the_command_comes(env):
    """With nothing running, the spare takes its copy-on-write faults ahead (its private
    dirty memory grows to most of the server's), so the next command meets none."""
    server = server_pid(env)
    assert run(env, "version").returncode == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting = spares(server)
        if len(waiting) == 1 and _private_dirty_kb(waiting[0]) > 10_000:
            break
        time.sleep(0.05)
    [spare] = spares(server)
    assert _private_dirty_kb(spare) > 10_000


@pytest.mark.skipif(not Path("/proc/self/sched").exists(), reason="no /proc/PID/sched "
                    "(CONFIG_SCHED_DEBUG) to read a policy from")
def test_commands_handed_over_mid_copy_run_at_the_normal_policy(env):
    """A spare (and its assistant) copy their memory at SCHED_IDLE; the command, and so
    its container, runs at the normal policy (0), even handed over during that copy."""
    for _ in range(5):  # each right after the last: its spare copies as it is handed one
        proc = run(env, "run", "--rm", "--network", "bridge", "busybox", "grep", "policy",
                   "/proc/self/sched")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split()[-1] == b"0", proc.stdout


def test_a_spare_killed_while_waiting_is_replaced(env):
    server = server_pid(env)
    _settled(server)  # the last command's spare and assistant forked (and named)
    [spare], [helper] = spares(server), assistants(server)
    os.kill(spare, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while {spare, helper} & set(children(server)) and time.monotonic() < deadline:
        time.sleep(0.02)
    _settled(server)  # a fresh pair; the assistant, at its socket's end, exited
    [fresh] = spares(server)
    assert fresh != spare
    for pid in (spare, helper):
        assert not os.path.exists(f"/proc/{pid}")  # reaped by the server, not zombies
    assert run(env, "run", "--rm", "busybox", "echo", "served").stdout == b"served\n"


def test_without_a_server_the_client_runs_the_command_itself(env, tmp_path):
    alone = {**env, "PYKER_RUN_ROOT": str(tmp_path / "no-server")}
    assert run(alone, "run", "--rm", "busybox", "echo", "direct").stdout == b"direct\n"
    off = {**env, "PYKER_FORKSERVER": "off"}
    assert run(off, "run", "--rm", "busybox", "echo", "off").stdout == b"off\n"
