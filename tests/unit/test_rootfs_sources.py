"""Reading the host's apt sources (sources.list(5)), on fixture trees in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyker.errors import BootstrapError
from pyker.image.aptsources import DebianSource, host_debian_sources
from pyker.image.rootfs import debootstrap_argv

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

DEB822 = f"""\
Types: deb
# a comment line, as hosts' own files have
URIs: http://mirror.test/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: {KEYRING}

Types: deb
URIs: http://mirror.test/debian-security
Suites: bookworm-security
Components: main
Signed-By: {KEYRING}
"""


def apt_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (apt / name).write_text(text)
    return apt


def test_deb822_first_plain_release(tmp_path: Path) -> None:
    apt = apt_tree(tmp_path, {"sources.list.d/debian.sources": DEB822})
    assert host_debian_sources(apt) == DebianSource(
        uri="http://mirror.test/debian", suite="bookworm",
        components=("main", "contrib"), keyring=Path(KEYRING))


def test_deb822_skips_updates_security_and_disabled_stanzas(tmp_path: Path) -> None:
    text = ("Types: deb-src\nURIs: http://src.test/debian\nSuites: bookworm\n"
            "Components: main\n\n"
            "Enabled: no\nTypes: deb\nURIs: http://off.test/debian\nSuites: bookworm\n"
            "Components: main\n\n"
            "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm-updates trixie\n"
            "Components: main\n")
    apt = apt_tree(tmp_path, {"sources.list.d/debian.sources": text})
    source = host_debian_sources(apt)
    assert (source.uri, source.suite, source.keyring) == ("http://mirror.test/debian",
                                                          "trixie", None)


def test_deb822_inline_key_is_not_a_keyring(tmp_path: Path) -> None:
    text = ("Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm\n"
            "Components: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n"
            " mQINBF\n -----END PGP PUBLIC KEY BLOCK-----\n")
    apt = apt_tree(tmp_path, {"sources.list.d/debian.sources": text})
    assert host_debian_sources(apt).keyring is None


def test_one_line_with_options_and_comments(tmp_path: Path) -> None:
    text = ("# deb http://old.test/debian buster main\n"
            "deb-src http://mirror.test/debian bookworm main\n"
            "deb [arch=amd64 signed-by=/k/debian.gpg] http://mirror.test/debian/ bookworm "
            "main non-free-firmware # the archive\n")
    apt = apt_tree(tmp_path, {"sources.list": text})
    assert host_debian_sources(apt) == DebianSource(
        uri="http://mirror.test/debian/", suite="bookworm",
        components=("main", "non-free-firmware"), keyring=Path("/k/debian.gpg"))


def test_sources_list_is_read_before_sources_list_d(tmp_path: Path) -> None:
    apt = apt_tree(tmp_path, {
        "sources.list": "deb http://first.test/debian bookworm main\n",
        "sources.list.d/debian.sources": DEB822,
    })
    assert host_debian_sources(apt).uri == "http://first.test/debian"


def test_third_party_repositories_are_not_debian(tmp_path: Path) -> None:
    apt = apt_tree(tmp_path, {
        "sources.list.d/a-docker.list":
            "deb [signed-by=/k/docker.gpg] https://download.test/linux/debian bookworm stable\n",
        "sources.list.d/b-node.sources":
            "Types: deb\nURIs: https://node.test/node_20.x\nSuites: nodistro\nComponents: main\n",
        "sources.list.d/c-security.list":
            "deb http://mirror.test/debian-security bookworm-security main\n",
        "sources.list.d/d-debian.list": "deb http://mirror.test/pub/Debian bookworm main\n",
    })
    assert host_debian_sources(apt).uri == "http://mirror.test/pub/Debian"


def test_disabled_files_are_skipped(tmp_path: Path) -> None:
    apt = apt_tree(tmp_path, {
        "sources.list.d/aaa.list.disabled-by-farm": "deb http://off.test/debian bookworm main\n",
        "sources.list.d/bbb.disabled.sources":
            "Types: deb\nURIs: http://off2.test/debian\nSuites: bookworm\nComponents: main\n",
        "sources.list.d/debian.sources": DEB822,
    })
    assert host_debian_sources(apt).uri == "http://mirror.test/debian"


def test_error_when_nothing_usable(tmp_path: Path) -> None:
    apt = apt_tree(tmp_path, {
        "sources.list.d/security.list":
            "deb http://mirror.test/debian-security bookworm-security main\n",
        "sources.list.d/debian.list.disabled": "deb http://off.test/debian bookworm main\n",
    })
    with pytest.raises(BootstrapError, match="no source for the main Debian archive") as err:
        host_debian_sources(apt)
    assert "http://mirror.test/debian-security bookworm-security" in str(err.value)
    assert str(apt) in str(err.value)


def test_error_when_apt_dir_is_empty(tmp_path: Path) -> None:
    with pytest.raises(BootstrapError, match="found: no deb entry"):
        host_debian_sources(tmp_path)


def test_debootstrap_argv_uses_the_host_mirror_and_keyring(tmp_path: Path) -> None:
    source = DebianSource(uri="http://mirror.test/debian", suite="bookworm",
                          components=("main",), keyring=Path(KEYRING))
    argv = debootstrap_argv(Path("/r"), source, suite="trixie", variant="minbase",
                            cache_dir=tmp_path / "cache")
    assert argv == ["debootstrap", "--variant=minbase", f"--keyring={KEYRING}",
                    f"--cache-dir={tmp_path / 'cache'}", "trixie", "/r",
                    "http://mirror.test/debian"]
    no_keyring = DebianSource(uri="http://m.test/debian", suite="bookworm", components=())
    assert debootstrap_argv(Path("/r"), no_keyring, suite="bookworm", variant="minbase",
                            cache_dir=None) == ["debootstrap", "--variant=minbase",
                                                "bookworm", "/r", "http://m.test/debian"]
