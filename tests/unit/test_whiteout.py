"""OCI whiteout names and overlay's native whiteouts (pyker.fs.whiteout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyker.fs import whiteout
from pyker.fs.whiteout import Kind


@pytest.mark.parametrize(("name", "kind"), [
    ("passwd", Kind.PLAIN),
    (".bashrc", Kind.PLAIN),
    (".whatever", Kind.PLAIN),
    (".wh.passwd", Kind.WHITEOUT),
    (".wh..bashrc", Kind.WHITEOUT),  # deletes the hidden file .bashrc
    (".wh..wh..opq", Kind.OPAQUE),
    (".wh..wh.plnk", Kind.META),     # aufs hard-link bookkeeping
    (".wh..wh.aufs", Kind.META),
    (".wh.", Kind.INVALID),
    (".wh..", Kind.INVALID),
    (".wh...", Kind.INVALID),
])
def test_classify(name: str, kind: Kind) -> None:
    assert whiteout.classify(name) is kind


def test_names_round_trip() -> None:
    assert whiteout.whiteout_name("passwd") == ".wh.passwd"
    assert whiteout.deleted_name(".wh.passwd") == "passwd"
    assert whiteout.deleted_name(whiteout.whiteout_name(".profile")) == ".profile"


@pytest.mark.parametrize("name", ["passwd", ".wh..wh..opq", ".wh..wh.plnk", ".wh.", ".wh..."])
def test_deleted_name_refuses_what_is_not_a_whiteout(name: str) -> None:
    with pytest.raises(ValueError, match="is not a whiteout"):
        whiteout.deleted_name(name)


def test_ordinary_files_are_not_whiteouts(tmp_path: Path) -> None:
    (tmp_path / "f").touch()
    os.mkfifo(tmp_path / "p")
    for path in (tmp_path / "f", tmp_path / "p", tmp_path, Path("/dev/null")):
        assert not whiteout.is_whiteout_device(os.lstat(path))


def test_a_directory_without_the_mark_is_not_opaque(tmp_path: Path) -> None:
    assert not whiteout.is_opaque(str(tmp_path))


@pytest.mark.requires("mknod")
def test_make_whiteout_is_a_0_0_character_device(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        whiteout.make_whiteout("gone", dir_fd=fd)
    finally:
        os.close(fd)
    st = os.lstat(tmp_path / "gone")
    assert whiteout.is_whiteout_device(st)
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (0, 0)


@pytest.mark.requires("root")
def test_mark_opaque(tmp_path: Path) -> None:
    whiteout.mark_opaque(str(tmp_path))
    assert whiteout.is_opaque(str(tmp_path))
    assert os.getxattr(tmp_path, "trusted.overlay.opaque") == b"y"
