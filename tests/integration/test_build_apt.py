"""The course's first image: figlet installed by apt in a build step (Debian's registry).

The base comes from the lab's own store (`make test` and `make lab` bootstrap
debian:bookworm there), copied into this test's private store with save | load, which only
reads the lab's store.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.requires("root", "overlay"), pytest.mark.slow]

DOCKERFILE = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends figlet
CMD ["figlet", "Hello"]
"""


@pytest.fixture(scope="module")
def with_debian(pk):
    lab = {k: v for k, v in os.environ.items() if not k.startswith("PYKER_")}
    lab["PYTHONPATH"] = str(REPO)
    saved = subprocess.run([sys.executable, "-m", "pyker", "save", "debian:bookworm"],
                           capture_output=True, env=lab, timeout=300)
    if saved.returncode != 0:
        pytest.skip("debian:bookworm is not in the lab's store (make test bootstraps it)")
    pk("load", input=saved.stdout)
    pk.host_network = True  # RUN apt-get reaches Debian's mirror through the host's network
    return pk


def test_figlet_image_builds_with_apt_and_runs(with_debian, tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    out = with_debian.out("build", "-t", "ubuntu-figlet", str(tmp_path))
    assert "Successfully tagged ubuntu-figlet:latest" in out
    art = with_debian.out("run", "--rm", "ubuntu-figlet")
    assert len(art.splitlines()) >= 4 and "_" in art  # figlet's ASCII art of "Hello"
    assert with_debian.out("run", "--rm", "ubuntu-figlet", "figlet", "-v").startswith("FIGlet")
    again = with_debian.out("build", "-t", "ubuntu-figlet", str(tmp_path))
    assert again.count("Using cache") == 2
