"""Docker's default seccomp profile, shipped as package data, and the profile loader.

``default.json`` is moby's ``profiles/seccomp/default.json`` (commit 00f3d189e420, Apache-2.0,
Copyright Docker, Inc. and the moby authors), unchanged: it allows ~350 syscalls, lets
capabilities unlock more (``mount`` with CAP_SYS_ADMIN...), filters ``clone`` flags and
``personality`` values, and answers everything else with EPERM.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pyker.security.seccomp import profile as _profile
from pyker.security.seccomp.profile import Profile

DEFAULT_SOURCE = "pyker:default.json"


@functools.cache
def default_profile() -> Profile:
    """Docker's default profile, parsed once per process (a frozen value; the fork server
    parses it before it forks, so no ``run`` pays the ~3 ms)."""
    # Read beside this module (setuptools installs it as package data): importlib.resources
    # would cost ~15 ms of imports on every `pyker run`.
    text = (Path(__file__).parent / "default.json").read_text(encoding="utf-8")
    return _profile.parse(text, source=DEFAULT_SOURCE)


def load_profile(path: str | Path | None) -> Profile:
    """The profile at ``path``, or Docker's default for None.

    Raises:
        SeccompProfileError: the file is unreadable or malformed (named, with the JSON path).
    """
    return default_profile() if path is None else _profile.load(path)
