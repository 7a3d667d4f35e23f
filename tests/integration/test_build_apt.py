"""The course's first image: figlet installed by apt in a build step (Debian's registry).

The base comes from the lab's own store (`make test` and `make lab` bootstrap
debian:bookworm there), copied into this test's private store with save | load, which only
reads the lab's store.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.requires("root", "overlay"), pytest.mark.slow]

DOCKERFILE = """\
FROM debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends figlet
CMD ["figlet", "Hello"]
"""


@pytest.fixture(scope="module")
def apt_builds(with_debian):
    with_debian.host_network = True  # RUN apt-get reaches Debian's mirror through the host's network
    return with_debian


def test_figlet_image_builds_with_apt_and_runs(apt_builds, tmp_path):
    with_debian = apt_builds
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    out = with_debian.out("build", "-t", "ubuntu-figlet", str(tmp_path))
    assert "Successfully tagged ubuntu-figlet:latest" in out
    art = with_debian.out("run", "--rm", "ubuntu-figlet")
    assert len(art.splitlines()) >= 4 and "_" in art  # figlet's ASCII art of "Hello"
    assert with_debian.out("run", "--rm", "ubuntu-figlet", "figlet", "-v").startswith("FIGlet")
    again = with_debian.out("build", "-t", "ubuntu-figlet", str(tmp_path))
    assert again.count("Using cache") == 2
