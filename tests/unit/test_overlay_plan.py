"""Overlay mount planning, checked against exact syscalls with the recording fake (no root)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pyker.fs import overlay
from pyker.fs.overlay import OverlayMethod, OverlaySpec, mount_overlay
from pyker.kernel.fake import Call, RecordingSyscalls
from pyker.kernel.fsmount import AT_FDCWD, FsconfigCmd, MoveMountFlag
from pyker.kernel.mount import MountFlag, UmountFlag
from pyker.kernel.namespaces import CloneFlag

SET, CREATE = FsconfigCmd.FSCONFIG_SET_STRING, FsconfigCmd.FSCONFIG_CMD_CREATE
L1, L2, UP, WORK, TARGET = (Path(p) for p in ("/l/1", "/l/2", "/c/up", "/c/work", "/c/merged"))


@pytest.fixture(autouse=True)
def index_default_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the host's overlay.index default irrelevant to the expected calls."""
    param = tmp_path / "index"
    param.write_text("N\n")
    monkeypatch.setattr(overlay, "INDEX_PARAM", param)


def fsconfig_calls(fd: int, steps: list[tuple[str, str]]) -> list[Call]:
    return [Call("fsconfig", (fd, SET, key, value, 0)) for key, value in steps]


# -- the spec and the pure planners ------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lowers": ()}, "at least one lower"),
    ({"lowers": (L1,) * 501}, "at most 500 lower directories, got 501"),
    ({"lowers": (L1,), "upper": UP}, "upper and work directories go together"),
    ({"lowers": (Path("rel"),)}, "rel is not absolute"),
    ({"lowers": (L1, L2), "volatile": True}, "volatile flag needs an upper directory"),
])
def test_spec_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OverlaySpec(**kwargs)


def test_fsconfig_steps_in_order() -> None:
    spec = OverlaySpec(lowers=(L1, L2), upper=UP, work=WORK, options=(("index", "off"),))
    assert overlay.fsconfig_steps(spec) == [
        ("source", "overlay"), ("lowerdir+", "/l/1"), ("lowerdir+", "/l/2"),
        ("upperdir", "/c/up"), ("workdir", "/c/work"), ("index", "off")]


def test_volatile_is_a_flag_after_the_options() -> None:
    spec = OverlaySpec(lowers=(L1,), upper=UP, work=WORK, options=(("index", "off"),),
                       volatile=True)
    assert overlay.fsconfig_steps(spec)[-2:] == [("index", "off"), ("volatile", None)]
    assert overlay.mount_data(spec).endswith(",workdir=/c/work,index=off,volatile")


def test_fsconfig_names_an_overlong_path_by_its_fd() -> None:
    deep = Path("/" + "d" * 300)
    spec = OverlaySpec(lowers=(deep, L2))
    assert overlay.too_long_for_fsconfig(spec) == [deep]
    assert overlay.fsconfig_steps(spec, {deep: 7})[1:] == [
        ("lowerdir+", "/proc/self/fd/7"), ("lowerdir+", "/l/2")]


def test_mount_data_with_paths_and_with_names() -> None:
    spec = OverlaySpec(lowers=(L1, L2), upper=UP, work=WORK)
    assert overlay.mount_data(spec) == "lowerdir=/l/1:/l/2,upperdir=/c/up,workdir=/c/work"
    names = {L1: "3", L2: "4", UP: "5", WORK: "6"}
    assert overlay.mount_data(spec, names) == "lowerdir=3:4,upperdir=5,workdir=6"
    assert overlay.mount_data(OverlaySpec(lowers=(L1, L2))) == "lowerdir=/l/1:/l/2"


def test_fd_names_fit_500_layers_in_a_page() -> None:
    lowers = tuple(Path(f"/var/lib/pyker/overlay/{i:064x}/diff") for i in range(500))
    spec = OverlaySpec(lowers=lowers, upper=UP, work=WORK)
    assert not overlay.fits_mount_data(spec, overlay.mount_data(spec))
    names = {p: str(9000 + i) for i, p in enumerate(spec.dirs)}  # four-digit fds
    assert overlay.fits_mount_data(spec, overlay.mount_data(spec, names))


@pytest.mark.parametrize("odd", ["/l/a:b", "/l/a,b", "/l/a\\b"])
def test_paths_overlay_would_split_do_not_fit(odd: str) -> None:
    spec = OverlaySpec(lowers=(Path(odd), L2))
    assert not overlay.fits_mount_data(spec, overlay.mount_data(spec))


@pytest.mark.parametrize(("content", "expected"), [
    ("Y\n", (("index", "off"),)), ("N\n", ()), (None, ())])
def test_index_off_only_when_the_kernel_default_is_on(tmp_path: Path, content: str | None,
                                                       expected: tuple) -> None:
    param = tmp_path / "param"
    if content is not None:
        param.write_text(content)
    assert overlay.default_options(param) == expected


# -- mount_overlay against the fake -------------------------------------------------------------


def test_new_api_sequence() -> None:
    fake = RecordingSyscalls()
    assert mount_overlay([L1, L2], UP, WORK, TARGET, syscalls=fake) is OverlayMethod.NEW_API
    assert fake.calls == [
        Call("fsopen", ("overlay", 1)),
        *fsconfig_calls(100, [("source", "overlay"), ("lowerdir+", "/l/1"),
                              ("lowerdir+", "/l/2"), ("upperdir", "/c/up"),
                              ("workdir", "/c/work")]),
        Call("fsconfig", (100, CREATE, None, None, 0)),
        Call("fsmount", (100, 1, 0)),
        Call("close", (100,)),
        Call("move_mount", (101, "", AT_FDCWD, TARGET, MoveMountFlag.MOVE_MOUNT_F_EMPTY_PATH)),
        Call("close", (101,)),
    ]


@pytest.mark.parametrize(("version", "flagged"), [((5, 10), True), ((5, 4), False)])
def test_volatile_is_asked_where_the_kernel_has_it(monkeypatch: pytest.MonkeyPatch,
                                                    version: tuple[int, int],
                                                    flagged: bool) -> None:
    monkeypatch.setattr(overlay, "kernel_version", lambda: version)
    fake = RecordingSyscalls()
    mount_overlay([L1], UP, WORK, TARGET, volatile=True, syscalls=fake)
    flag = Call("fsconfig", (100, FsconfigCmd.FSCONFIG_SET_FLAG, "volatile", None, 0))
    assert (flag in fake.calls) is flagged
    if flagged:  # set last, before the superblock is created
        assert fake.calls[fake.calls.index(flag) + 1].args[1] == CREATE


def test_index_off_is_passed_when_on_by_default(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "index").write_text("Y\n")
    fake = RecordingSyscalls()
    mount_overlay([L1, L2], None, None, TARGET, syscalls=fake)
    assert Call("fsconfig", (100, SET, "index", "off", 0)) in fake.calls


def test_relative_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fake = RecordingSyscalls()
    mount_overlay(["a", "b"], None, None, "m", syscalls=fake)
    assert [c.args[3] for c in fake.named("fsconfig")][1:3] == [str(tmp_path / "a"),
                                                                 str(tmp_path / "b")]
    assert fake.named("move_mount")[0].args[3] == tmp_path / "m"


def test_new_api_overlong_path_goes_by_fd_until_created() -> None:
    deep = Path("/" + "d" * 300)
    fake = RecordingSyscalls()
    mount_overlay([deep, L2], None, None, TARGET, syscalls=fake)
    assert fake.names[:3] == ["fsopen", "open_path", "fsconfig"]
    assert Call("fsconfig", (100, SET, "lowerdir+", "/proc/self/fd/101", 0)) in fake.calls
    create = fake.calls.index(Call("fsconfig", (100, CREATE, None, None, 0)))
    assert fake.calls[create + 1] == Call("close", (101,))


@pytest.mark.parametrize("err", [errno.ENOSYS, errno.EPERM])
def test_fallback_when_fsopen_is_missing_or_filtered(err: int) -> None:
    fake = RecordingSyscalls()
    fake.fail("fsopen", err, path="overlay")
    assert mount_overlay([L1, L2], UP, WORK, TARGET, syscalls=fake) is OverlayMethod.MOUNT
    assert fake.calls[1:] == [Call("mount", (
        "overlay", TARGET, "overlay", MountFlag(0),
        "lowerdir=/l/1:/l/2,upperdir=/c/up,workdir=/c/work"))]


def test_no_fallback_for_other_fsopen_errors() -> None:
    fake = RecordingSyscalls()
    fake.fail("fsopen", errno.ENODEV, path="overlay")
    with pytest.raises(OSError, match="fsopen overlay: No such device"):
        mount_overlay([L1, L2], UP, WORK, TARGET, syscalls=fake)
    assert "mount" not in fake.names


def test_fallback_when_lowerdir_add_is_rejected() -> None:
    fake = RecordingSyscalls()
    fake.script("fsconfig", None)  # source
    fake.fail("fsconfig", errno.EINVAL, path="FSCONFIG_SET_STRING lowerdir+=/l/1")
    assert mount_overlay([L1, L2], UP, WORK, TARGET, syscalls=fake) is OverlayMethod.MOUNT
    assert fake.names == ["fsopen", "fsconfig", "fsconfig", "close", "mount"]


def test_other_fsconfig_errors_carry_the_kernel_log() -> None:
    fake = RecordingSyscalls()
    fake.script("fsconfig", None, None, None)  # source, two lowers
    fake.fail("fsconfig", errno.EINVAL, path="FSCONFIG_SET_STRING upperdir=/c/up")
    fake.script("fs_messages", ["e overlay: upperdir is in-use as upperdir/workdir"])
    with pytest.raises(OSError, match=r"upperdir=/c/up: Invalid argument \(e overlay: upperdir "
                                      r"is in-use") as e:
        mount_overlay([L1, L2], UP, WORK, TARGET, syscalls=fake)
    assert e.value.syscall == "fsconfig"  # type: ignore[attr-defined]
    assert fake.names[-1] == "close" and "mount" not in fake.names


@pytest.mark.parametrize(("version", "falls_back"), [((6, 1), True), ((6, 18), False)])
def test_create_einval_falls_back_only_before_lowerdir_add(
        monkeypatch: pytest.MonkeyPatch, version: tuple[int, int], falls_back: bool) -> None:
    monkeypatch.setattr(overlay, "kernel_version", lambda: version)
    fake = RecordingSyscalls()
    fake.script("fsconfig", *[None] * 5)
    fake.fail("fsconfig", errno.EINVAL, path="FSCONFIG_CMD_CREATE")
    if falls_back:
        assert mount_overlay([L1, L2], UP, WORK, TARGET, syscalls=fake) is OverlayMethod.MOUNT
    else:
        with pytest.raises(OSError, match="FSCONFIG_CMD_CREATE: Invalid argument"):
            mount_overlay([L1, L2], UP, WORK, TARGET, syscalls=fake)


def test_fallback_names_dirs_by_fd_from_a_private_cwd() -> None:
    lowers = [Path(f"/var/lib/pyker/overlay/{i:064x}/diff") for i in range(150)]
    fake = RecordingSyscalls()
    fake.fail("fsopen", errno.ENOSYS, path="overlay")
    cwd = os.getcwd()
    method = mount_overlay(lowers, UP, WORK, TARGET, syscalls=fake)
    assert method is OverlayMethod.MOUNT_FD_NAMES
    assert os.getcwd() == cwd
    opened = [c.args[0] for c in fake.named("open_path")]
    assert opened == [*lowers, UP, WORK]
    data = "lowerdir=" + ":".join(str(100 + i) for i in range(150)) + ",upperdir=250,workdir=251"
    assert fake.calls[153:156] == [
        Call("unshare", (CloneFlag.CLONE_FS,)),
        Call("chdir", ("/proc/thread-self/fd",)),
        Call("mount", ("overlay", TARGET, "overlay", MountFlag(0), data)),
    ]
    assert [c.args[0] for c in fake.named("close")] == list(range(100, 252))


def test_fallback_error_in_the_thread_reaches_the_caller_and_fds_close() -> None:
    fake = RecordingSyscalls()
    fake.fail("fsopen", errno.ENOSYS, path="overlay")
    fake.script("mount", FileNotFoundError(errno.ENOENT, "mount overlay on /c/merged: ..."))
    with pytest.raises(FileNotFoundError, match="mount overlay on /c/merged"):
        mount_overlay([L1, Path("/l/a:b")], UP, WORK, TARGET, syscalls=fake)
    assert len(fake.named("close")) == len(fake.named("open_path")) == 4


def test_single_lower_without_upper_is_a_readonly_bind() -> None:
    fake = RecordingSyscalls()
    assert mount_overlay([L1], None, None, TARGET, syscalls=fake) is OverlayMethod.BIND
    assert fake.calls == [
        Call("mount", (L1, TARGET, None, MountFlag.MS_BIND, None)),
        Call("mount", (None, TARGET, None,
                       MountFlag.MS_BIND | MountFlag.MS_REMOUNT | MountFlag.MS_RDONLY, None)),
    ]


def test_failed_readonly_remount_undoes_the_bind() -> None:
    fake = RecordingSyscalls()
    fake.script("mount", None, PermissionError(errno.EPERM, "mount none on /c/merged"))
    with pytest.raises(PermissionError):
        mount_overlay([L1], None, None, TARGET, syscalls=fake)
    assert fake.calls[-1] == Call("umount2", (TARGET, UmountFlag.MNT_DETACH))


@pytest.mark.parametrize(("detach", "flags"), [(False, UmountFlag(0)),
                                               (True, UmountFlag.MNT_DETACH)])
def test_umount(detach: bool, flags: UmountFlag) -> None:
    fake = RecordingSyscalls()
    overlay.umount(TARGET, detach=detach, syscalls=fake)
    assert fake.calls == [Call("umount2", (TARGET, flags))]
