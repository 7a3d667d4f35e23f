"""Fixtures of the integration tests (real kernel, as root)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from conftest import REPO, Pyker


@pytest.fixture(scope="module")
def pk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pyker]:
    """The CLI on a private store with busybox, shared by one module's tests (bootstrapping
    is the slow part); containers and images left at the end are removed."""
    root = tmp_path_factory.mktemp("store")
    env = {**os.environ, "PYKER_DATA_ROOT": str(root / "data"),
           "PYKER_RUN_ROOT": str(root / "run"), "PYKER_DAEMON_CONFIG": str(root / "daemon.json"),
           "PYTHONPATH": str(REPO)}
    cli = Pyker(env)
    cli("bootstrap", "busybox")
    yield cli
    for cid in cli.out("ps", "-aq").split():
        cli("rm", "-f", cid, check=False)
    for image in cli.out("images", "-q").split():
        cli("rmi", "-f", image, check=False)


@pytest.fixture(scope="module")
def with_debian(pk: Pyker) -> Pyker:
    """``pk`` with debian:bookworm, copied from the lab's store with save | load (which only
    reads it): `make test` and `make lab` bootstrap it there; without it, the test skips."""
    lab = {k: v for k, v in os.environ.items() if not k.startswith("PYKER_")}
    lab["PYTHONPATH"] = str(REPO)
    saved = subprocess.run([sys.executable, "-m", "pyker", "save", "debian:bookworm"],
                           capture_output=True, env=lab, timeout=300)
    if saved.returncode != 0:
        pytest.skip("debian:bookworm is not in the lab's store (make test bootstraps it)")
    pk("load", input=saved.stdout)
    return pk
