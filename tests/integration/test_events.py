"""``pyker events`` end to end (issue 9): the journal replays a run/stop/rm in Docker's order,
a live stream sees a container die with its exit code and an OOM kill, and networks, volumes
and images report theirs."""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Pyker, enter_tests_netns

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

# A PID 1 that ends on SIGTERM, as a service should (busybox sh ignores it otherwise).
SERVICE = ("sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container create "
                  r"[0-9a-f]{64} \(course=tp9, image=busybox, name=ev-web\)")


def _now() -> str:
    return f"{time.time():.9f}"


def _replay(pk: Pyker, since: str, *filters: str) -> list[dict]:
    args = [f for spec in filters for f in ("-f", spec)]
    out = pk.out("events", "--since", since, "--until", _now(), "--format", "{{json .}}", *args)
    return [json.loads(line) for line in out.splitlines()]


def _about(docs: list[dict], container_id: str) -> list[str]:
    """The container's own events and its networks' connect/disconnect, in journal order."""
    return [f"{d['Type']} {d['Action']}" for d in docs
            if d["Actor"]["ID"] == container_id
            or d["Actor"]["Attributes"].get("container") == container_id]


def test_run_stop_rm_is_replayed_in_dockers_order(pk):
    since = _now()
    cid = pk.out("run", "-d", "--name", "ev-web", "--label", "course=tp9", "busybox",
                 *SERVICE).strip()
    pk("stop", cid)
    pk("rm", cid)
    docs = _replay(pk, since)
    assert _about(docs, cid) == [
        "container create", "network connect", "container start", "container kill",
        "container die", "network disconnect", "container stop", "container destroy"]
    mine = {d["Action"]: d for d in docs if d["Actor"]["ID"] == cid}
    assert mine["kill"]["Actor"]["Attributes"] == {"signal": "15", "course": "tp9",
                                                   "image": "busybox", "name": "ev-web"}
    assert mine["die"]["Actor"]["Attributes"]["exitCode"] == "0"
    assert (mine["die"]["status"], mine["die"]["id"], mine["die"]["from"]) == (
        "die", cid, "busybox")
    connect = next(d for d in docs if d["Action"] == "connect")
    assert connect["Actor"]["Attributes"] == {"container": cid, "name": "bridge",
                                              "type": "bridge"}
    stamps = [d["timeNano"] for d in docs]
    assert stamps == sorted(stamps)
    lines = pk.out("events", "--since", since, "--until", _now(), "-f", "container=ev-web",
                   "-f", "event=create")
    assert LINE.fullmatch(lines.strip()), lines


def _as_in_a_terminal() -> None:
    """SIGINT as a shell in a terminal leaves it to a command: a test run started in the
    background (``nohup … &`` without job control) hands SIG_IGN down, and Python then
    installs no KeyboardInterrupt: the Ctrl-C below would be ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Stream:
    """``pyker events`` running in the background; its lines as they come."""

    def __init__(self, pk: Pyker, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pyker", "events", *args],
                                     stdout=subprocess.PIPE, env=pk.env,
                                     preexec_fn=_as_in_a_terminal)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line.decode())

    def until(self, wanted, timeout: float = 30) -> Iterator[dict]:
        """The events up to the first for which ``wanted`` is true."""
        deadline = time.monotonic() + timeout
        while True:
            doc = json.loads(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            yield doc
            if wanted(doc):
                return

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(10)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.reader.join(10)  # EOF once the process is gone
        self.proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture
def stream(pk):
    """A live stream of container die/oom events, once it is known to be following."""
    live = Stream(pk, "--format", "{{json .}}", "-f", "event=die", "-f", "event=oom",
                  "-f", "event=create", "-f", "type=container")
    try:
        for n in range(100):  # created until one shows: the stream then follows the journal
            pk("create", "--name", f"ev-sync-{n}", "busybox", "true")
            try:
                doc = json.loads(live.lines.get(timeout=0.5))
            except queue.Empty:
                continue
            assert doc["Action"] == "create"
            break
        yield live
    finally:
        live.close()


def test_a_live_stream_sees_die_with_the_exit_code_and_an_oom(pk, stream):
    assert pk("run", "--name", "ev-exit", "busybox", "sh", "-c", "exit 3",
              check=False).returncode == 3
    seen = list(stream.until(lambda d: d["Action"] == "die"))
    assert [(d["Action"], d["Actor"]["Attributes"]["name"]) for d in seen
            if d["Action"] != "create"] == [("die", "ev-exit")]
    assert seen[-1]["Actor"]["Attributes"]["exitCode"] == "3"
    # The README's OOM line: a shell that needs 30 MB in a 10 MB container.
    proc = pk("run", "--memory", "10m", "--name", "ev-oom", "busybox", "sh", "-c",
              'x=$(head -c 30000000 /dev/zero | tr "\\0" a)', check=False)
    assert proc.returncode == 137
    seen = [d for d in stream.until(lambda d: d["Action"] == "die") if d["Action"] != "create"]
    assert [d["Action"] for d in seen] == ["oom", "die"]
    assert {d["Actor"]["Attributes"]["name"] for d in seen} == {"ev-oom"}
    assert seen[-1]["Actor"]["Attributes"]["exitCode"] == "137"
    assert stream.interrupt() == 130  # Ctrl-C, as the Docker CLI exits on SIGINT


def test_networks_and_volumes_report_their_life(pk):
    since = _now()
    net_id = pk.out("network", "create", "ev-net").strip()
    pk("volume", "create", "ev-vol")
    cid = pk.out("run", "-d", "--network", "ev-net", "-v", "ev-vol:/data", "busybox",
                 *SERVICE).strip()
    pk("rm", "-f", cid)
    pk("network", "rm", "ev-net")
    pk("volume", "rm", "ev-vol")
    networks = _replay(pk, since, "type=network", "network=ev-net")
    assert [(d["Action"], d["Actor"]["ID"]) for d in networks] == [
        ("create", net_id), ("connect", net_id), ("disconnect", net_id), ("destroy", net_id)]
    assert networks[1]["Actor"]["Attributes"] == {"container": cid, "name": "ev-net",
                                                  "type": "bridge"}
    volumes = _replay(pk, since, "volume=ev-vol")
    # Docker's create is idempotent and reports each use too: the container's mount.
    assert [d["Action"] for d in volumes] == ["create", "create", "destroy"]
    assert volumes[0]["Actor"] == {"ID": "ev-vol", "Attributes": {"driver": "local"}}
    rm_f = [d["Action"] for d in _replay(pk, since, f"container={cid}")]
    assert rm_f == ["create", "start", "kill", "die", "destroy"]  # rm -f: SIGKILL, no stop


def test_images_report_tag_untag_build_and_delete(pk, tmp_path):
    since = _now()
    image_id = pk.out("image", "inspect", "-f", "{{.Id}}", "busybox").strip()
    pk("tag", "busybox", "ev-tag:1")
    pk("rmi", "ev-tag:1")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL lesson=events\n")
    pk("build", "-q", "-t", "ev-built", str(tmp_path))
    built = pk.out("image", "inspect", "-f", "{{.Id}}", "ev-built").strip()
    pk("rmi", "ev-built")
    docs = _replay(pk, since, "type=image")
    assert [(d["Action"], d["Actor"]["ID"], d["Actor"]["Attributes"].get("name"))
            for d in docs] == [
        ("tag", image_id, "ev-tag:1"), ("untag", image_id, image_id),
        ("tag", built, "ev-built:latest"), ("build", built, "ev-built:latest"),
        ("untag", built, built), ("delete", built, built)]
    assert docs[-1]["Actor"]["Attributes"]["lesson"] == "events"  # the image's labels


@pytest.mark.skipif(shutil.which("docker-registry") is None,
                    reason="docker-registry not installed (Debian package docker-registry)")
def test_push_and_pull_report_the_reference(pk, tmp_path: Path):
    from pyker.registry import server

    registry = server.start(tmp_path / "registry", preexec_fn=enter_tests_netns)
    try:
        ref = f"{registry.host}/ev/bb:1"
        since = _now()
        pk("tag", "busybox", ref)
        pk("push", ref)
        pk("rmi", ref)
        pk("pull", ref)
        pk("rmi", ref)
    finally:
        registry.stop()
    actions = [(d["Action"], d["Actor"]["ID"]) for d in _replay(pk, since, "type=image")
               if d["Action"] in ("push", "pull")]
    assert actions == [("push", ref), ("pull", ref)]
