"""Logging drivers on real containers: json-file rotation, local, none, daemon.json's
default, journald (the host's when it has one, and a private journald started by the test in
a mount namespace of its own) and compose's ``logging:`` key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

COUNT = "i=1; while [ $i -le {n} ]; do echo \"line $i\"; i=$((i+1)); {pause} done"


def count(n: int, pause: str = "") -> str:
    return COUNT.format(n=n, pause=pause + ";" if pause else "")


def container_dir(pk, name: str) -> Path:
    return Path(pk.env["PYKER_DATA_ROOT"]) / "containers" / pk.out(
        "inspect", "-f", "{{.Id}}", name).strip()


def numbers(text: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines()]


def test_json_file_rotation_keeps_max_file_files_of_max_size_and_logs_the_tail(pk) -> None:
    """The issue's acceptance: 2000 numbered lines with max-size=10k, max-file=3."""
    pk("run", "--name", "rot", "--network", "none", "--log-opt", "max-size=10k",
       "--log-opt", "max-file=3", "busybox", "sh", "-c", count(2000))
    directory = container_dir(pk, "rot")
    logs = sorted(p for p in directory.iterdir() if "-json.log" in p.name)
    assert [p.name.removeprefix(directory.name) for p in logs] == [
        "-json.log", "-json.log.1", "-json.log.2"]
    for path in logs:
        records = path.read_bytes().splitlines(keepends=True)
        # Docker's rule: a file is rotated before an entry once it has reached max-size
        # (10k = 10000 bytes, decimal), so it passes it by at most its last entry.
        assert path.stat().st_size - len(records[-1]) < 10_000
    assert all(path.stat().st_size >= 10_000 for path in logs[1:])
    tail = pk("logs", "--tail", "5", "rot")
    assert numbers(tail.stdout.decode()) == [1996, 1997, 1998, 1999, 2000]
    whole = numbers(pk.out("logs", "rot"))
    assert whole == list(range(whole[0], 2001)) and 300 < len(whole) < 500
    doc = json.loads(pk.out("inspect", "rot"))[0]
    assert doc["HostConfig"]["LogConfig"] == {"Type": "json-file",
                                              "Config": {"max-size": "10k", "max-file": "3"}}
    assert doc["LogPath"] == str(directory / f"{directory.name}-json.log")


def test_logs_follow_goes_on_across_rotations(pk) -> None:
    pk("run", "-d", "--name", "follow", "--network", "none", "--log-opt", "max-size=1k",
       "--log-opt", "max-file=3", "--log-opt", "compress=true", "busybox", "sh", "-c",
       count(300, "usleep 3000"))
    followed = numbers(pk.out("logs", "-f", "follow"))
    # From the oldest line still kept when `logs` began, every line once, to the last.
    assert followed == list(range(followed[0], 301))
    rotated = [p.name for p in container_dir(pk, "follow").iterdir() if ".gz" in p.name]
    assert len(rotated) == 2


def test_local_driver_keeps_and_rotates_what_logs_reads(pk) -> None:
    pk("run", "--name", "loc", "--network", "none", "--log-driver", "local",
       "--log-opt", "max-size=5k", "busybox", "sh", "-c",
       count(1000) + "; echo oops >&2; printf 'no newline'")
    files = sorted(p.name for p in (container_dir(pk, "loc") / "local-logs").iterdir())
    assert files == ["container.log", "container.log.1.gz", "container.log.2.gz",
                     "container.log.3.gz", "container.log.4.gz"]  # Docker's max-file 5
    tail = pk("logs", "--tail", "3", "loc")
    assert tail.stdout.decode() == "line 1000\nno newline"  # the third is stderr's
    assert tail.stderr.decode() == "oops\n"
    doc = json.loads(pk.out("inspect", "loc"))[0]
    assert doc["HostConfig"]["LogConfig"] == {"Type": "local", "Config": {"max-size": "5k"}}
    assert doc["LogPath"] == ""


def test_none_keeps_nothing_and_logs_says_so(pk) -> None:
    run = pk("run", "--name", "quiet", "--network", "none", "--log-driver", "none", "busybox",
             "echo", "shown on the terminal only")
    assert run.stdout == b"shown on the terminal only\n"
    assert not [p for p in container_dir(pk, "quiet").iterdir() if "log" in p.name]
    logs = pk("logs", "quiet", check=False)
    assert (logs.returncode, logs.stdout) == (1, b"")
    assert logs.stderr == (b"Error response from daemon: configured logging driver does not "
                           b"support reading\n")


@pytest.mark.parametrize(("flags", "message"), [
    (["--log-driver", "x"], "logger: no log driver named 'x' is registered"),
    (["--log-opt", "x=1"], "unknown log opt 'x' for json-file log driver"),
    (["--log-driver", "local", "--log-opt", "max-size=-1"],
     "invalid value for max-size: -1: invalid size: '-1'"),
    (["--log-opt", "max-size=1m", "--log-opt", "max-file=0"], "max-file cannot be less than 1"),
])
def test_unknown_driver_or_option_fails_at_create_before_anything_exists(pk, flags,
                                                                       message) -> None:
    before = pk.out("ps", "-aq")
    created = pk("create", *flags, "busybox", check=False)
    assert created.returncode == 125
    assert created.stderr.decode() == f"pyker: Error response from daemon: {message}\n"
    assert pk.out("ps", "-aq") == before


def test_daemon_json_sets_the_default_driver_and_options(pk) -> None:
    config = Path(pk.env["PYKER_DAEMON_CONFIG"])
    config.write_text(json.dumps({"log-driver": "local", "log-opts": {"max-size": "2k",
                                                                      "max-file": "2"}}))
    try:
        pk("run", "--name", "dflt", "--network", "none", "busybox", "sh", "-c", count(200))
        pk("run", "--name", "mine", "--network", "none", "--log-opt", "max-file=3",
           "busybox", "true")
        pk("run", "--name", "other", "--network", "none", "--log-driver", "json-file",
           "busybox", "true")
    finally:
        config.unlink()
    configs = {name: json.loads(pk.out("inspect", "-f", "{{json .HostConfig.LogConfig}}",
                                       name)) for name in ("dflt", "mine", "other")}
    assert configs == {
        "dflt": {"Type": "local", "Config": {"max-size": "2k", "max-file": "2"}},
        "mine": {"Type": "local", "Config": {"max-size": "2k", "max-file": "3"}},
        "other": {"Type": "json-file", "Config": {}}}
    assert numbers(pk.out("logs", "--tail", "2", "dflt")) == [199, 200]
    local = sorted(p.name for p in (container_dir(pk, "dflt") / "local-logs").iterdir())
    assert local == ["container.log", "container.log.1.gz"]


@pytest.mark.skipif(not Path("/run/systemd/journal/socket").exists()
                    or not shutil.which("journalctl"),
                    reason="the host has no journald (no /run/systemd/journal/socket) or no "
                           "journalctl; test_journald_private_journal covers the driver")
def test_journald_on_the_host(pk) -> None:
    pk("run", "--name", "jhost", "--network", "none", "--log-driver", "journald", "busybox",
       "sh", "-c", "echo to the journal; echo err >&2")
    cid = pk.out("inspect", "-f", "{{.Id}}", "jhost").strip()
    found = subprocess.run(["journalctl", "--no-pager", "-o", "json",
                            f"CONTAINER_ID_FULL={cid}"], capture_output=True, text=True)
    docs = [json.loads(line) for line in found.stdout.splitlines()]
    assert {(d["MESSAGE"], d["PRIORITY"], d["CONTAINER_NAME"]) for d in docs} == {
        ("to the journal", "6", "jhost"), ("err", "3", "jhost")}
    assert pk.out("logs", "jhost") == "to the journal\n"


JOURNALD_CONF = """\
[Journal]
Storage=volatile
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
Audit=no
"""

# In a mount namespace of its own: /run is a fresh tmpfs (the host's journal socket, if
# any, is not reached, and nothing is left in the host's /run), journald runs on it with a
# volatile journal, pyker writes to it and reads it back.
PRIVATE_JOURNAL = """\
set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal
mount --bind "$WORK/journald.conf" /etc/systemd/journald.conf
/lib/systemd/systemd-journald > "$WORK/journald.out" 2>&1 &
JOURNALD=$!
trap 'kill $JOURNALD; wait $JOURNALD || true' EXIT
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
"$PY" -m pyker run --name jpriv --network none --log-driver journald \
    --log-opt labels=team --label team=blue busybox sh -c \
    'echo first; echo second; echo oops >&2; printf partial'
"$PY" -m pyker logs jpriv > "$WORK/logs.out" 2> "$WORK/logs.err"
"$PY" -m pyker logs --tail 1 jpriv > "$WORK/tail.out" 2>&1
CID=$("$PY" -m pyker inspect -f '{{.Id}}' jpriv)
journalctl --no-pager -o json "CONTAINER_ID_FULL=$CID" > "$WORK/journal.json"
"$PY" -m pyker rm jpriv > /dev/null
"""


@pytest.mark.skipif(not Path("/lib/systemd/systemd-journald").exists()
                    or not shutil.which("journalctl") or not shutil.which("unshare"),
                    reason="needs systemd-journald, journalctl and unshare (Debian packages "
                           "systemd and util-linux)")
def test_journald_private_journal(pk, tmp_path: Path) -> None:
    (tmp_path / "journald.conf").write_text(JOURNALD_CONF)
    env = {**pk.env, "WORK": str(tmp_path), "PY": sys.executable, "PYTHONPATH": str(REPO)}
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           PRIVATE_JOURNAL], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode() + (tmp_path / "journald.out").read_text()
    docs = [json.loads(line) for line in (tmp_path / "journal.json").read_text().splitlines()]
    cid = docs[0]["CONTAINER_ID_FULL"]
    assert [(d["MESSAGE"], d["PRIORITY"]) for d in docs] == [
        ("first", "6"), ("second", "6"), ("oops", "3"), ("partial", "6")]
    assert all(d["CONTAINER_ID"] == cid[:12] and d["CONTAINER_NAME"] == "jpriv"
               and d["SYSLOG_IDENTIFIER"] == cid[:12] and d["IMAGE_NAME"] == "busybox"
               and d["TEAM"] == "blue" for d in docs)
    assert docs[-1]["CONTAINER_PARTIAL_MESSAGE"] == "true"
    assert (tmp_path / "logs.out").read_text() == "first\nsecond\npartial"
    assert (tmp_path / "logs.err").read_text() == "oops\n"
    assert (tmp_path / "tail.out").read_text() == "partial"


def test_journald_without_a_journal_fails_at_create(pk) -> None:
    if Path("/run/systemd/journal/socket").exists():
        pytest.skip("the host has journald")
    created = pk("create", "--log-driver", "journald", "busybox", check=False)
    assert created.returncode == 125
    assert created.stderr.decode() == (
        "pyker: Error response from daemon: failed to initialize logging driver: journald is "
        "not enabled on this host (no socket /run/systemd/journal/socket)\n")


COMPOSE = textwrap.dedent("""\
    services:
      kept:
        image: busybox
        network_mode: none
        command: ["sh", "-c", 'COUNT']
        logging:
          driver: local
          options:
            max-size: 2k
            max-file: 2
      dropped:
        image: busybox
        network_mode: none
        command: ["echo", "nobody reads this"]
        logging:
          driver: none
    """).replace("COUNT", count(300).replace("$", "$$"))  # compose interpolates $


def test_compose_logging_key(pk, tmp_path: Path) -> None:
    file = tmp_path / "compose.yaml"
    file.write_text(COMPOSE)
    compose = ["compose", "-f", str(file), "-p", "logdrv"]
    pk(*compose, "up", "-d")
    try:
        for _ in range(100):
            states = pk.out("ps", "-a", "--filter", "label=com.docker.compose.project=logdrv",
                            "--format", "{{.State}}").split()
            if states and all(s == "exited" for s in states):
                break
            time.sleep(0.1)
        kept = json.loads(pk.out("inspect", "logdrv-kept-1"))[0]["HostConfig"]["LogConfig"]
        assert kept == {"Type": "local", "Config": {"max-size": "2k", "max-file": "2"}}
        logs = pk(*compose, "logs", "--no-color", "--tail", "2")
        lines = [line.split(" | ", 1) for line in logs.stdout.decode().splitlines()]
        assert [(name.strip(), text) for name, text in lines] == [
            ("logdrv-kept-1", "line 299"), ("logdrv-kept-1", "line 300")]
        assert ("WARNING: logdrv-dropped-1: no logs are available with the 'none' log driver"
                in logs.stderr.decode())
    finally:
        pk(*compose, "down")
