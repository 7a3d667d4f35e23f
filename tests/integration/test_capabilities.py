"""Capability plans applied for real in a forked child, checked by the kernel's own answer.

The course's TP Cap01: without CAP_CHOWN, ``chown`` fails with EPERM; with only CAP_CHOWN it
works; ``--cap-add chown -u nobody`` still fails, since a non-root user gets the capability in
its bounding set only. ``/proc/self/status`` shows the sets (CapEff, CapBnd...).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from forked import run_in_child

from pyker.security import capabilities as caps

pytestmark = pytest.mark.requires("root")
NOBODY = 65534


def status_sets() -> dict[str, list[str]]:
    with open("/proc/self/status") as f:
        fields = dict(line.rstrip("\n").split(":\t", 1) for line in f if line.startswith("Cap"))
    return {key: caps.decode_mask(value) for key, value in fields.items()}


def try_chown(path: Path) -> str:
    try:
        os.chown(path, NOBODY, NOBODY)
    except OSError as err:
        return errno.errorcode[err.errno]
    return "ok"


@pytest.fixture
def target() -> Iterator[Path]:
    """A root-owned file that nobody can reach (pytest's tmp_path is root's, mode 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="pyker-caps-"))
    directory.chmod(0o755)
    path = directory / "file"
    path.write_text("")
    yield path
    shutil.rmtree(directory)


def test_root_without_chown_gets_eperm(target: Path) -> None:
    def child() -> str:
        caps.apply(caps.plan(caps.resolve([], ["chown"]), uid=0))
        sets = status_sets()
        assert "CAP_CHOWN" not in sets["CapEff"] and "CAP_CHOWN" not in sets["CapBnd"]
        assert sets["CapEff"] == sorted(caps.DOCKER_DEFAULT - {"CAP_CHOWN"},
                                        key=caps.NUMBERS.__getitem__)
        return try_chown(target)
    assert run_in_child(child) == (0, "EPERM")
    assert target.stat().st_uid == 0


def test_root_with_only_chown_can_chown(target: Path) -> None:
    def child() -> str:
        caps.apply(caps.plan(caps.resolve(["CHOWN"], ["ALL"]), uid=0))
        sets = status_sets()
        assert sets["CapEff"] == sets["CapPrm"] == sets["CapBnd"] == ["CAP_CHOWN"]
        assert sets["CapInh"] == sets["CapAmb"] == []
        return try_chown(target)
    assert run_in_child(child) == (0, "ok")
    assert target.stat().st_uid == NOBODY


def test_nobody_with_cap_add_chown_cannot_chown(target: Path) -> None:
    def child() -> str:
        plan = caps.plan(caps.resolve(["chown"], []), uid=NOBODY)
        caps.apply_with_user(plan, NOBODY, NOBODY, [])
        sets = status_sets()
        assert os.getresuid() == (NOBODY,) * 3 and os.getgroups() == []
        assert "CAP_CHOWN" in sets["CapBnd"]
        assert sets["CapEff"] == sets["CapPrm"] == []
        return try_chown(target)
    assert run_in_child(child) == (0, "EPERM")


def test_user_switch_keeps_capabilities_a_plan_grants(target: Path) -> None:
    # Not what Docker does, but the dance must allow it: KEEPCAPS carries permitted across
    # setresuid, then capset makes CAP_CHOWN effective for a non-root uid.
    def child() -> str:
        chown_only = frozenset({"CAP_CHOWN"})
        plan = caps.CapabilityPlan(bounding=chown_only, effective=chown_only,
                                   permitted=chown_only)
        caps.apply_with_user(plan, NOBODY, NOBODY, [])
        assert status_sets()["CapEff"] == ["CAP_CHOWN"]
        return try_chown(target)
    assert run_in_child(child) == (0, "ok")
