"""Overlay mounts on the real kernel: copy-on-write, whiteouts, 150-500 layers, both paths."""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyker.fs import overlay
from pyker.fs.overlay import OverlayMethod, mount_overlay
from pyker.kernel import _libc
from pyker.kernel.mount import MountFlag, UmountFlag, mount, umount2
from pyker.kernel.syscalls import LinuxSyscalls

pytestmark = pytest.mark.requires("root", "overlay")


class NoFsopen(LinuxSyscalls):
    """The real kernel, as seen from before Linux 5.2: forces the mount(2) fallback."""

    @staticmethod
    def fsopen(fsname: str, flags: int = 1) -> int:  # type: ignore[override]
        raise _libc.error(errno.ENOSYS, "fsopen", path=fsname)


def mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == str(root) or p.startswith(f"{root}/")]


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Path]:
    """A work area whose mounts must all be gone when the test ends."""
    yield tmp_path
    leaked = mounts_under(tmp_path)
    for point in reversed(leaked):
        umount2(point, UmountFlag.MNT_DETACH)
    assert not leaked, f"mounts left behind: {leaked}"


def make_layers(root: Path, count: int) -> list[Path]:
    """``count`` lower dirs, top-most first: each has ``who`` = its index, and its own file."""
    lowers = []
    for i in range(count):
        layer = root / "layers" / f"{i:03d}"
        layer.mkdir(parents=True)
        (layer / "who").write_text(str(i))
        (layer / f"only-{i:03d}").write_text("x")
        lowers.append(layer)
    return lowers


def rw_dirs(root: Path) -> tuple[Path, Path, Path]:
    dirs = root / "upper", root / "work", root / "merged"
    for d in dirs:
        d.mkdir()
    return dirs


def expected_method() -> OverlayMethod | None:
    return OverlayMethod.NEW_API if overlay.kernel_version() >= (6, 8) else None


def test_copy_on_write_leaves_the_lower_file_alone(box: Path) -> None:
    lower = make_layers(box, 2)
    (lower[1] / "etc").mkdir()
    (lower[1] / "etc" / "motd").write_text("from the image\n")
    upper, work, merged = rw_dirs(box)
    method = mount_overlay(lower, upper, work, merged)
    try:
        assert method is (expected_method() or method)
        with open(merged / "etc" / "motd", "a") as f:
            f.write("changed in the container\n")
        assert (merged / "etc" / "motd").read_text() == ("from the image\n"
                                                         "changed in the container\n")
    finally:
        overlay.umount(merged)
    assert (lower[1] / "etc" / "motd").read_text() == "from the image\n"
    assert (upper / "etc" / "motd").read_text().endswith("changed in the container\n")
    assert sorted(p.name for p in upper.iterdir()) == ["etc"]


def test_delete_leaves_a_whiteout_in_upper(box: Path) -> None:
    lower = make_layers(box, 2)
    upper, work, merged = rw_dirs(box)
    mount_overlay(lower, upper, work, merged)
    try:
        (merged / "only-001").unlink()
        assert not (merged / "only-001").exists()
    finally:
        overlay.umount(merged)
    st = os.lstat(upper / "only-001")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert (lower[1] / "only-001").exists()


def check_stack(merged: Path, count: int) -> None:
    assert (merged / "who").read_text() == "0"  # the top-most lower wins
    assert (merged / f"only-{count - 1:03d}").exists()  # the bottom one shows through
    assert len(list(merged.iterdir())) == count + 1


def test_150_layers_top_most_wins(box: Path) -> None:
    lower = make_layers(box, 150)
    upper, work, merged = rw_dirs(box)
    assert len(overlay.mount_data(overlay.OverlaySpec(lowers=tuple(lower)))) > 4096
    method = mount_overlay(lower, upper, work, merged)
    try:
        assert method is (expected_method() or method)
        assert mounts_under(box) == [str(merged)]
        check_stack(merged, 150)
    finally:
        overlay.umount(merged)


def test_fallback_mounts_150_layers_by_fd_names(box: Path) -> None:
    lower = make_layers(box, 150)
    upper, work, merged = rw_dirs(box)
    cwd = os.getcwd()
    method = mount_overlay(lower, upper, work, merged, syscalls=NoFsopen())
    try:
        assert method is OverlayMethod.MOUNT_FD_NAMES
        assert os.getcwd() == cwd
        check_stack(merged, 150)
        (merged / "who").write_text("container")
    finally:
        overlay.umount(merged)
    assert (upper / "who").read_text() == "container"
    assert (lower[0] / "who").read_text() == "0"


@pytest.mark.parametrize("syscalls", [None, NoFsopen()], ids=["new-api", "fallback"])
def test_500_layers_the_kernel_maximum(box: Path, syscalls: LinuxSyscalls | None) -> None:
    lower = make_layers(box, 500)
    upper, work, merged = rw_dirs(box)
    mount_overlay(lower, upper, work, merged, syscalls=syscalls)
    try:
        check_stack(merged, 500)
    finally:
        overlay.umount(merged)


def test_fallback_with_few_layers_uses_plain_paths(box: Path) -> None:
    lower = make_layers(box, 3)
    upper, work, merged = rw_dirs(box)
    assert mount_overlay(lower, upper, work, merged, syscalls=NoFsopen()) is OverlayMethod.MOUNT
    try:
        with open("/proc/self/mountinfo") as f:
            line = next(line for line in f if line.split()[4] == str(merged))
        assert f"lowerdir={lower[0]}:{lower[1]}:{lower[2]}" in line
    finally:
        overlay.umount(merged)


def test_read_only_overlay_of_two_lowers(box: Path) -> None:
    lower = make_layers(box, 2)
    merged = box / "merged"
    merged.mkdir()
    mount_overlay(lower, None, None, merged)
    try:
        check_stack(merged, 2)
        with pytest.raises(OSError) as e:
            (merged / "new").write_text("x")
        assert e.value.errno == errno.EROFS
    finally:
        overlay.umount(merged)


def test_single_lower_is_a_read_only_bind(box: Path) -> None:
    lower = make_layers(box, 1)
    merged = box / "merged"
    merged.mkdir()
    assert mount_overlay(lower, None, None, merged) is OverlayMethod.BIND
    try:
        assert (merged / "who").read_text() == "0"
        with pytest.raises(OSError) as e:
            (merged / "new").write_text("x")
        assert e.value.errno == errno.EROFS
    finally:
        overlay.umount(merged)


@pytest.mark.parametrize(("syscalls", "expected"), [
    (None, r"move_mount fd \d+ to {target} \(MOVE_MOUNT_F_EMPTY_PATH\): No such file or directory"),
    (NoFsopen(), r"mount overlay on {target}: No such file or directory"),
], ids=["new-api", "fallback"])
def test_mount_error_names_syscall_target_and_flags(box: Path, syscalls: LinuxSyscalls | None,
                                                    expected: str) -> None:
    lower = make_layers(box, 2)
    upper, work, _ = rw_dirs(box)
    missing = box / "no-such-dir"
    with pytest.raises(FileNotFoundError) as e:
        mount_overlay(lower, upper, work, missing, syscalls=syscalls)
    assert re.fullmatch(expected.format(target=re.escape(str(missing))), e.value.strerror)
    assert e.value.syscall == expected.split()[0]  # type: ignore[attr-defined]


def test_kernel_mount_error_names_flags_by_their_c_names(box: Path) -> None:
    missing = box / "no-such-dir"
    with pytest.raises(FileNotFoundError) as e:
        mount("overlay", missing, "overlay", MountFlag.MS_NODEV | MountFlag.MS_NOSUID,
              f"lowerdir={box}")
    assert e.value.strerror == (f"mount overlay on {missing} (MS_NOSUID|MS_NODEV): "
                                "No such file or directory")


def test_missing_lower_is_named(box: Path) -> None:
    lower = make_layers(box, 1) + [box / "gone"]
    upper, work, merged = rw_dirs(box)
    with pytest.raises(FileNotFoundError, match=str(box / "gone")):
        mount_overlay(lower, upper, work, merged)
