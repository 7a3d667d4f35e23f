"""``inspect``'s ``HostConfig.SecurityOpt``: the ``--security-opt`` values, as Docker keeps them.

The docker CLI sends each option as given, except ``seccomp=FILE``: it reads the file and
sends the profile itself, compacted to one line (``seccomp={"defaultAction":…}``), so the
container keeps the profile it was created with. A file that cannot be read or parsed fails
at create, and no container is made.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

PROFILE = Path(__file__).resolve().parent.parent / "fixtures" / "seccomp" / "default-no-chmod.json"


def _host_config(pk, name: str) -> dict:
    return json.loads(pk.out("inspect", name))[0]["HostConfig"]


def test_security_opt_shows_the_profile_content_and_the_flags(pk):
    pk("create", "--name", "sec", "--security-opt", f"seccomp={PROFILE}",
       "--security-opt", "no-new-privileges", "--security-opt", "apparmor=unconfined",
       "--security-opt", "label=disable", "busybox", "true")
    seccomp, *rest = _host_config(pk, "sec")["SecurityOpt"]
    assert rest == ["no-new-privileges", "apparmor=unconfined", "label=disable"]
    key, _, profile = seccomp.partition("=")
    assert key == "seccomp" and "\n" not in profile and ": " not in profile
    assert json.loads(profile) == json.loads(PROFILE.read_text())
    assert pk.out("inspect", "-f", "{{index .HostConfig.SecurityOpt 1}}", "sec") == \
        "no-new-privileges\n"
    pk("rm", "sec")


def test_named_profiles_stay_names_and_no_option_is_null(pk):
    pk("create", "--name", "named", "--security-opt", "seccomp=unconfined",
       "--security-opt", "no-new-privileges=true", "busybox", "true")
    pk("create", "--name", "builtin", "--security-opt", "seccomp=builtin", "busybox", "true")
    pk("create", "--name", "plain", "busybox", "true")
    assert _host_config(pk, "named")["SecurityOpt"] == ["seccomp=unconfined",
                                                        "no-new-privileges=true"]
    assert _host_config(pk, "builtin")["SecurityOpt"] == ["seccomp=builtin"]
    assert _host_config(pk, "plain")["SecurityOpt"] is None
    pk("start", "-a", "builtin")  # Docker's name for its default profile runs as the default
    pk("rm", "named", "builtin", "plain")


def test_an_unreadable_or_malformed_profile_fails_at_create(pk, tmp_path):
    missing = tmp_path / "nope.json"
    proc = pk("create", "--name", "missing", "--security-opt", f"seccomp={missing}",
              "busybox", "true", check=False)
    assert proc.returncode == 125
    assert proc.stderr.decode() == (f"pyker: opening seccomp profile ({missing}) failed: "
                                    f"open {missing}: no such file or directory\n")
    broken = tmp_path / "broken.json"
    broken.write_text('{"defaultAction": \n')
    proc = pk("create", "--name", "broken", "--security-opt", f"seccomp:{broken}",
              "busybox", "true", check=False)
    assert proc.returncode == 125
    assert proc.stderr.decode().startswith(f"pyker: seccomp profile {broken}: line 2 column 1")
    assert pk.out("ps", "-a", "--format", "{{.Names}}").split() == []
