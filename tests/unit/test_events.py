"""The event journal (pyker.events): Docker's message shape, appends from several processes,
rotation, replay and following, filters, timestamps, and ``pyker events``' output."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from pyker import events
from pyker.errors import UsageError
from pyker.events import timestamps
from pyker.events.filters import Filters
from pyker.events.journal import CURRENT, PREVIOUS, Journal
from pyker.events.message import Event, Message, pretty, rfc3339_nano_fixed

NANOS = 1_000_000_000
CID = "4f" * 32


class Record:
    """What pyker.events.container reads of a pyker.runtime.state.Record."""

    id = CID
    name = "web"
    image_ref = "busybox"
    options = {"labels": {"tier": "front"}}


@pytest.fixture
def journal(tmp_path):
    return Journal.of(tmp_path)


@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _lines(journal: Journal) -> list[dict]:
    with open(journal.path) as f:
        return [json.loads(line) for line in f]


# -- the message ---------------------------------------------------------------------------


def test_container_event_is_dockers_message(tmp_path):
    doc = events.container(tmp_path, "die", Record(), exitCode="137")
    assert list(doc) == ["status", "id", "from", "Type", "Action", "Actor", "scope", "time",
                         "timeNano"]
    assert doc["Actor"] == {"ID": CID, "Attributes": {"exitCode": "137", "tier": "front",
                                                       "image": "busybox", "name": "web"}}
    assert (doc["status"], doc["id"], doc["from"], doc["Type"], doc["scope"]) == (
        "die", CID, "busybox", "container", "local")
    assert doc["time"] == doc["timeNano"] // NANOS
    assert _lines(Journal.of(tmp_path)) == [doc]


def test_network_and_volume_events_have_no_deprecated_fields(tmp_path):
    net = events.network(tmp_path, "connect", "ab" * 32, "bridge", container_id=CID)
    vol = events.volume(tmp_path, "destroy", "data")
    img = events.image(tmp_path, "untag", "sha256:" + "cd" * 32, "sha256:" + "cd" * 32)
    assert list(net)[:2] == ["Type", "Action"] and "status" not in vol
    assert net["Actor"]["Attributes"] == {"container": CID, "name": "bridge", "type": "bridge"}
    assert vol["Actor"] == {"ID": "data", "Attributes": {"driver": "local"}}
    assert img["status"] == "untag" and "from" not in img  # "from" is a container's image


def test_labels_cannot_override_image_and_name(tmp_path):
    class Labelled(Record):
        options = {"labels": {"name": "spoof", "exitCode": "label wins over extra"}}

    doc = events.container(tmp_path, "die", Labelled(), exitCode="0")
    assert doc["Actor"]["Attributes"] == {"exitCode": "label wins over extra",
                                          "name": "web", "image": "busybox"}


def test_event_round_trips_and_torn_lines_are_skipped(journal):
    journal.append("container", "start", CID, {"name": "web"})
    with open(journal.path, "ab") as f:
        f.write(b'{"status":"die","id":"x","Ty\n')  # a crash mid-write
    journal.append("container", "die", CID, {"exitCode": "0"})
    got = journal.read()
    assert [e.action for e in got] == ["start", "die"]
    assert Event.from_json(got[1].to_json()) == got[1]


def test_emit_never_fails_the_action(tmp_path):
    (tmp_path / "events").write_text("a file where the journal's directory should be")
    assert events.container(tmp_path, "create", Record()) is None
    with pytest.raises(OSError):
        Journal.of(tmp_path).append("container", "create", CID)


def test_pretty_is_the_docker_cli_line(utc):
    event = Event(type="container", action="die", actor_id=CID,
                  attributes={"name": "web", "image": "busybox", "exitCode": "0"},
                  time_nano=1_795_842_000 * NANOS + 123_456_789)
    assert pretty(event) == (f"2026-11-28T05:00:00.123456789Z container die {CID} "
                             "(exitCode=0, image=busybox, name=web)")
    assert pretty(Event(type="volume", action="create", actor_id="v", time_nano=NANOS)) == \
        "1970-01-01T00:00:01.000000000Z volume create v"


def test_local_time_has_its_offset(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        assert rfc3339_nano_fixed(1_795_842_000 * NANOS + 5) == \
            "2026-11-28T06:00:00.000000005+01:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_format_sees_gos_field_names_and_json_sees_dockers():
    from pyker.cli.events import _printer
    from pyker.cli.gotemplate import TemplateError

    event = Event(type="network", action="connect", actor_id="n1",
                  attributes={"name": "bridge", "container": CID}, time_nano=3 * NANOS + 7)
    show = _printer("{{.Type}}|{{.Status}}|{{.ID}}|{{.Actor.ID}}|"
                    "{{.Actor.Attributes.name}}|{{.Time}}|{{.TimeNano}}|{{.Scope}}")
    assert show(event) == "network|||n1|bridge|3|3000000007|local\n"
    assert _printer("{{json .}}")(event) == event.to_json().replace(
        '"Attributes":{"name":"bridge","container":"' + CID + '"}',
        '"Attributes":{"container":"' + CID + '","name":"bridge"}') + "\n"  # Go sorts maps
    assert _printer("json")(event) == _printer("{{json .}}")(event)
    with pytest.raises(TemplateError, match="can't evaluate field Foo"):
        _printer("{{.Foo}}")  # refused before any event, as Docker's CLI does
    assert Message(event).Status == ""


# -- appending, rotating, reading ----------------------------------------------------------


def test_rotation_keeps_two_generations_in_order(tmp_path):
    journal = Journal(tmp_path / "events", max_bytes=2000)
    for i in range(100):
        journal.append("volume", "create", f"v{i:03d}")
    current = os.path.getsize(journal.path)
    previous = os.path.getsize(journal.previous)
    assert current < 2000 and 2000 <= previous < 2000 + 200  # rotated once past the bound
    names = [e.actor_id for e in journal.read()]
    assert names == [f"v{i:03d}" for i in range(100 - len(names), 100)]  # newest, in order
    assert 10 < len(names) < 40
    assert sorted(os.listdir(tmp_path / "events")) == [PREVIOUS, CURRENT, "lock"]


def test_read_bounds_are_inclusive(journal):
    for i in range(5):
        journal.append("volume", "create", f"v{i}", clock=lambda i=i: (10 + i) * NANOS)
    assert [e.actor_id for e in journal.read(since=11 * NANOS, until=13 * NANOS)] == \
        ["v1", "v2", "v3"]
    assert [e.actor_id for e in journal.read(since=14 * NANOS)] == ["v4"]


def _append_many(directory: str, tag: str, count: int) -> None:
    journal = Journal(directory, max_bytes=1 << 30)
    for i in range(count):
        journal.append("container", "exec_start", f"{tag}-{i}", {"pad": "x" * 200})


def test_appends_from_several_processes_stay_whole_and_ordered(tmp_path):
    directory = str(tmp_path / "events")
    pids = []
    for tag in "abcd":
        pid = os.fork()
        if pid == 0:
            try:
                _append_many(directory, tag, 300)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    docs = _lines(Journal(directory))
    assert len(docs) == 1200
    stamps = [d["timeNano"] for d in docs]
    assert stamps == sorted(stamps)  # the clock is read under the lock
    for tag in "abcd":  # each writer's events in its own order
        mine = [d["id"] for d in docs if d["id"].startswith(tag)]
        assert mine == [f"{tag}-{i}" for i in range(300)]


def test_an_append_costs_well_under_a_millisecond(tmp_path):
    events.container(tmp_path, "create", Record())  # the directory made once
    start = time.perf_counter()
    for _ in range(200):
        events.container(tmp_path, "start", Record())
    assert (time.perf_counter() - start) / 200 < 1e-3


# -- following -----------------------------------------------------------------------------


def test_stream_replays_then_follows_until(journal):
    journal.append("volume", "create", "old", clock=lambda: 5 * NANOS)
    journal.append("volume", "create", "before", clock=lambda: time.time_ns() - NANOS)
    now = time.time_ns()
    written = []

    def sleep(_seconds: float) -> None:  # the appender of the followed journal
        if len(written) < 3:
            written.append(journal.append("volume", "create", f"live{len(written)}"))

    got = [e.actor_id for e in journal.stream(since=now - 10 * NANOS, until=now + NANOS,
                                              poll=0, sleep=sleep)]
    assert got == ["before", "live0", "live1", "live2"]


def test_stream_without_since_is_live_only(journal):
    journal.append("volume", "create", "past")
    done = []

    def sleep(_seconds: float) -> None:
        if not done:
            done.append(journal.append("volume", "create", "new"))
        else:
            time.sleep(0.01)

    stream = journal.stream(poll=0, sleep=sleep)
    assert next(stream).actor_id == "new"
    stream.close()


def test_stream_follows_across_rotations(tmp_path):
    """Rotations between two polls, one or two at once: no event lost, none twice; three
    at once replace a generation before it is read (the journal is bounded)."""
    probe = Journal(tmp_path / "probe")
    probe.append("volume", "create", "v0000")
    journal = Journal(tmp_path / "events",  # 20 events a generation
                      max_bytes=20 * os.path.getsize(probe.path))
    names = (f"v{i:04d}" for i in range(10_000))
    bursts = [[next(names) for _ in range(n)] for n in (3, 20, 1, 40, 0, 5, 70)]
    pending = list(bursts)

    def sleep(_seconds: float) -> None:
        for name in pending.pop(0) if pending else ():
            journal.append("volume", "create", name)

    def clock() -> int:  # "until" passes once every burst was written
        return 0 if pending else 2**62

    journal.append("volume", "create", "seed")
    got = [e.actor_id for e in journal.stream(since=0, until=2**61, poll=0, sleep=sleep,
                                              clock=clock)]
    assert got[0] == "seed"
    assert got[1:] == sorted(set(got[1:]))  # once each, in order
    every_but_last = [name for burst in bursts[:-1] for name in burst]
    assert got[1:1 + len(every_but_last)] == every_but_last
    last, burst = got[1 + len(every_but_last):], bursts[-1]
    kept = len(burst) - len(last)  # the generations replaced unread: one gap, whole ones
    head = next(i for i, (a, b) in enumerate(zip(last + [""], burst)) if a != b)
    assert last == burst[:head] + burst[head + kept:]
    assert 0 < kept <= 40 and last[-1] == burst[-1]


def test_stream_reads_a_journal_created_after_it_started(tmp_path):
    journal = Journal(tmp_path / "events")
    fired = []

    def sleep(_seconds: float) -> None:
        if not fired:
            fired.append(journal.append("container", "create", CID))

    stream = journal.stream(poll=0, sleep=sleep)
    assert next(stream).action == "create"
    stream.close()


def test_a_reader_in_another_thread_sees_appends_as_they_come(journal):
    got: list[str] = []
    until = time.time_ns() + 3 * NANOS

    def read() -> None:
        for event in journal.stream(until=until, poll=0.01):
            got.append(event.actor_id)
            if len(got) == 20:
                return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.05)
    for i in range(20):
        journal.append("volume", "create", f"t{i}")
    reader.join(5)
    assert got == [f"t{i}" for i in range(20)]


# -- filters -------------------------------------------------------------------------------


def _ev(event_type: str, action: str, actor: str, **attributes: str) -> Event:
    return Event(type=event_type, action=action, actor_id=actor, attributes=attributes)


WEB_DIE = _ev("container", "die", CID, name="web", image="busybox:1.36", exitCode="0",
              tier="front")
WEB2_START = _ev("container", "start", "9a" * 32, name="web2", image="busybox")
CONNECT = _ev("network", "connect", "ne" * 32, name="bridge", type="bridge", container=CID)
PULL = _ev("image", "pull", "127.0.0.1:5000/app:2.0", name="127.0.0.1:5000/app:2.0")
TAG = _ev("image", "tag", "sha256:" + "ab" * 32, name="busybox:latest")
VOLUME = _ev("volume", "create", "data", driver="local")
ALL = [WEB_DIE, WEB2_START, CONNECT, PULL, TAG, VOLUME]


@pytest.mark.parametrize("specs, kept", [
    ([], ALL),
    (["type=container"], [WEB_DIE, WEB2_START]),
    (["type=network", "type=volume"], [CONNECT, VOLUME]),                   # one key: OR
    (["type=container", "event=die"], [WEB_DIE]),                           # two keys: AND
    (["event=die", "event=connect"], [WEB_DIE, CONNECT]),
    (["container=web"], [WEB_DIE, WEB2_START]),                             # name prefix
    (["container=" + CID[:12]], [WEB_DIE]),                                 # ID prefix
    (["container=b"], [CONNECT, TAG]),      # Docker's quirk: any type, by name or ID
    (["network=bridge"], [CONNECT]),
    (["volume=data"], [VOLUME]),
    (["image=busybox"], [WEB_DIE, WEB2_START, TAG]),                        # tag stripped
    (["image=busybox:1.36"], [WEB_DIE]),
    (["image=127.0.0.1:5000/app"], [PULL]),
    (["label=tier"], [WEB_DIE]),
    (["label=tier=front", "label=exitCode=0"], [WEB_DIE]),                  # labels: AND
    (["label=tier=back"], []),
    (["scope=local", "type=image"], [PULL, TAG]),
    (["scope=swarm"], []),
    (["daemon=x"], []),
])
def test_filters_follow_dockers_rules(specs, kept):
    f = Filters.parse(specs)
    assert [e for e in ALL if f.match(e)] == kept


def test_exec_actions_match_by_prefix():
    event = _ev("container", "exec_start: sh -c date", CID, name="web")
    assert Filters.parse(["event=exec_start"]).match(event)
    assert not Filters.parse(["event=exec"]).match(event)


@pytest.mark.parametrize("spec, message", [
    ("type", "bad format of filter (expected name=value)"),
    ("colour=red", "invalid filter 'colour'"),
])
def test_bad_filters_are_refused(spec, message):
    with pytest.raises(UsageError) as err:
        Filters.parse([spec])
    assert str(err.value) == message


# -- timestamps ----------------------------------------------------------------------------

NOW = 1_795_842_000 * NANOS + 600_000_000


@pytest.mark.parametrize("text, expected", [
    ("10m", NOW // NANOS * NANOS - 600 * NANOS),
    ("1h30m", NOW // NANOS * NANOS - 5400 * NANOS),
    ("1.5s", (NOW - 1_500_000_000) // NANOS * NANOS),   # whole seconds, as Docker
    ("-1m", NOW // NANOS * NANOS + 60 * NANOS),
    ("0", 0),                                           # not a duration: Unix time 0
    ("1700000000", 1_700_000_000 * NANOS),
    ("1700000000.5", 1_700_000_000 * NANOS + 500_000_000),
    ("1700000000.000000001", 1_700_000_000 * NANOS + 1),
    ("2026-11-28T05:00:00Z", 1_795_842_000 * NANOS),
    ("2026-11-28T05:00:00.123456789Z", 1_795_842_000 * NANOS + 123_456_789),
    ("2026-11-28T06:00:00+01:00", 1_795_842_000 * NANOS),
    ("2026-11-28", 1_795_824_000 * NANOS),              # local time: UTC here
    ("2026-11-28T05", 1_795_842_000 * NANOS),
    ("2026-11-28T05:00", 1_795_842_000 * NANOS),
])
def test_timestamps_as_docker_reads_them(utc, text, expected):
    assert timestamps.parse(text, now_ns=NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "10x", "2026-13-40", ""])
def test_bad_timestamps_are_refused(text):
    with pytest.raises(UsageError):
        timestamps.parse(text, now_ns=NOW)


# -- the command ---------------------------------------------------------------------------


def test_command_replays_filters_and_stops_at_until(data_root, capsys, utc):
    from pyker.cli.main import main

    journal = Journal.of(data_root)
    stamps = iter([1_795_842_000 * NANOS + n for n in (1, 2, 3, 2 * NANOS)])
    for action in ("create", "start", "die", "destroy"):
        journal.append("container", action, CID, {"name": "web"}, clock=lambda: next(stamps))
    assert main(["events", "--since", "2026-11-28T05:00:00Z", "--until",
                 "2026-11-28T05:00:01Z", "-f", "event=die", "-f", "event=start"]) == 0
    assert capsys.readouterr().out == (
        f"2026-11-28T05:00:00.000000002Z container start {CID} (name=web)\n"
        f"2026-11-28T05:00:00.000000003Z container die {CID} (name=web)\n")
    assert main(["events", "--since", "2026-11-28T05:00:01Z", "--until",
                 "2026-11-28T05:00:00Z"]) == 125
    assert "cannot be after until time" in capsys.readouterr().err
