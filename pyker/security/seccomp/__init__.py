"""seccomp: Docker's JSON profiles compiled to the BPF filter the kernel runs on every syscall.

A container's init loads the filter just before execve, after no_new_privs is set (or while
it still has CAP_SYS_ADMIN): from then on each syscall is allowed, failed with an errno,
trapped or kills the process, as the profile says. ``--security-opt seccomp=unconfined``
skips it; ``--privileged`` too.

    profile = load_profile(None)                      # Docker's default
    install(profile, caps=capabilities.DOCKER_DEFAULT)

Modules: :mod:`.profile` (JSON → dataclasses), :mod:`.compiler` (→ BPF), :mod:`.bpf`
(instructions, ``assemble``, ``dump``), :mod:`.default` (Docker's profile), the generated
``syscalls_<arch>`` tables. See seccomp(2), prctl(2) ``PR_SET_NO_NEW_PRIVS``.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable

from pyker.kernel.seccomp import SeccompFilterFlag
from pyker.security.seccomp.bpf import Insn, assemble, dump
from pyker.security.seccomp.compiler import compile_profile
from pyker.security.seccomp.default import default_profile, load_profile
from pyker.security.seccomp.profile import Profile
from pyker.security.syscalls import LinuxSecuritySyscalls, SecuritySyscalls

__all__ = ["Insn", "Profile", "assemble", "compile_profile", "default_profile", "dump",
           "install", "load_profile"]


def install(profile: Profile, *, caps: Iterable[str], syscalls: SecuritySyscalls | None = None,
            flags: SeccompFilterFlag = SeccompFilterFlag(0)) -> list[Insn]:
    """Compile ``profile`` for this host and load it on the calling thread; returns the program.

    The caller must have set no_new_privs (``prctl.set_no_new_privs()``) or still hold
    CAP_SYS_ADMIN, otherwise the kernel answers EACCES.

    Raises:
        SeccompError: the profile cannot be compiled for this machine.
        OSError: seccomp(2) refused the program (EACCES, EINVAL), naming the call.
    """
    program = compile_profile(profile, caps=caps, machine=platform.machine())
    (syscalls or LinuxSecuritySyscalls()).seccomp_set_mode_filter(assemble(program), flags)
    return program
