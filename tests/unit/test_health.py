"""Health checks: ``--health-*`` parsing, Docker's merge with the image's HEALTHCHECK, the
probe command, the state transitions and timings (moby daemon/health.go), and where the
state is kept (pyker.runtime.health, pyker.runtime.state)."""

from __future__ import annotations

import argparse
import json

import pytest

from pyker.cli.ps import _match, status_text
from pyker.cli.run_flags import healthcheck, parse_duration
from pyker.errors import UsageError
from pyker.runtime import health
from pyker.runtime.health import Timing, next_interval, record_result
from pyker.runtime.options import RunOptions
from pyker.runtime.state import ContainerStore, Record, State
from pyker.spec.image import Healthcheck

S = 1_000_000_000
MS = 1_000_000


# -- flags ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "ns"), [
    ("30s", 30 * S), ("1m30s", 90 * S), ("500ms", 500 * MS), ("1.5h", 5400 * S), ("0", 0),
    ("0s", 0), ("2us", 2000), ("-1s", -S),
])
def test_go_durations(text, ns):
    assert parse_duration(text, "--health-interval") == ns


@pytest.mark.parametrize(("text", "why"), [
    ("5", 'time: missing unit in duration "5"'),
    ("abc", 'time: invalid duration "abc"'),
    ("3d", 'time: unknown unit "d" in duration "3d"'),
    ("", 'time: invalid duration ""'),
])
def test_bad_duration_names_flag_and_value(text, why):
    with pytest.raises(UsageError) as err:
        parse_duration(text, "--health-timeout")
    assert str(err.value) == f'invalid argument "{text}" for "--health-timeout" flag: {why}'


def _args(**given) -> argparse.Namespace:
    values = {"health_cmd": "", "health_interval": "0s", "health_timeout": "0s",
              "health_start_period": "0s", "health_start_interval": "0s",
              "health_retries": "0", "no_healthcheck": False}
    return argparse.Namespace(**{**values, **given})


def test_no_flag_leaves_the_image_check():
    assert healthcheck(_args()) is None


def test_flags_become_a_shell_form_check_in_nanoseconds():
    check = healthcheck(_args(health_cmd="test -f /tmp/ok", health_interval="200ms",
                              health_timeout="1m30s", health_start_period="2s",
                              health_retries="2"))
    assert check == Healthcheck(test=("CMD-SHELL", "test -f /tmp/ok"), interval=200 * MS,
                                timeout=90 * S, start_period=2 * S, retries=2)


def test_a_timing_flag_alone_keeps_the_image_command():
    assert healthcheck(_args(health_interval="5s")) == Healthcheck(test=(), interval=5 * S)


def test_no_healthcheck_and_its_conflicts():
    assert healthcheck(_args(no_healthcheck=True)) == Healthcheck(test=("NONE",))
    with pytest.raises(UsageError, match="^--no-healthcheck conflicts with --health-\\* options$"):
        healthcheck(_args(no_healthcheck=True, health_retries="3"))


@pytest.mark.parametrize(("given", "message"), [
    ({"health_interval": "-1s"}, "--health-interval cannot be negative"),
    ({"health_retries": "-2"}, "--health-retries cannot be negative"),
    ({"health_start_period": "-5ms"}, "--health-start-period cannot be negative"),
    ({"health_interval": "10us"}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"health_start_interval": "1ns"}, "StartInterval in Healthcheck cannot be less than 1ms"),
    ({"health_retries": "x"}, 'invalid argument "x" for "--health-retries" flag: '
                              'strconv.ParseInt: parsing "x": invalid syntax'),
])
def test_refused_values(given, message):
    with pytest.raises(UsageError) as err:
        healthcheck(_args(**given))
    assert str(err.value) == message


def test_run_options_keep_the_check_across_the_record():
    opts = RunOptions(image="busybox", healthcheck=Healthcheck(test=("CMD", "true"), retries=4))
    assert RunOptions.from_dict(json.loads(json.dumps(opts.to_dict()))) == opts  # as on disk
    assert RunOptions.from_dict(RunOptions(image="busybox").to_dict()).healthcheck is None


# -- configuration ----------------------------------------------------------------------------

IMAGE = Healthcheck(test=("CMD", "curl", "-f", "http://localhost/"), interval=10 * S,
                    timeout=3 * S, start_period=S, retries=5)


def test_effective_is_the_image_check_overridden_field_by_field():
    run = Healthcheck(test=(), interval=200 * MS, retries=2)
    assert health.effective(IMAGE, run) == Healthcheck(
        test=IMAGE.test, interval=200 * MS, timeout=3 * S, start_period=S, retries=2)
    assert health.effective(IMAGE, None) == IMAGE
    assert health.effective(None, run) == run
    assert health.effective(None, None) is None
    assert health.effective(IMAGE, Healthcheck(test=("NONE",))).test == ("NONE",)


def test_probe_command():
    assert health.probe_argv(IMAGE) == ("curl", "-f", "http://localhost/")
    shell_form = Healthcheck(test=("CMD-SHELL", "test -f /ok"))
    assert health.probe_argv(shell_form) == ("/bin/sh", "-c", "test -f /ok")
    assert health.probe_argv(shell_form, ("/bin/ash", "-eo", "pipefail", "-c")) == (
        "/bin/ash", "-eo", "pipefail", "-c", "test -f /ok")
    for nothing in (None, Healthcheck(test=("NONE",)), Healthcheck(test=()),
                    Healthcheck(test=("HTTP", "/")), Healthcheck(test=("CMD",))):
        assert health.probe_argv(nothing) is None


def test_timing_defaults_are_dockers():
    assert Timing.of(Healthcheck(test=("CMD", "true"))) == Timing(
        interval=30 * S, timeout=30 * S, start_period=0, start_interval=5 * S, retries=3)
    assert Timing.of(IMAGE) == Timing(interval=10 * S, timeout=3 * S, start_period=S,
                                      start_interval=5 * S, retries=5)


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0s"), (30 * S, "30s"), (90 * S, "1m30s"), (500 * MS, "500ms"), (3600 * S, "1h0m0s"),
    (1500, "1.5µs"), (999, "999ns"), (S + 250 * MS, "1.25s"), (61 * S + 500 * MS, "1m1.5s"),
])
def test_durations_are_printed_as_go_does(ns, text):
    assert health.go_duration_text(ns) == text


# -- state transitions --------------------------------------------------------------------------

def _result(code: int, n: int = 0) -> dict:
    return {"Start": f"s{n}", "End": f"e{n}", "ExitCode": code, "Output": f"out{n}"}


def test_a_start_resets_status_and_streak_but_keeps_the_log():
    assert health.starting(None) == {"Status": "starting", "FailingStreak": 0, "Log": []}
    old = {"Status": "unhealthy", "FailingStreak": 7, "Log": [_result(1, n) for n in range(5)]}
    assert health.starting(old) == {"Status": "starting", "FailingStreak": 0, "Log": old["Log"]}


def test_retries_failures_make_it_unhealthy_and_a_success_healthy():
    h = health.starting(None)
    h = record_result(h, _result(1), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 1)
    h = record_result(h, _result(1), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 2)
    h = record_result(h, _result(0), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 0)
    h = record_result(h, _result(-1), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 1)


def test_failures_in_the_start_period_count_only_after_a_success():
    h = health.starting(None)
    for _ in range(4):
        h = record_result(h, _result(1), retries=1, in_start_period=True)
    assert (h["Status"], h["FailingStreak"], len(h["Log"])) == ("starting", 0, 4)
    h = record_result(h, _result(0), retries=1, in_start_period=True)
    h = record_result(h, _result(1), retries=1, in_start_period=True)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 1)


def test_the_log_keeps_the_last_five_results():
    h = health.starting(None)
    for n in range(8):
        h = record_result(h, _result(n % 2, n), retries=3, in_start_period=False)
    assert [entry["End"] for entry in h["Log"]] == ["e3", "e4", "e5", "e6", "e7"]


def test_a_stop_says_unhealthy_and_keeps_the_rest():
    h = {"Status": "healthy", "FailingStreak": 0, "Log": [_result(0)]}
    assert health.stopped(h) == {**h, "Status": "unhealthy"}


def test_next_probe_time():
    t = Timing(interval=30 * S, start_period=60 * S, start_interval=5 * S)
    assert next_interval(t, 0, "starting") == 5 * S        # start interval while starting
    assert next_interval(t, 0, "healthy") == 30 * S        # a success ends that
    assert next_interval(t, 40 * S, "starting") == 20 * S  # never past the period's end
    assert next_interval(t, 60 * S, "starting") == 30 * S
    assert next_interval(Timing(interval=200 * MS), 0, "starting") == 200 * MS


# -- where it is kept and shown -------------------------------------------------------------------

def _record(status: str = "running", health_doc: dict | None = None) -> Record:
    return Record(id="c" * 64, name="web", image_id="sha256:" + "0" * 64, image_ref="busybox",
                  created="2024-01-01T00:00:00Z", path="sleep", args=("1000",),
                  state=State(status=status, started_at="2024-01-01T00:00:00Z", health=health_doc))


def test_ps_status_and_health_filter():
    starting = _record(health_doc={"Status": "starting", "FailingStreak": 0, "Log": []})
    assert status_text(starting).endswith(" (health: starting)")
    assert status_text(_record(health_doc={"Status": "healthy"})).endswith(" (healthy)")
    assert status_text(_record(health_doc={"Status": "unhealthy"})).endswith(" (unhealthy)")
    assert "(" not in status_text(_record())
    assert "health" not in status_text(_record("paused", {"Status": "healthy"}))
    assert _match(starting, "health=starting") and not _match(starting, "health=healthy")
    assert _match(_record(), "health=none")
    with pytest.raises(UsageError, match="^Unrecognised filter value for health: sick$"):
        _match(starting, "health=sick")


def test_the_monitor_writes_health_beside_the_record(tmp_path):
    store = ContainerStore(tmp_path)
    record = _record(health_doc={"Status": "starting", "FailingStreak": 0, "Log": []})
    store.save(record)
    latest = {"Status": "healthy", "FailingStreak": 0, "Log": [_result(0)]}
    store.set_health(record.id, latest)
    assert store.load_raw(record.id).state.health == latest
    # Another writer's read-modify-write of the record keeps it, and loses nothing of its own.
    store.update_state(record.id, status="paused")
    assert store.load_raw(record.id).state == State(
        status="paused", started_at="2024-01-01T00:00:00Z", health=latest)
    store.set_health("gone", latest)  # a removed container's directory: nothing to write


def test_a_record_without_a_check_reads_no_health_file(tmp_path):
    store = ContainerStore(tmp_path)
    store.save(_record())
    (tmp_path / ("c" * 64) / "health.json").write_text("{}")
    assert store.load_raw("c" * 64).state.health is None
