"""The last steps before execve: seccomp, user and capabilities, no_new_privs — in runc's order.

Loading a seccomp filter needs CAP_SYS_ADMIN or no_new_privs (seccomp(2)). So, as runc:

* without ``no-new-privileges``: the filter goes in first, while still root with every
  capability, then the user and capability changes run *under* it (Docker's default profile
  allows them);
* with it: the user and capabilities first, then ``PR_SET_NO_NEW_PRIVS``, then the filter,
  as late as possible.

A profile that denies ``execve`` itself (the course's deny-all profile) is refused before
anything is loaded, with a clear message: once such a filter is in, not even the error
report could be written.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyker.kernel.prctl import set_no_new_privs
from pyker.runtime.seccomp_bridge import ALLOWING, execve_action, profile_of
from pyker.security import capabilities
from pyker.kernel.seccomp import seccomp_set_mode_filter
from pyker.security.seccomp import assemble, compile_profile
from pyker.security.seccomp.compiler import LAYOUT
from pyker.spec.runtime import Spec


class InitError(Exception):
    """A setup step of the container's init failed; ``code`` is the exit status to report."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _plan(spec: Spec) -> capabilities.CapabilityPlan:
    caps = spec.process.capabilities
    if caps is None:  # no capabilities block: the process keeps what it has (runc)
        every = capabilities.all_capabilities()
        return capabilities.CapabilityPlan(bounding=every, effective=every, permitted=every)
    return capabilities.CapabilityPlan(
        bounding=frozenset(caps.bounding), effective=frozenset(caps.effective),
        permitted=frozenset(caps.permitted), inheritable=frozenset(caps.inheritable),
        ambient=frozenset(caps.ambient))


def seccomp_program(spec: Spec, cache: Path | None = None) -> bytes | None:
    """The spec's seccomp filter as BPF bytes, compiled once per distinct filter.

    Compiling Docker's default profile costs ~15 ms; the result only depends on the spec's
    seccomp block, the machine, the kernel release (``minKernel`` rules) and the compiler's
    layout, so it is cached under ``cache`` by their hash, and the container's init
    receives ready bytes.
    """
    if spec.linux.seccomp is None:
        return None
    import hashlib
    import json
    import platform

    profile = profile_of(spec.linux.seccomp)
    if execve_action(profile) not in ALLOWING:
        raise InitError(126, f'seccomp profile denies "execve" '
                             f"({execve_action(profile).name}): the container cannot start")
    key = hashlib.sha256(json.dumps([spec.linux.seccomp.to_dict(), platform.machine(),
                                     platform.release(), LAYOUT],
                                    sort_keys=True).encode()).hexdigest()
    path = cache / f"{key}.bpf" if cache is not None else None
    if path is not None and path.is_file():
        return path.read_bytes()
    program = assemble(compile_profile(profile, caps=_plan(spec).bounding))
    if path is not None:
        from pyker.fs.atomic import atomic_write

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, program)
    return program


def drop(spec: Spec, program: bytes | None = None) -> None:
    """Seccomp, user and capabilities for the calling process, in runc's order.

    ``program`` is the filter already compiled (:func:`seccomp_program`); without it the
    spec's seccomp block is compiled here.
    """
    if program is None:
        program = seccomp_program(spec)
    user = spec.process.user
    plan = _plan(spec)
    nnp = spec.process.no_new_privileges
    if program is not None and not nnp:
        seccomp_set_mode_filter(program)
    capabilities.apply_with_user(plan, user.uid, user.gid, user.additional_gids)
    if user.umask is not None:
        os.umask(user.umask)
    if nnp:
        set_no_new_privs()
        if program is not None:
            seccomp_set_mode_filter(program)
