"""The 13-compose checks against near misses: each wrong project fails exactly the checks it
should, on the real engine (tests/integration/test_grader.py runs the solutions and the empty
attempts). Every project is started by ``pyker compose up -d`` from a file written where the
student's goes, in the session's network namespace.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO, Pyker, enter_tests_netns
from grader import Context, grade

pytestmark = pytest.mark.requires("root", "overlay", "busybox", "iptables")

SOLUTIONS = REPO / "labs" / "13-compose" / "solutions"

WEB = """\
  web:
    image: python
    init: true
    command: ["python3", "/code/app.py"]
    volumes:
      - ../web:/code:ro
"""
STACK = "name: n13\nservices:\n  cache:\n    image: redis\n" + WEB


def whoami(command: str, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        services:
          whoami:
            image: busybox
            init: true
            command: ["sh", "-c", "{command}"]
            deploy:
              replicas: REPLICAS
        """) + extra


SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"

# case: (exercise, {file name: text}, the checks that must fail)
NEAR_MISSES = {
    "no-redis-host": ("stack", {
        "compose.yaml": STACK + '    ports: ["8130:80"]\n'}, {"http", "counter-in-cache"}),
    "wrong-port": ("stack", {
        "compose.yaml": STACK + '    ports: ["5000:80"]\n    environment: {REDIS_HOST: cache}\n'},
        {"http"}),
    "counter-elsewhere": ("stack", {
        "compose.yaml": STACK + '    ports: ["8130:80"]\n  redis:\n    image: redis\n'},
        {"counter-in-cache"}),
    "other-file": ("stack", {
        "autre.yaml": STACK + '    ports: ["8130:80"]\n    environment: {REDIS_HOST: cache}\n'},
        {"compose-file"}),
    "two-replicas": ("replicas", {
        "compose.yaml": STACK, "replicas.yaml": whoami(SERVE).replace("REPLICAS", "2")},
        {"three-replicas", "dns", "distinct-answers"}),
    "sleepers": ("replicas", {
        "compose.yaml": STACK, "replicas.yaml": whoami("sleep 3600").replace("REPLICAS", "3")},
        {"distinct-answers"}),
    "own-network": ("replicas", {
        "compose.yaml": STACK,
        "replicas.yaml": whoami(SERVE, "    networks: [back]\nnetworks:\n  back: {}\n")
        .replace("REPLICAS", "3")}, {"dns"}),
}


@pytest.fixture(scope="module")
def lab_env(pk: Pyker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The pk store's environment with this pyker on PATH, the lab's python and redis
    images copied in (solutions/images.sh), and a labs/ directory holding the counter."""
    env = dict(pk.env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    labs = tmp_path_factory.mktemp("labs")
    env["PYKER_LAB_DIR"] = str(labs)
    (labs / "13-compose" / "exercice").mkdir(parents=True)
    (labs / "13-compose" / "web").mkdir()
    (labs / "13-compose" / "web" / "app.py").write_bytes(
        (REPO / "labs" / "13-compose" / "web" / "app.py").read_bytes())
    proc = subprocess.run(["bash", str(SOLUTIONS / "images.sh")], env=env, capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"python and redis are not in the lab's store (make lab builds them): "
                    f"{proc.stderr.strip()[-300:]}")
    return env


@pytest.fixture
def ctx(lab_env: dict[str, str], pk: Pyker) -> Iterator[Context]:
    yield Context(env=lab_env, preexec=enter_tests_netns)
    ids = pk.out("ps", "-aq").split()
    if ids:
        pk("rm", "-f", *ids)
    for path in (Path(lab_env["PYKER_LAB_DIR"]) / "13-compose" / "exercice").iterdir():
        path.unlink()


def report(result) -> str:
    return "\n".join(f"{'ok ' if r.passed else 'KO '}{r.check}: {r.message} {r.error}"
                     for r in result.results)


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_near_miss_fails_exactly_its_checks(case: str, ctx: Context,
                                            lab_env: dict[str, str]) -> None:
    exercise_id, files, failing = NEAR_MISSES[case]
    exercice = Path(lab_env["PYKER_LAB_DIR"]) / "13-compose" / "exercice"
    args = []
    for name, text in files.items():
        (exercice / name).write_text(text)
        args += ["-f", str(exercice / name)]
    up = subprocess.run([sys.executable, "-m", "pyker", "compose", *args, "up", "-d"],
                        env=lab_env, capture_output=True, text=True, timeout=300,
                        preexec_fn=enter_tests_netns)
    assert up.returncode == 0, up.stderr
    result = grade("13-compose", exercise_id, hidden=True, ctx=ctx)
    assert {r.check for r in result.results if not r.passed} == failing, report(result)
    assert all(r.error == "" for r in result.results), report(result)
