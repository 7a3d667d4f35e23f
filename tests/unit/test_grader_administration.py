"""The TP 14 checks that need no engine: the student's daemon.json read as pyker reads it, and
the automatic restarts counted in an event journal written on a temporary data root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.context import Context
from grader.exercises import administration as admin
from grader.model import Unmet
from pyker.events import Journal


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    """A context whose labs/ is a temporary directory and whose store variables point
    elsewhere: the checks must take the file's word, not theirs."""
    return Context(env={"PYKER_LAB_DIR": str(tmp_path / "labs"),
                        "PYKER_DATA_ROOT": str(tmp_path / "main-data"),
                        "PYKER_RUN_ROOT": str(tmp_path / "main-run")})


def write(ctx: Context, doc: dict | str) -> Path:
    path = admin.daemon_json(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_a_missing_file_is_not_taken_for_the_defaults(ctx: Context) -> None:
    with pytest.raises(Unmet, match="n'existe pas"):
        admin._config_valid(ctx)


def test_a_file_pyker_refuses_fails_with_pykers_reason(ctx: Context) -> None:
    write(ctx, {"bip": "10.14.0.1"})
    with pytest.raises(Unmet, match="prefix length"):
        admin._config_valid(ctx)


def test_the_right_file_passes_the_public_reads(ctx: Context) -> None:
    write(ctx, {"data-root": str(admin.expected_data_root(ctx)), "bip": "10.14.0.1/24"})
    assert admin._config_valid(ctx).passed
    assert admin._data_root(ctx).passed
    assert admin._bip(ctx).passed


def test_store_variables_do_not_stand_in_for_the_file(ctx: Context) -> None:
    # Without data-root, pyker would use /var/lib/pyker: the check says so, and the store
    # checks refuse to open it.
    write(ctx, {"bip": "10.14.0.1/24"})
    outcome = admin._data_root(ctx)
    assert not outcome.passed and "/var/lib/pyker" in outcome.message
    with pytest.raises(Unmet, match="data-root"):
        admin._student_store(ctx)


def test_another_bip_and_another_root_are_named(ctx: Context, tmp_path: Path) -> None:
    write(ctx, {"data-root": str(tmp_path / "ailleurs"), "bip": "10.15.0.1/24"})
    assert "10.15.0.1/24" in admin._bip(ctx).message
    assert str(tmp_path / "ailleurs") in admin._data_root(ctx).message


def journal_of(tmp_path: Path, actions: list[tuple[str, str, dict[str, str]]]) -> Path:
    journal = Journal.of(tmp_path)
    for at, (action, actor, attributes) in enumerate(actions):
        journal.append("container", action, actor, attributes, clock=lambda at=at: 1000 + at)
    return tmp_path


def test_only_a_failed_exit_followed_by_a_start_counts_as_a_restart(tmp_path: Path) -> None:
    die = ("die", "c1", {"exitCode": "1"})
    root = journal_of(tmp_path, [
        ("create", "c1", {}), ("start", "c1", {}), die, ("start", "c1", {}), die,
        ("start", "c1", {}),
        ("die", "c1", {"exitCode": "0"}), ("start", "c1", {}),   # a clean exit, started by hand
        ("kill", "c1", {}), ("die", "c1", {"exitCode": "143"}), ("stop", "c1", {}),
        ("start", "c2", {}), ("die", "c2", {"exitCode": "1"}), ("start", "c2", {}),  # another
    ])
    restarts, actions = admin._journal_restarts(root, "c1")
    assert restarts == 2
    assert actions == ["create", "start", "die(1)", "start", "die(1)", "start", "die(0)",
                       "start", "kill", "die(143)", "stop"]


def test_a_kill_between_the_exit_and_the_start_is_not_a_restart(tmp_path: Path) -> None:
    root = journal_of(tmp_path, [("start", "c1", {}), ("die", "c1", {"exitCode": "137"}),
                                 ("kill", "c1", {}), ("start", "c1", {})])
    assert admin._journal_restarts(root, "c1")[0] == 0


def test_a_last_failure_counts_when_the_record_says_its_restart_was_decided(
        tmp_path: Path) -> None:
    # RestartCount goes up when the restart is decided; its start comes after the back-off,
    # or never when pyker stop lands in the back-off.
    root = journal_of(tmp_path, [("start", "c1", {}), ("die", "c1", {"exitCode": "1"}),
                                 ("start", "c1", {}), ("die", "c1", {"exitCode": "1"})])
    assert admin._journal_restarts(root, "c1")[0] == 1
    assert admin._journal_restarts(root, "c1", decided=1)[0] == 1   # the policy gave up
    assert admin._journal_restarts(root, "c1", decided=2)[0] == 2


def test_a_stop_in_the_last_back_off_still_shows_the_decided_restarts(tmp_path: Path) -> None:
    # What the solution leaves when its pyker stop lands in the third back-off: three
    # failures, two starts after them, RestartCount 3, no kill (nothing ran to signal).
    die = ("die", "c1", {"exitCode": "1"})
    root = journal_of(tmp_path, [("create", "c1", {}), ("start", "c1", {}), die,
                                 ("start", "c1", {}), die, ("start", "c1", {}), die])
    assert admin._journal_restarts(root, "c1", decided=3)[0] == 3
    assert admin._journal_restarts(root, "c1", decided=0)[0] == 2
