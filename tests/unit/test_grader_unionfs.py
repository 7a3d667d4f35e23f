"""The TP 06 checks' readers of the kernel's mount table and of whiteouts, on exact texts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.exercises.unionfs import OverlayMount, is_whiteout, parse_overlays

# Three lines as Linux 6.18 writes them: a pyker container's root (the new mount API, one
# lowerdir+ per layer), an overlay mounted by mount(8) with a space in its path, and a bind.
MOUNTINFO = (
    "146 96 0:61 / /var/lib/pyker/containers/9c09/merged rw,relatime - overlay overlay "
    "rw,lowerdir+=/var/lib/pyker/layers/af0e/diff,lowerdir+=/var/lib/pyker/layers/78c4/diff,"
    "upperdir=/var/lib/pyker/containers/9c09/upper,"
    "workdir=/var/lib/pyker/containers/9c09/work,uuid=on\n"
    "62 27 0:50 / /tmp/mon\\040tp/vue rw,relatime - overlay overlay "
    "rw,lowerdir=/tmp/mon\\040tp/couche2:/tmp/mon\\040tp/couche1,upperdir=/tmp/mon\\040tp/haut,"
    "workdir=/tmp/mon\\040tp/travail,uuid=on\n"
    "124 115 254:0 /tmp/x/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw,discard\n"
)


def test_both_spellings_of_the_lower_stack_are_read_top_most_first() -> None:
    pyker, by_hand = parse_overlays(MOUNTINFO)
    assert pyker == OverlayMount(
        mount_point="/var/lib/pyker/containers/9c09/merged",
        lowers=("/var/lib/pyker/layers/af0e/diff", "/var/lib/pyker/layers/78c4/diff"),
        upper="/var/lib/pyker/containers/9c09/upper",
        work="/var/lib/pyker/containers/9c09/work")
    assert by_hand.mount_point == "/tmp/mon tp/vue"
    assert by_hand.lowers == ("/tmp/mon tp/couche2", "/tmp/mon tp/couche1")
    assert (by_hand.upper, by_hand.work) == ("/tmp/mon tp/haut", "/tmp/mon tp/travail")


def test_relative_names_and_a_read_only_overlay_are_kept_as_given() -> None:
    text = "61 27 0:50 / /tmp/n06/vue ro,relatime - overlay overlay ro,lowerdir=b:a,uuid=on\n"
    (mount,) = parse_overlays(text)
    assert mount == OverlayMount(mount_point="/tmp/n06/vue", lowers=("b", "a"), upper="",
                                 work="")


def test_lines_of_other_filesystems_are_left_out() -> None:
    assert parse_overlays(MOUNTINFO.splitlines()[2]) == []
    assert parse_overlays("") == []


@pytest.mark.requires("mknod")
def test_a_whiteout_is_a_0_0_character_device_and_nothing_else(tmp_path: Path) -> None:
    os.mknod(tmp_path / "wh", 0o600 | 0o020000, os.makedev(0, 0))
    os.mknod(tmp_path / "null", 0o600 | 0o020000, os.makedev(1, 3))
    (tmp_path / "file").write_text("")
    assert is_whiteout(tmp_path / "wh")
    assert not is_whiteout(tmp_path / "null")
    assert not is_whiteout(tmp_path / "file")
    assert not is_whiteout(tmp_path / "missing")
