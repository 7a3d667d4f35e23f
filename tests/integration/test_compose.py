"""``pyker compose`` on busybox services: convergence, naming, DNS, dependencies, cleanup.

Everything runs in the session's network namespace (tests/conftest.py): the projects'
bridges, veths and rules are that namespace's, and the only traffic is between it and the
containers' namespaces.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import TESTS_NETNS

pytestmark = pytest.mark.requires("root", "overlay", "busybox", "iptables")

SERVE = "mkdir -p /www && echo \"$$MESSAGE\" > /www/index.html && exec httpd -f -p 80 -h /www"

TWO_SERVICES = textwrap.dedent("""\
    services:
      web:
        image: busybox
        init: true
        command: ["sh", "-c", 'SERVE']
        environment:
          MESSAGE: ${MESSAGE:-hello from web}
        ports:
          - "PORT:80"
        depends_on: [db]
      db:
        image: busybox
        stop_grace_period: 1s
        command: ["sh", "-c", 'SERVE']
        environment:
          MESSAGE: hello from db
        volumes:
          - data:/data
    volumes:
      data: {}
    """).replace("SERVE", SERVE)


def two_services(port: int | None) -> str:
    """The file with web published on ``port`` (None: a random host port)."""
    return TWO_SERVICES.replace('"PORT:80"', f'"{port}:80"' if port else '"80"')


def write(tmp_path: Path, text: str, name: str = "compose.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def compose(pk, file: Path, project: str, *args: str, check: bool = True):
    return pk("compose", "-f", str(file), "-p", project, *args, check=check)


def ids(pk, project: str) -> dict[str, str]:
    out = pk.out("ps", "-a", "--filter", f"label=com.docker.compose.project={project}",
                 "--format", "{{.Names}} {{.ID}}")
    return dict(line.split() for line in out.splitlines())


def in_netns(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net=/run/netns/{TESTS_NETNS}", *argv],
                          capture_output=True, text=True, timeout=30)


FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2)" \
        ".read().decode(), end='')"


def wget(url: str, attempts: int = 50) -> str:
    """``url``'s body, fetched from the tests' namespace (the containers' host)."""
    for _ in range(attempts):
        proc = in_netns(sys.executable, "-c", FETCH, url)
        if proc.returncode == 0:
            return proc.stdout
        time.sleep(0.1)
    raise AssertionError(f"{url}: {proc.stderr}")


def test_up_names_resources_resolves_services_and_down_removes_everything(pk, tmp_path):
    file = write(tmp_path, two_services(18080))
    up = compose(pk, file, "demo", "up", "-d")
    err = up.stderr.decode()
    assert "Network demo_default  Created" in err
    assert "Container demo-db-1  Started" in err and "Container demo-web-1  Started" in err
    assert err.index("demo-db-1  Started") < err.index("demo-web-1  Started")  # depends_on
    assert set(ids(pk, "demo")) == {"demo-web-1", "demo-db-1"}
    net = json.loads(pk.out("network", "inspect", "demo_default"))[0]
    assert net["Labels"]["com.docker.compose.project"] == "demo"
    assert {c["Name"] for c in net["Containers"].values()} == {"demo-web-1", "demo-db-1"}
    assert "demo_data" in pk.out("volume", "ls", "-q").split()
    # The service's name is a DNS alias on the project network; the port is published.
    assert compose(pk, file, "demo", "exec", "-T", "web", "wget", "-qO-",
                   "http://db/").stdout.decode() == "hello from db\n"
    assert wget("http://127.0.0.1:18080/") == "hello from web\n"
    ps = compose(pk, file, "demo", "ps").stdout.decode().splitlines()
    assert ps[0].split()[:4] == ["NAME", "IMAGE", "COMMAND", "SERVICE"]
    assert any(line.startswith("demo-web-1") and "0.0.0.0:18080->80/tcp" in line
               for line in ps)
    assert compose(pk, file, "demo", "port", "web", "80").stdout.decode().strip() \
        == "0.0.0.0:18080"
    compose(pk, file, "demo", "down", "-v")
    assert ids(pk, "demo") == {}
    assert "demo_default" not in pk.out("network", "ls", "--format", "{{.Name}}").split()
    assert "demo_data" not in pk.out("volume", "ls", "-q").split()
    assert in_netns("ip", "-o", "link").stdout.count("veth") == 0


def test_down_by_project_name_alone_finds_everything_by_its_labels(pk, tmp_path):
    file = write(tmp_path, two_services(None))
    compose(pk, file, "byname", "up", "-d")
    elsewhere = tmp_path / "elsewhere"  # no compose file here nor in its parents' reach
    elsewhere.mkdir()
    down = subprocess.run([sys.executable, "-m", "pyker", "compose", "-p", "byname", "down",
                           "-v"], cwd=elsewhere, env=pk.env, capture_output=True, text=True,
                          timeout=120)
    assert down.returncode == 0, down.stderr
    assert "Network byname_default  Removed" in down.stderr
    assert "Volume byname_data  Removed" in down.stderr
    assert ids(pk, "byname") == {}
    assert "byname_default" not in pk.out("network", "ls", "--format", "{{.Name}}").split()
    assert "byname_data" not in pk.out("volume", "ls", "-q").split()


def test_up_twice_recreates_nothing_and_a_changed_service_alone(pk, tmp_path):
    file = write(tmp_path, two_services(18081))
    compose(pk, file, "conv", "up", "-d")
    before = ids(pk, "conv")
    again = compose(pk, file, "conv", "up", "-d").stderr.decode()
    assert "Recreate" not in again and "Creating" not in again
    assert "Container conv-web-1  Running" in again
    assert ids(pk, "conv") == before
    file.write_text(two_services(18081).replace("hello from web", "changed"))
    err = compose(pk, file, "conv", "up", "-d").stderr.decode().splitlines()
    assert [line for line in err if "conv-web-1" in line] == [  # Compose's words
        " Container conv-web-1  Recreate", " Container conv-web-1  Recreated",
        " Container conv-web-1  Starting", " Container conv-web-1  Started"]
    after = ids(pk, "conv")
    assert after["conv-db-1"] == before["conv-db-1"]
    assert after["conv-web-1"] != before["conv-web-1"]
    assert wget("http://127.0.0.1:18081/") == "changed\n"
    compose(pk, file, "conv", "down", "-v")


def test_two_projects_from_one_file_run_side_by_side(pk, tmp_path):
    file = write(tmp_path, two_services(None))
    compose(pk, file, "one", "up", "-d")
    compose(pk, file, "two", "up", "-d")
    assert set(ids(pk, "one")) == {"one-web-1", "one-db-1"}
    assert set(ids(pk, "two")) == {"two-web-1", "two-db-1"}
    nets = pk.out("network", "ls", "--format", "{{.Name}}").split()
    assert "one_default" in nets and "two_default" in nets
    compose(pk, file, "one", "down", "-v")
    assert set(ids(pk, "two")) == {"two-web-1", "two-db-1"}
    compose(pk, file, "two", "down", "-v")


DEPENDENCIES = textwrap.dedent("""\
    services:
      init:
        image: busybox
        command: ["sh", "-c", "sleep 0.3; echo seeded > /shared/seed"]
        volumes: [shared:/shared]
      db:
        image: busybox
        init: true
        command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 1000"]
        healthcheck:
          test: ["CMD", "test", "-f", "/tmp/ready"]
          interval: 200ms
          retries: 30
        depends_on:
          init:
            condition: service_completed_successfully
        volumes: [shared:/shared]
      app:
        image: busybox
        init: true
        command: ["sh", "-c", "cat /shared/seed; exec sleep 1000"]
        depends_on:
          db:
            condition: service_healthy
        volumes: [shared:/shared]
    volumes:
      shared: {}
    """)


def inspect(pk, name: str) -> dict:
    return json.loads(pk.out("inspect", name))[0]


def test_depends_on_conditions_order_the_start(pk, tmp_path):
    file = write(tmp_path, DEPENDENCIES)
    err = compose(pk, file, "deps", "up", "-d").stderr.decode()
    # The conditions waited on are announced: the one-shot's exit, the database's health.
    assert " Container deps-init-1  Waiting\n Container deps-init-1  Exited\n" in err
    assert " Container deps-db-1  Waiting\n Container deps-db-1  Healthy\n" in err
    assert err.index("deps-db-1  Healthy") < err.index("deps-app-1  Starting")
    init, db, app = (inspect(pk, f"deps-{s}-1") for s in ("init", "db", "app"))
    assert init["State"]["Status"] == "exited" and init["State"]["ExitCode"] == 0
    assert init["State"]["FinishedAt"] < db["State"]["StartedAt"]
    healthy_at = next(entry["End"] for entry in db["State"]["Health"]["Log"]
                      if entry["ExitCode"] == 0)
    assert healthy_at < app["State"]["StartedAt"]
    logs = compose(pk, file, "deps", "logs", "app").stdout.decode()
    assert "seeded" in logs and logs.startswith("deps-app-1")
    compose(pk, file, "deps", "down", "-v")


def test_scale_run_and_logs(pk, tmp_path):
    file = write(tmp_path, two_services(None))
    compose(pk, file, "sc", "up", "-d", "--scale", "web=2")
    assert set(ids(pk, "sc")) == {"sc-web-1", "sc-web-2", "sc-db-1"}
    # Both replicas answer to the service's name on the project network.
    answers = compose(pk, file, "sc", "exec", "-T", "db", "nslookup", "web").stdout.decode()
    assert answers.count("Address") >= 3  # the server, then one per replica
    out = compose(pk, file, "sc", "run", "--rm", "db", "echo", "one-off").stdout.decode()
    assert out == "one-off\n"
    assert set(ids(pk, "sc")) == {"sc-web-1", "sc-web-2", "sc-db-1"}  # --rm: gone
    compose(pk, file, "sc", "up", "-d")  # back to the file's one replica
    assert set(ids(pk, "sc")) == {"sc-web-1", "sc-db-1"}
    compose(pk, file, "sc", "down", "-v")


def test_bad_file_creates_nothing(pk, tmp_path):
    file = write(tmp_path, "services:\n  web:\n    image: busybox\n    ports: nope\n")
    proc = compose(pk, file, "bad", "up", "-d", check=False)
    assert proc.returncode == 1
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    assert "web" in proc.stderr.decode() and "ports" in proc.stderr.decode()
    assert ids(pk, "bad") == {}
    assert "bad_default" not in pk.out("network", "ls", "--format", "{{.Name}}").split()


def test_errors_after_loading_still_create_nothing(pk, tmp_path):
    """Values only the engine checks (a capability, an image that is not there) fail before
    the project's network exists."""
    for body in ("    cap_add: [NOT_A_CAP]\n", "    ulimits:\n      nofile: 99999999999\n"):
        file = write(tmp_path, f"services:\n  web:\n    image: busybox\n{body}")
        proc = compose(pk, file, "late", "up", "-d", check=False)
        assert proc.returncode != 0, body
        assert 'service "web"' in proc.stderr.decode()
    file = write(tmp_path, "services:\n  web:\n    image: no-such-image\n")
    proc = compose(pk, file, "late", "up", "-d", check=False)
    assert proc.returncode == 1 and "no-such-image" in proc.stderr.decode()
    assert "late_default" not in pk.out("network", "ls", "--format", "{{.Name}}").split()
    assert ids(pk, "late") == {}


FOREGROUND = textwrap.dedent("""\
    services:
      worker:
        image: busybox
        command: ["sh", "-c", "echo working; sleep 0.5; echo done; exit 3"]
      idle:
        image: busybox
        init: true
        command: ["sleep", "1000"]
    """)


def test_foreground_up_prefixes_output_and_aborts_on_exit(pk, tmp_path):
    file = write(tmp_path, FOREGROUND)
    proc = compose(pk, file, "fg", "up", "--exit-code-from", "worker", check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 3, proc.stderr
    assert "Attaching to fg-worker-1, fg-idle-1" in out  # file order
    assert "fg-worker-1  | working" in out and "fg-worker-1  | done" in out
    assert "fg-worker-1 exited with code 3" in out
    states = pk.out("ps", "-a", "--filter", "label=com.docker.compose.project=fg",
                    "--format", "{{.Names}} {{.State}}")
    assert "fg-idle-1 exited" in states  # aborted with the worker
    compose(pk, file, "fg", "down")


def test_build_lifecycle_orphans_and_rmi_local(pk, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text(
        'FROM busybox\nRUN echo built > /built\nCMD ["sh", "-c", "cat /built; exec sleep 1000"]\n')
    file = write(tmp_path, "services:\n  app:\n    build: ./app\n    init: true\n"
                           "  extra:\n    image: busybox\n    init: true\n"
                           "    command: [sleep, '1000']\n")
    compose(pk, file, "life", "up", "-d")
    assert "life-app" in pk.out("images", "--format", "{{.Repository}}").split()
    assert "built" in compose(pk, file, "life", "logs", "--no-log-prefix", "app").stdout.decode()
    compose(pk, file, "life", "stop", "app")
    assert inspect(pk, "life-app-1")["State"]["Status"] == "exited"
    compose(pk, file, "life", "start")
    assert inspect(pk, "life-app-1")["State"]["Status"] == "running"
    before = inspect(pk, "life-app-1")["State"]["StartedAt"]
    compose(pk, file, "life", "restart", "app")
    assert inspect(pk, "life-app-1")["State"]["StartedAt"] > before
    top = compose(pk, file, "life", "top", "app").stdout.decode()
    assert top.startswith("life-app-1") and "sleep 1000" in top
    # "extra" leaves the file: an orphan, removed with --remove-orphans.
    file.write_text("services:\n  app:\n    build: ./app\n    init: true\n")
    compose(pk, file, "life", "up", "-d", "--remove-orphans")
    assert set(ids(pk, "life")) == {"life-app-1"}
    compose(pk, file, "life", "down", "--rmi", "local")
    assert "life-app" not in pk.out("images", "--format", "{{.Repository}}").split()
    assert "busybox" in pk.out("images", "--format", "{{.Repository}}").split()
