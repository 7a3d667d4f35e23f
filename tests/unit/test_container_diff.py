"""``pyker diff`` rules on hand-made upper and lower directories (Docker's overlay diff)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyker.fs import whiteout
from pyker.runtime.changes import diff, lower_stat, upper_size


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    return root


def _copy_dir_meta(src: Path, dst: Path) -> None:
    """What overlay's copy-up of a directory keeps: mode and times."""
    st = os.stat(src)
    os.chmod(dst, st.st_mode & 0o7777)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _whiteout(parent: Path, name: str) -> None:
    fd = os.open(parent, os.O_PATH | os.O_DIRECTORY)
    try:
        whiteout.make_whiteout(name, dir_fd=fd)
    except PermissionError:
        pytest.skip("creating overlay's whiteout device needs Linux >= 5.8 or root")
    finally:
        os.close(fd)


def _lines(upper: Path, *lowers: Path) -> list[str]:
    return [str(c) for c in diff(upper, list(lowers))]


def test_layer01_lab(tmp_path):
    lower = _tree(tmp_path / "lower", {"test": "", "autre-fichier": "", "root/": ""})
    upper = _tree(tmp_path / "upper", {"autre-fichier": "Ceci n'est pas un test\n",
                                       "root/.ash_history": "echo\n"})
    assert _lines(upper, lower) == ["C /autre-fichier", "C /root", "A /root/.ash_history"]


def test_directory_copied_up_for_a_changed_file_is_not_a_change(tmp_path):
    lower = _tree(tmp_path / "lower", {"etc/passwd": "root\n"})
    upper = _tree(tmp_path / "upper", {"etc/passwd": "root\nme\n"})
    _copy_dir_meta(lower / "etc", upper / "etc")
    assert _lines(upper, lower) == ["C /etc/passwd"]


def test_parent_of_an_addition_is_listed_even_if_unchanged(tmp_path):
    lower = _tree(tmp_path / "lower", {"etc/": ""})
    upper = _tree(tmp_path / "upper", {"etc/new": "x"})
    _copy_dir_meta(lower / "etc", upper / "etc")
    assert _lines(upper, lower) == ["C /etc", "A /etc/new"]


def test_whiteout_is_a_deletion_of_what_the_image_had(tmp_path):
    lower = _tree(tmp_path / "lower", {"etc/group": "g", "etc/passwd": "p"})
    upper = _tree(tmp_path / "upper", {"etc/": ""})
    _copy_dir_meta(lower / "etc", upper / "etc")
    _whiteout(upper / "etc", "group")
    _whiteout(upper / "etc", "never-there")  # a file made and removed by the container
    assert _lines(upper, lower) == ["C /etc", "D /etc/group"]


def test_runtime_mount_points_are_not_changes(tmp_path):
    lower = _tree(tmp_path / "lower", {"etc/passwd": "p", "proc/": ""})
    upper = _tree(tmp_path / "upper", {"etc/hosts": "", "etc/hostname": "",
                                       "etc/resolv.conf": "", "dev/": "", "tmp/x": ""})
    assert _lines(upper, lower) == ["A /tmp", "A /tmp/x"]


def test_walk_order_is_docker_s(tmp_path):
    lower = _tree(tmp_path / "lower", {"x": ""})
    upper = _tree(tmp_path / "upper", {"a/b": "", "a-b": "", "B": ""})
    assert _lines(upper, lower) == ["A /B", "A /a", "A /a/b", "A /a-b"]


def test_lookup_honours_whiteouts_of_upper_layers(tmp_path):
    bottom = _tree(tmp_path / "bottom", {"a": "old", "d/f": "old"})
    top = _tree(tmp_path / "top", {"d/": ""})
    _whiteout(top, "a")
    assert lower_stat([top, bottom], ("a",)) is None
    assert lower_stat([top, bottom], ("d", "f")) is not None
    upper = _tree(tmp_path / "upper", {"a": "new"})
    assert _lines(upper, top, bottom) == ["A /a"]
    file_over_dir = _tree(tmp_path / "top2", {"d": "a file hides the directory below"})
    assert lower_stat([file_over_dir, bottom], ("d", "f")) is None


@pytest.mark.requires("root")
def test_opaque_directory(tmp_path):
    lower = _tree(tmp_path / "lower", {"etc/network/if-up.d/": "", "etc/network/keep": "k",
                                       "etc/passwd": "p"})
    upper = _tree(tmp_path / "upper", {"etc/network/keep": "new", "etc/network/n": ""})
    _copy_dir_meta(lower / "etc", upper / "etc")
    whiteout.mark_opaque(str(upper / "etc" / "network"))
    # /etc kept its mtime here (in a container, `rm -rf` + `mkdir` would move it: C /etc).
    assert _lines(upper, lower) == ["C /etc/network", "D /etc/network/if-up.d",
                                    "C /etc/network/keep", "A /etc/network/n"]
    lower2 = _tree(tmp_path / "lower2", {"etc/network/keep": "k"})
    hidden = _tree(tmp_path / "hidden", {"etc/network/": ""})
    whiteout.mark_opaque(str(hidden / "etc" / "network"))
    assert lower_stat([hidden, lower2], ("etc", "network", "keep")) is None


def test_upper_size_counts_hard_links_once(tmp_path):
    upper = _tree(tmp_path / "upper", {"a": "12345", "d/b": "123"})
    os.link(upper / "a", upper / "d" / "a-again")
    assert upper_size(upper) == 8
