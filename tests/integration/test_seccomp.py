"""seccomp filters on the real kernel, each loaded in a forked child (filters cannot be removed).

Loading a filter needs no_new_privs (or CAP_SYS_ADMIN), which the child sets first, as the
container's init does.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import signal
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from forked import ChildResult, run_in_child

from pyker.kernel import prctl
from pyker.kernel.namespaces import CloneFlag, unshare
from pyker.security import seccomp
from pyker.security.capabilities import DOCKER_DEFAULT
from pyker.security.seccomp.profile import Profile, parse

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "seccomp"
pytestmark = pytest.mark.requires("seccomp")


def confined(profile: Profile, action: Callable[[], object],
             caps: Iterable[str] = DOCKER_DEFAULT) -> ChildResult:
    def child() -> object:
        prctl.set_no_new_privs()
        seccomp.install(profile, caps=caps)
        return action()
    return run_in_child(child)


def errno_of(fn: Callable[[], object]) -> Callable[[], str]:
    """The errno ``fn`` fails with, or "ok"."""
    def wrapped() -> str:
        try:
            fn()
        except OSError as err:
            return errno.errorcode[err.errno]
        return "ok"
    return wrapped


def profile(default: str, *rules: dict, **extra: object) -> Profile:
    return parse(json.dumps({"defaultAction": default, "syscalls": list(rules), **extra}))


def test_errno_action_fails_mkdir_only(tmp_path: Path) -> None:
    denied = profile("SCMP_ACT_ALLOW", {"names": ["mkdir", "mkdirat"],
                                         "action": "SCMP_ACT_ERRNO"})

    def act() -> str:
        (tmp_path / "file").write_text("still works")
        return errno_of(lambda: os.mkdir(tmp_path / "dir"))() + " " + os.listdir(tmp_path)[0]
    assert confined(denied, act) == (0, "EPERM file")
    assert not (tmp_path / "dir").exists()


def test_errno_ret_picks_the_errno(tmp_path: Path) -> None:
    denied = profile("SCMP_ACT_ALLOW", {"names": ["mkdir", "mkdirat"],
                                         "action": "SCMP_ACT_ERRNO", "errnoRet": 13})
    assert confined(denied, errno_of(lambda: os.mkdir(tmp_path / "d"))) == (0, "EACCES")


def test_kill_action_dies_by_sigsys() -> None:
    killer = profile("SCMP_ACT_ALLOW", {"names": ["getpid"], "action": "SCMP_ACT_KILL"})
    result = confined(killer, os.getpid)
    assert result.status == -signal.SIGSYS
    assert result.shell_status == 159  # what the course shows: 128 + 31


def test_course_no_chmod_profile_denies_chmod(tmp_path: Path) -> None:
    target = tmp_path / "x"
    target.write_text("")
    no_chmod = seccomp.load_profile(FIXTURES / "default-no-chmod.json")
    assert confined(no_chmod, errno_of(lambda: os.chmod(target, 0o777))) == (0, "EPERM")
    assert confined(seccomp.load_profile(None),
                    errno_of(lambda: os.chmod(target, 0o777))) == (0, "ok")
    assert target.stat().st_mode & 0o777 == 0o777


def test_deny_all_cannot_even_exec() -> None:
    deny = seccomp.load_profile(FIXTURES / "deny.json")
    result = confined(deny, lambda: os.execv("/bin/true", ["true"]))
    assert "PermissionError: [Errno 1] Operation not permitted" in result.output
    # exit_group is denied too: glibc's _exit ends on a faulting instruction (hlt on x86_64:
    # SIGSEGV; brk on aarch64: SIGTRAP).
    assert result.status in (-signal.SIGSEGV, -signal.SIGTRAP)


def test_argument_filter_on_personality() -> None:
    only_query = profile("SCMP_ACT_ALLOW", {
        "names": ["personality"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_NE"}]})

    def act() -> str:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.personality.argtypes = [ctypes.c_ulong]
        query = libc.personality(0xFFFFFFFF)
        change = libc.personality(0x0040000)  # READ_IMPLIES_EXEC
        return f"{query >= 0} {change} {errno.errorcode[ctypes.get_errno()]}"
    assert confined(only_query, act) == (0, "True -1 EPERM")


@pytest.mark.requires("root")
def test_default_profile_forbids_unshare_without_sys_admin() -> None:
    new_uts = errno_of(lambda: unshare(CloneFlag.CLONE_NEWUTS))
    default = seccomp.load_profile(None)
    assert confined(default, new_uts, caps=DOCKER_DEFAULT) == (0, "EPERM")
    assert confined(default, new_uts, caps=DOCKER_DEFAULT | {"CAP_SYS_ADMIN"}) == (0, "ok")


@pytest.mark.requires("root")
@pytest.mark.skipif(platform.machine() != "x86_64", reason="raw clone(2) number is x86_64's")
def test_default_profile_masks_clone_flags_without_sys_admin() -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def clone_newuser() -> str:
        # raw clone(CLONE_NEWUSER|SIGCHLD): the flags are argument 0, checked by MASKED_EQ.
        libc.syscall.restype = ctypes.c_long
        pid = libc.syscall(ctypes.c_long(56), ctypes.c_long(0x10000000 | signal.SIGCHLD),
                           *[ctypes.c_long(0)] * 4)
        if pid == 0:
            os._exit(0)
        if pid < 0:
            return errno.errorcode[ctypes.get_errno()]
        os.waitpid(pid, 0)
        return "ok"
    def plain_fork() -> str:
        pid = os.fork()  # clone(SIGCHLD|CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID): no namespace
        if pid == 0:
            os._exit(7)
        return str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))

    default = seccomp.load_profile(None)
    assert confined(default, clone_newuser) == (0, "EPERM")
    assert confined(default, plain_fork) == (0, "7")
