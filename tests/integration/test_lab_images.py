"""The course's images (labs/images/), built from Debian packages by the script `make lab`
runs, each doing what the course asks of it. Built into this module's private store, so
the apt steps run once per session; a second run of the script is all cache."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from conftest import REPO, TESTS_NETNS

pytestmark = [pytest.mark.requires("root", "overlay", "iptables"), pytest.mark.slow]

FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2)" \
        ".read().decode(), end='')"


@pytest.fixture(scope="module")
def lab(with_debian):
    env = {**with_debian.env, "PYKER": f"{REPO}/.venv/bin/pyker"}
    if not os.access(env["PYKER"], os.X_OK):
        env["PYKER"] = f"{REPO}/bin/pyker"
    first = subprocess.run(["bash", "scripts/build-lab-images"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=1800)
    assert first.returncode == 0, first.stdout + first.stderr
    again = subprocess.run(["bash", "scripts/build-lab-images"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=600)
    lines = again.stdout.splitlines()
    assert all(line.endswith("cached") for line in lines[:-1]), again.stdout
    assert lines[-1].startswith(f"lab images: {len(lines) - 1} in")
    return with_debian


def fetch(url: str) -> str:
    for _ in range(100):
        proc = subprocess.run(["nsenter", f"--net=/run/netns/{TESTS_NETNS}", "python3", "-c",
                               FETCH, url], capture_output=True, text=True, timeout=30)
        if proc.returncode == 0:
            return proc.stdout
        time.sleep(0.2)
    raise AssertionError(f"{url}: {proc.stderr}")


def test_command_line_images(lab):
    assert "|" in lab.out("run", "--rm", "--network", "none", "figlet", "Docker")
    assert lab.out("run", "--rm", "--network", "none", "strace").startswith("strace -- version")
    assert "flask" in lab.out("run", "--rm", "--network", "none", "python-web")
    clock = lab.out("run", "-d", "--name", "clock-test", "--network", "none", "jpetazzo/clock")
    try:
        time.sleep(2.2)
        assert len(lab.out("logs", "clock-test").splitlines()) >= 2
    finally:
        lab("rm", "-f", clock.strip())
    stress = lab("run", "--rm", "--network", "none", "stress", "stress", "-c", "1", "-t", "1")
    assert b"successful run completed" in stress.stdout + stress.stderr


@pytest.mark.parametrize("image, port, expected", [
    ("nginx", 18601, "nginx dans un conteneur pyker"),
    ("php", 18602, "Bonjour depuis "),
    ("static-site", 18603, "Un site statique"),
])
def test_servers_answer_on_a_published_port(lab, image, port, expected):
    cid = lab.out("run", "-d", "-p", f"{port}:80", image).strip()
    try:
        assert expected in fetch(f"http://127.0.0.1:{port}/")
    finally:
        lab("rm", "-f", cid)


def test_mariadb_honours_the_official_variables(lab):
    cid = lab.out("run", "-d", "--name", "db-test", "-e", "MYSQL_ROOT_PASSWORD=secret",
                  "-e", "MYSQL_DATABASE=cours", "mysql").strip()
    try:
        for _ in range(150):
            proc = lab("exec", "db-test", "mariadb", "-uroot", "-psecret", "-e",
                       "SHOW DATABASES", check=False)
            if proc.returncode == 0:
                break
            time.sleep(0.2)
        assert "cours" in proc.stdout.decode(), proc.stderr
        mounts = json.loads(lab.out("inspect", "db-test"))[0]["Mounts"]
        assert [m["Destination"] for m in mounts] == ["/var/lib/mysql"]  # the image's VOLUME
    finally:
        lab("rm", "-f", "-v", cid)
    refused = lab("run", "--rm", "--network", "none", "mysql", check=False)
    assert refused.returncode == 1
    assert b"MYSQL_ROOT_PASSWORD" in refused.stderr + refused.stdout
