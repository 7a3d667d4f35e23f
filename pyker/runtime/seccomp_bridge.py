"""Seccomp between Docker's profile format and the OCI spec, as dockerd and runc split it.

At spec time (dockerd's side), a Docker JSON profile is resolved for *this* container:
``includes``/``excludes`` decided by its capabilities, the host's architecture and kernel,
``archMap`` reduced to the native arch and its sub-architectures. The spec carries the result
(``linux.seccomp``). At start time (runc's side) that block is compiled to BPF and loaded.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable

from pyker.security.seccomp import load_profile
from pyker.security.seccomp.compiler import MACHINES, applies, running_kernel, target_arches
from pyker.security.seccomp.profile import Action, Arg, Op, Profile, Rule
from pyker.spec.runtime import LinuxSeccomp, LinuxSeccompArg, LinuxSyscall

ALLOWING = (Action.SCMP_ACT_ALLOW, Action.SCMP_ACT_LOG, Action.SCMP_ACT_TRACE)


def spec_seccomp(setting: str, caps: Iterable[str]) -> LinuxSeccomp | None:
    """``--security-opt seccomp=…``: "" Docker's default, "unconfined" none, else a file.

    Raises:
        SeccompProfileError: the file is unreadable or malformed (named).
    """
    if setting == "unconfined":
        return None
    if setting:  # a file: read at each start (it may have changed)
        return _resolve(load_profile(setting), list(caps))
    key = frozenset(caps)
    cached = _DEFAULT.get(key)
    if cached is None:
        cached = _DEFAULT[key] = _resolve(load_profile(None), list(key))
    return cached


# Docker's default profile resolved per capability set: the same for every container of a
# process (the profile, the machine and the kernel do not change under it), and ~1 ms to
# resolve; a fork server's warm-up fills it for its commands.
_DEFAULT: dict[frozenset[str], LinuxSeccomp] = {}


def _resolve(profile: Profile, caps: list[str]) -> LinuxSeccomp:
    native, goarch = MACHINES.get(platform.machine(), ("", ""))
    kernel = running_kernel()
    rules = tuple(
        LinuxSyscall(names=r.names, action=r.action.name, errno_ret=r.errno_ret,
                     args=tuple(LinuxSeccompArg(index=a.index, value=a.value,
                                                value_two=a.value_two, op=a.op.name)
                                for a in r.args))
        for r in profile.syscalls if applies(r, caps=caps, goarch=goarch, kernel=kernel))
    return LinuxSeccomp(default_action=profile.default_action.name,
                        default_errno_ret=profile.default_errno_ret,
                        architectures=tuple(target_arches(profile, native)) if native else (),
                        flags=(), syscalls=rules)


def profile_of(seccomp: LinuxSeccomp) -> Profile:
    """The spec's seccomp block back as a profile the compiler takes."""
    return Profile(
        default_action=Action[seccomp.default_action],
        default_errno_ret=seccomp.default_errno_ret,
        architectures=seccomp.architectures,
        syscalls=tuple(
            Rule(names=s.names, action=Action[s.action], errno_ret=s.errno_ret,
                 args=tuple(Arg(index=a.index, value=a.value, value_two=a.value_two,
                                op=Op[a.op]) for a in s.args))
            for s in seccomp.syscalls),
        source="config.json")


def execve_action(profile: Profile) -> Action:
    """What the profile does to a plain ``execve``: the rule without argument conditions
    that names it, else the default. A container whose profile denies it cannot start."""
    for rule in profile.syscalls:
        if "execve" in rule.names and not rule.args:
            return rule.action
    return profile.default_action
