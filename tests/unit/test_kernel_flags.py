"""The kernel layer without root: flag names in errors, the mount option table, the fake."""

from __future__ import annotations

import ctypes
import errno
import inspect
import os

import pytest

from pyker.kernel import _libc, caps
from pyker.kernel.fake import Call, RecordingSyscalls
from pyker.kernel.fsmount import FsconfigCmd, MoveMountFlag
from pyker.kernel.mount import PROPAGATION, MountFlag, UmountFlag, umount2
from pyker.kernel.mount_options import MOUNT_OPTIONS, ParsedOptions, parse_options
from pyker.kernel.namespaces import CloneFlag, setns
from pyker.kernel.prctl import CapAmbient, PrctlOption, _arg_name
from pyker.kernel.syscalls import LinuxSyscalls, Syscalls

M = MountFlag

# -- flag names and error messages ---------------------------------------------------------


@pytest.mark.parametrize(("flags", "expected"), [
    (M.MS_BIND | M.MS_REC, "MS_BIND|MS_REC"),
    (M.MS_NODEV | M.MS_NOSUID, "MS_NOSUID|MS_NODEV"),
    (M(0), ""),
    (M.MS_RDONLY | M(1 << 30), "MS_RDONLY|0x40000000"),
    (UmountFlag.MNT_DETACH, "MNT_DETACH"),
    (CloneFlag.CLONE_NEWNS | CloneFlag.CLONE_NEWPID, "CLONE_NEWNS|CLONE_NEWPID"),
    (6, "0x6"),
])
def test_flag_names(flags: int, expected: str) -> None:
    assert _libc.flag_names(flags) == expected


def test_error_names_syscall_paths_and_flags() -> None:
    err = _libc.error(errno.ENOENT, "mount", path="overlay", path2="/x", sep=" on ",
                      flags=M.MS_NODEV | M.MS_NOSUID)
    assert isinstance(err, FileNotFoundError)
    assert err.errno == errno.ENOENT
    assert err.strerror == "mount overlay on /x (MS_NOSUID|MS_NODEV): No such file or directory"
    assert str(err) == f"[Errno 2] {err.strerror}"
    assert err.syscall == "mount"  # type: ignore[attr-defined]
    assert err.filename is None


def test_error_without_flags_or_second_path() -> None:
    err = _libc.error(errno.EPERM, "umount2", path="/x", flags=UmountFlag(0))
    assert isinstance(err, PermissionError)
    assert err.strerror == "umount2 /x: Operation not permitted"


def test_check_passes_success_through_and_raises_on_minus_one() -> None:
    assert _libc.check(3, "fsopen") == 3
    ctypes.set_errno(errno.EBUSY)
    with pytest.raises(OSError, match=r"^\[Errno 16\] umount2 /m \(MNT_FORCE\): "):
        _libc.check(-1, "umount2", path="/m", flags=UmountFlag.MNT_FORCE)


def test_call_restarts_on_eintr() -> None:
    outcomes = [-1, -1, 0]

    def interrupted() -> int:
        ctypes.set_errno(errno.EINTR)
        return outcomes.pop(0)

    assert _libc.call(interrupted, syscall="mount") == 0
    assert outcomes == []


def test_syscall_numbers_per_architecture() -> None:
    assert _libc.syscall_number("pivot_root", "x86_64") == 155
    assert _libc.syscall_number("pivot_root", "aarch64") == 41
    for machine in ("x86_64", "aarch64"):
        assert [_libc.syscall_number(n, machine)
                for n in ("move_mount", "fsopen", "fsconfig", "fsmount")] == [429, 430, 431, 432]


def test_unknown_architecture_is_enosys_with_a_clear_message() -> None:
    with pytest.raises(OSError, match="fsopen.*no syscall number known for machine 'vax'") as e:
        _libc.syscall_number("fsopen", "vax")
    assert e.value.errno == errno.ENOSYS


def test_real_wrapper_error_names_path_and_flags(tmp_path: os.PathLike[str]) -> None:
    # Not a mount point: EINVAL as root, EPERM otherwise; either way the message is named.
    with pytest.raises(OSError) as e:
        umount2(tmp_path, UmountFlag.MNT_DETACH)
    assert e.value.strerror.startswith(f"umount2 {tmp_path} (MNT_DETACH): ")


def test_setns_bad_fd() -> None:
    with pytest.raises(OSError, match=r"setns fd -1 \(CLONE_NEWNET\): Bad file descriptor"):
        setns(-1, CloneFlag.CLONE_NEWNET)


def test_prctl_names_ambient_subops() -> None:
    assert _arg_name(PrctlOption.PR_CAP_AMBIENT, 2) == "PR_CAP_AMBIENT_RAISE"
    assert _arg_name(PrctlOption.PR_SET_DUMPABLE, 1) == "1"
    assert CapAmbient.PR_CAP_AMBIENT_CLEAR_ALL == 4


def test_capability_structs_match_the_kernel_abi() -> None:
    assert ctypes.sizeof(caps.CapUserHeader) == 8
    assert ctypes.sizeof(caps.CapUserDataV3) == 24
    mine = caps.capget(0)  # any process may read its own sets
    assert mine.effective & ~mine.permitted == 0


# -- the mount option table (crun's tests_libcrun_mount_flags.c) --------------------------


@pytest.mark.parametrize(("options", "expected"), [
    (["ro"], ParsedOptions(M.MS_RDONLY, M(0), "")),
    (["ro", "rw"], ParsedOptions(M(0), M(0), "")),
    (["rbind"], ParsedOptions(M.MS_BIND | M.MS_REC, M(0), "")),
    (["bind", "nosuid", "nodev", "noexec"],
     ParsedOptions(M.MS_BIND | M.MS_NOSUID | M.MS_NODEV | M.MS_NOEXEC, M(0), "")),
    (["nosuid", "suid"], ParsedOptions(M(0), M(0), "")),
    (["rprivate"], ParsedOptions(M(0), M.MS_PRIVATE | M.MS_REC, "")),
    (["shared", "rslave"], ParsedOptions(M(0), M.MS_SLAVE | M.MS_REC, "")),
    (["nosuid", "mode=755", "size=65536k", "relatime"],
     ParsedOptions(M.MS_NOSUID | M.MS_RELATIME, M(0), "mode=755,size=65536k")),
    (["defaults"], ParsedOptions(M(0), M(0), "")),
    ([], ParsedOptions(M(0), M(0), "")),
])
def test_parse_options(options: list[str], expected: ParsedOptions) -> None:
    assert parse_options(options) == expected


def test_every_negation_clears_what_its_word_sets() -> None:
    for word, row in MOUNT_OPTIONS.items():
        if row.clear:
            assert parse_options([row_set_word(row.flag), word]).flags == M(0), word


def row_set_word(flag: MountFlag) -> str:
    return next(w for w, r in MOUNT_OPTIONS.items() if r.flag == flag and not r.clear)


def test_propagation_rows_are_exactly_the_propagation_words() -> None:
    words = {w for w, r in MOUNT_OPTIONS.items() if r.flag & PROPAGATION}
    assert words == {"shared", "rshared", "slave", "rslave", "private", "rprivate",
                     "unbindable", "runbindable"}
    for word in words:
        assert parse_options([word]).flags == M(0)


# -- the recording fake ----------------------------------------------------------------------


def test_fake_records_every_argument_in_order() -> None:
    fake = RecordingSyscalls()
    fake.mount("none", "/m", "tmpfs", M.MS_NOSUID, "size=1m")
    fake.unshare(CloneFlag.CLONE_NEWNS | CloneFlag.CLONE_NEWUTS)
    fake.umount2("/m")
    assert fake.calls == [
        Call("mount", ("none", "/m", "tmpfs", M.MS_NOSUID, "size=1m")),
        Call("unshare", (CloneFlag.CLONE_NEWNS | CloneFlag.CLONE_NEWUTS,)),
        Call("umount2", ("/m", UmountFlag(0))),
    ]


def test_fake_hands_out_predictable_fds_and_scripted_results() -> None:
    fake = RecordingSyscalls(first_fd=10)
    fake.script("fsmount", 42)
    assert [fake.fsopen("overlay"), fake.open_path("/a"), fake.fsmount(10)] == [10, 11, 42]
    assert fake.fsopen("tmpfs") == 12
    fake.script("prctl", 1)
    assert fake.prctl(PrctlOption.PR_GET_NO_NEW_PRIVS) == 1
    assert fake.prctl(PrctlOption.PR_GET_NO_NEW_PRIVS) == 0


def test_fake_raises_kernel_like_errors_then_recovers() -> None:
    fake = RecordingSyscalls()
    fake.fail("fsconfig", errno.EINVAL, path="FSCONFIG_SET_STRING lowerdir+=/x")
    fake.script("move_mount", None)
    with pytest.raises(OSError, match="fsconfig FSCONFIG_SET_STRING lowerdir\\+=/x: Invalid"):
        fake.fsconfig(3, FsconfigCmd.FSCONFIG_SET_STRING, "lowerdir+", "/x")
    fake.fsconfig(3, FsconfigCmd.FSCONFIG_CMD_CREATE)
    assert fake.unused() == {"move_mount": [None]}
    fake.move_mount(4, "", -100, "/m", MoveMountFlag.MOVE_MOUNT_F_EMPTY_PATH)
    assert fake.unused() == {}
    assert fake.names == ["fsconfig", "fsconfig", "move_mount"]
    assert [c.args[1] for c in fake.named("fsconfig")] == [
        FsconfigCmd.FSCONFIG_SET_STRING, FsconfigCmd.FSCONFIG_CMD_CREATE]


def _protocol_methods() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(fn) for name, fn in vars(Syscalls).items()
            if inspect.isfunction(fn) and not name.startswith("_")}


@pytest.mark.parametrize("impl", [LinuxSyscalls, RecordingSyscalls])
def test_implementations_match_the_protocol(impl: type) -> None:
    for name, signature in _protocol_methods().items():
        method = getattr(impl(), name)
        want = [p for p in signature.parameters if p != "self"]
        assert list(inspect.signature(method).parameters) == want, name
