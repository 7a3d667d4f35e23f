"""TP 08's offline apt proxy (labs/08-dockerfile/depot.py) names the host's lists as apt
itself does, and finds them on the mirror of the host's own apt configuration: checked
against ``apt-get indextargets``, apt's own answer, where apt is."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

DEPOT_PY = Path(__file__).resolve().parents[2] / "labs" / "08-dockerfile" / "depot.py"


@pytest.fixture(scope="module")
def depot():
    spec = importlib.util.spec_from_file_location("depot_under_test", DEPOT_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("url", "name"), [
    ("http://miroir.example/debian/dists/bookworm/InRelease",
     "miroir.example_debian_dists_bookworm_InRelease"),
    ("https://user:secret@mirror_1.example:8080/de~bian/dists/bookworm/main/binary-arm64/Packages",
     "mirror%5f1.example:8080_de%7ebian_dists_bookworm_main_binary-arm64_Packages"),
])
def test_list_names_follow_apts_rules(depot, url: str, name: str) -> None:
    assert depot.nom_de_liste(url) == name


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="apt-get is not on this host")
def test_list_names_match_apt_indextargets(depot) -> None:
    out = subprocess.run(["apt-get", "indextargets", "--format", "$(URI)|$(FILENAME)"],
                         capture_output=True, text=True, check=True).stdout
    pairs = [line.split("|", 1) for line in out.splitlines() if "|" in line]
    if not pairs:
        pytest.skip("apt has no index targets here (no sources configured)")
    for uri, filename in pairs:
        name = depot.nom_de_liste(uri)
        # apt keeps the list compressed as it came, or as its configuration says
        assert Path(filename).name in {name + ext for ext in ("", ".lz4", ".gz", ".xz",
                                                              ".zst", ".bz2")}


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="apt-get is not on this host")
def test_the_package_index_is_one_apt_fetches(depot) -> None:
    """The index the proxy serves is the host's own bookworm main index, on its mirror."""
    url = depot.index_des_paquets("bookworm")
    if url is None:
        pytest.skip("apt here has no Debian bookworm main index configured")
    out = subprocess.run(["apt-get", "indextargets", "--format", "$(URI)"],
                         capture_output=True, text=True, check=True).stdout
    assert url in out.split()
    assert "/dists/bookworm/main/binary-" in url and url.endswith("/Packages")
    assert depot.index_des_paquets("no-such-suite") is None
