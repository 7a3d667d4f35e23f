"""The course's compose example, on images built here: a Flask hit counter and Redis.

labs/13-compose/compose.yaml builds both images FROM debian:bookworm with apt (Debian's
registry is the only one reachable), publishes the web service, and counts visits in Redis,
reached by its service name. ``up -d`` then two requests must count 1 and 2; ``down -v``
must leave no container, network or volume of the project.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import REPO, TESTS_NETNS

pytestmark = [pytest.mark.requires("root", "overlay", "iptables"), pytest.mark.slow]


FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3)" \
        ".read().decode(), end='')"


def visits(port: int) -> int:
    for _ in range(100):
        proc = subprocess.run(["nsenter", f"--net=/run/netns/{TESTS_NETNS}", sys.executable,
                               "-c", FETCH, f"http://127.0.0.1:{port}/"],
                              capture_output=True, text=True, timeout=30)
        found = re.search(r"<b>Visits:</b> (\d+)", proc.stdout)
        if found:
            return int(found.group(1))
        time.sleep(0.2)  # Flask and Redis still starting
    raise AssertionError(f"no counter in {proc.stdout!r} {proc.stderr!r}")


def test_web_and_redis_count_hits_and_down_cleans_up(with_debian, tmp_path):
    lab = tmp_path / "labs"
    shutil.copytree(REPO / "labs" / "13-compose", lab / "13-compose")
    shutil.copytree(REPO / "labs" / "images" / "redis", lab / "images" / "redis")
    file = lab / "13-compose" / "compose.yaml"
    pk = with_debian
    # The builds' RUN apt-get reaches Debian's mirror through the host's network; the
    # containers themselves run in the tests' namespace.
    pk.host_network = True
    try:
        pk("compose", "-f", str(file), "build", timeout=900)
    finally:
        pk.host_network = False
    env_port = {"WEB_PORT": "18500"}
    pk.env.update(env_port)
    try:
        pk("compose", "-f", str(file), "-p", "hits", "up", "-d")
        assert visits(18500) == 1
        assert visits(18500) == 2
        logs = pk.out("compose", "-f", str(file), "-p", "hits", "logs", "web")
        assert 'GET / HTTP/1.1" 200' in logs
    finally:
        pk("compose", "-f", str(file), "-p", "hits", "down", "-v")
        for key in env_port:
            pk.env.pop(key)
    left = pk.out("ps", "-a", "--filter", "label=com.docker.compose.project=hits", "-q")
    assert left == ""
    assert "hits_default" not in pk.out("network", "ls", "--format", "{{.Name}}")
    assert not [v for v in pk.out("volume", "ls", "-q").split() if v.startswith("hits_")]
