"""Docker's JSON seccomp profiles into dataclasses; every error names the file and JSON path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyker.errors import SeccompProfileError
from pyker.security.seccomp import load_profile
from pyker.security.seccomp.profile import Action, Arg, ArchMap, Filter, Op, Profile, Rule, parse

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "seccomp"


def test_parse_every_field() -> None:
    text = json.dumps({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                     "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
        "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "comment": "flags",
             "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        ]})
    assert parse(text, source="p.json") == Profile(
        default_action=Action.SCMP_ACT_ERRNO, default_errno_ret=1,
        arch_map=(ArchMap(architecture="SCMP_ARCH_X86_64",
                          sub_architectures=("SCMP_ARCH_X86", "SCMP_ARCH_X32")),),
        syscalls=(
            Rule(names=("clone",), action=Action.SCMP_ACT_ALLOW, comment="flags",
                 args=(Arg(index=0, value=0x7E020000, value_two=0, op=Op.SCMP_CMP_MASKED_EQ),),
                 excludes=Filter(caps=frozenset({"CAP_SYS_ADMIN"}), arches=frozenset({"s390x"}))),
            Rule(names=("ptrace",), action=Action.SCMP_ACT_ALLOW,
                 includes=Filter(min_kernel=(4, 8))),
            Rule(names=("clone3",), action=Action.SCMP_ACT_ERRNO, errno_ret=38),
        ),
        source="p.json")


def test_kill_is_kill_thread() -> None:
    profile = parse('{"defaultAction": "SCMP_ACT_KILL"}')
    assert profile.default_action is Action.SCMP_ACT_KILL_THREAD


def test_course_profiles_use_the_singular_name() -> None:
    profile = load_profile(FIXTURES / "default-no-chmod.json")
    assert profile.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    names = {name for rule in profile.syscalls for name in rule.names}
    assert "accept" in names and "chmod" not in names and "fchmodat" not in names
    personality = [r for r in profile.syscalls if r.names == ("personality",)]
    assert [r.args[0].value for r in personality] == [0, 8, 0xFFFFFFFF]
    assert load_profile(FIXTURES / "deny.json").syscalls == ()


def test_default_profile_is_dockers() -> None:
    profile = load_profile(None)
    assert profile.default_action is Action.SCMP_ACT_ERRNO
    assert profile.default_errno_ret == 1
    assert profile.arch_map[0].sub_architectures == ("SCMP_ARCH_X86", "SCMP_ARCH_X32")
    assert len(profile.syscalls[0].names) > 300


@pytest.mark.parametrize(("doc", "where", "reason"), [
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [*[{"name": "x", "action":
      "SCMP_ACT_LOG"}] * 3, {"names": ["x"], "action": "SCMP_ACT_FOO"}]},
     "syscalls[3].action", 'unknown action "SCMP_ACT_FOO"'),
    ({}, "defaultAction", "missing"),
    ({"defaultAction": 3}, "defaultAction", "expected an action name, got 3"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "defaultAction", "SCMP_ACT_NOTIFY needs a seccomp"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"],
      "action": "SCMP_ACT_ALLOW"}]}, "syscalls[0].name", "either 'name' or 'names'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"]}]},
     "syscalls[0].action", "missing"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action":
      "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].index", "argument index 6 out of range"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action":
      "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_APPROX"}]}]},
     "syscalls[0].args[0].op", 'unknown operator "SCMP_CMP_APPROX"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action":
      "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].value", "does not fit in 64 bits"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}, "defaultErrnoRet",
     "errno 5000 out of range"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]},
     "architectures[0]", 'unknown architecture "SCMP_ARCH_Z80"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}, "archMap", "cannot both be set"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action":
      "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]},
     "syscalls[0].includes.minKernel", 'invalid kernel version "four"'),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {"names": []}}, "syscalls",
     "expected an array"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [True],
      "action": "SCMP_ACT_ALLOW"}]}, "syscalls[0].names[0]", "expected a syscall name, got true"),
])
def test_errors_name_the_file_and_path(doc: dict, where: str, reason: str) -> None:
    with pytest.raises(SeccompProfileError) as err:
        parse(json.dumps(doc), source="/x.json")
    assert err.value.where == where
    assert str(err.value).startswith(f"seccomp profile /x.json: {where}: ")
    assert reason in str(err.value)


def test_bad_json_names_line_and_column() -> None:
    with pytest.raises(SeccompProfileError) as err:
        parse('{\n  "defaultAction": "SCMP_ACT_ALLOW"\n  "syscalls": []\n}', source="/x.json")
    assert str(err.value) == ("seccomp profile /x.json: line 3 column 3: "
                              "Expecting ',' delimiter")


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SeccompProfileError, match=f"seccomp profile {tmp_path}/nope.json: "
                                                  "cannot read"):
        load_profile(tmp_path / "nope.json")
