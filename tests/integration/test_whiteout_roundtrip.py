"""Deletions survive the round trip: overlay upper → OCI tar → layer dir → overlay again.

A real overlay is mounted with mount(8) (the kernel wrappers are tested elsewhere); files are
deleted through it, so the whiteouts and opaque marks are the kernel's own, not made up.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pyker.fs.layer import apply_layer, write_layer

pytestmark = pytest.mark.requires("root", "overlay")


@contextmanager
def overlay(merged: Path, lowers: list[Path], upper: Path | None = None,
            work: Path | None = None) -> Iterator[Path]:
    """Mount ``lowers`` (top-most first), plus ``upper`` when given; always unmounted."""
    options = ["lowerdir=" + ":".join(str(p) for p in lowers)]
    if upper is not None and work is not None:
        options += [f"upperdir={upper}", f"workdir={work}"]
    # What pyker's own mounts say, so that an upper directory is a complete changeset.
    options += ["redirect_dir=off", "metacopy=off"]
    merged.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", ",".join(options), str(merged)],
                   check=True, capture_output=True)
    try:
        yield merged
    finally:
        subprocess.run(["umount", str(merged)], check=True, capture_output=True)


@pytest.fixture
def lower(tmp_path: Path) -> Path:
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc/motd").write_text("welcome\n")
    (lower / "etc/hostname").write_text("box\n")
    (lower / "cache/deep").mkdir(parents=True)
    (lower / "cache/old").write_text("stale\n")
    (lower / "cache/deep/older").write_text("staler\n")
    return lower


def _changeset(tmp_path: Path, lower: Path) -> Path:
    """Delete etc/motd, add etc/new, replace cache/ by a fresh directory, through overlay."""
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir()
    work.mkdir()
    with overlay(tmp_path / "merged", [lower], upper, work) as merged:
        (merged / "etc/motd").unlink()
        (merged / "etc/new").write_text("added\n")
        shutil.rmtree(merged / "cache")
        (merged / "cache").mkdir()
        (merged / "cache/fresh").write_text("new\n")
    return upper


def _is_whiteout(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def test_kernel_whiteouts_become_oci_ones_and_back(tmp_path: Path, lower: Path) -> None:
    upper = _changeset(tmp_path, lower)
    assert _is_whiteout(upper / "etc/motd")  # the kernel's doing, checked for clarity
    assert os.getxattr(upper / "cache", "trusted.overlay.opaque") == b"y"

    out = io.BytesIO()
    written = write_layer(upper, out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        names = tar.getnames()
        assert tar.getmember("etc/.wh.motd").isreg()
        assert tar.getmember("etc/.wh.motd").size == 0
    assert {"etc/.wh.motd", "etc/new", "cache", "cache/.wh..wh..opq", "cache/fresh"} <= set(names)
    assert "etc/motd" not in names and "cache/old" not in names

    layer = tmp_path / "layer"
    applied = apply_layer(io.BytesIO(out.getvalue()), layer, name="roundtrip")
    assert applied.diff_id == written.diff_id
    assert _is_whiteout(layer / "etc/motd")
    assert not (layer / "etc/.wh.motd").exists()
    assert os.getxattr(layer / "cache", "trusted.overlay.opaque") == b"y"
    assert not (layer / "cache/.wh..wh..opq").exists()


def test_the_applied_layer_hides_what_was_deleted(tmp_path: Path, lower: Path) -> None:
    out = io.BytesIO()
    write_layer(_changeset(tmp_path, lower), out)
    layer = tmp_path / "layer"
    apply_layer(io.BytesIO(out.getvalue()), layer, name="roundtrip")

    with overlay(tmp_path / "image", [layer, lower]) as image:
        assert not (image / "etc/motd").exists()
        assert (image / "etc/hostname").read_text() == "box\n"
        assert (image / "etc/new").read_text() == "added\n"
        assert sorted(os.listdir(image / "cache")) == ["fresh"]  # opaque: old ones hidden
    assert not os.path.ismount(tmp_path / "image")
