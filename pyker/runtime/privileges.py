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

from pyker.kernel.prctl import set_no_new_privs
from pyker.runtime.seccomp_bridge import ALLOWING, execve_action, profile_of
from pyker.security import capabilities
from pyker.security.seccomp import install
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


def drop(spec: Spec) -> None:
    profile = profile_of(spec.linux.seccomp) if spec.linux.seccomp else None
    if profile is not None and execve_action(profile) not in ALLOWING:
        raise InitError(126, f'seccomp profile denies "execve" '
                             f"({execve_action(profile).name}): the container cannot start")
    user = spec.process.user
    plan = _plan(spec)
    nnp = spec.process.no_new_privileges
    if profile is not None and not nnp:
        install(profile, caps=plan.bounding)
    capabilities.apply_with_user(plan, user.uid, user.gid, user.additional_gids)
    if user.umask is not None:
        os.umask(user.umask)
    if nnp:
        set_no_new_privs()
        if profile is not None:
            install(profile, caps=plan.bounding)
