"""Logging drivers without a container: options and Docker's messages, the rotation rule,
the ``local`` format, and the readers across rotated files (all in ``tmp_path``)."""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from pyker.errors import UsageError
from pyker.runtime import logdrivers, logs
from pyker.runtime.logdrivers import files, local, options
from pyker.runtime.logdrivers.journald import JournalWriter, field, sanitize_key

INFO = logdrivers.Info(container_id="ab" * 32, name="web", image_name="busybox",
                       image_id="sha256:" + "cd" * 32, labels={"team": "a", "tier": "b"},
                       env=("APP=1", "REGION=eu", "OTHER=x"))


def writer(tmp_path: Path, driver: str = "json-file", **opts: str):
    return logdrivers.writer(driver, opts, tmp_path, INFO)


def json_log(tmp_path: Path) -> Path:
    return logdrivers.json_path(tmp_path)


# -- options ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "size"), [
    ("10k", 10_000), ("10K", 10_000), ("1m", 1_000_000), ("2g", 2 * 10 ** 9), ("512", 512),
    ("10kb", 10_000), ("10KiB", 10_000), ("1.5m", 1_500_000), ("3 m", 3_000_000)])
def test_max_size_takes_dockers_decimal_units(text: str, size: int) -> None:
    assert options.parse_size(text) == size


@pytest.mark.parametrize(("driver", "opts", "message"), [
    ("x", {}, "logger: no log driver named 'x' is registered"),
    ("json-file", {"foo": "1"}, "unknown log opt 'foo' for json-file log driver"),
    ("local", {"foo": "1"}, "unknown log opt 'foo' for log driver local"),
    ("journald", {"max-size": "1m"}, "unknown log opt 'max-size' for journald log driver"),
    ("json-file", {"max-size": "abc"}, "invalid size: 'abc'"),
    ("json-file", {"max-size": "0"}, "max-size must be a positive number"),
    ("json-file", {"max-file": "0"}, "max-file cannot be less than 1"),
    ("json-file", {"max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
    ("json-file", {"max-file": "3", "compress": "true"},
     "compress cannot be true when max-file is less than 2 or max-size is not set"),
    ("json-file", {"max-size": "1m", "compress": "yes"},
     'strconv.ParseBool: parsing "yes": invalid syntax'),
    ("local", {"max-file": "1"}, "compression cannot be enabled when max file count is 1"),
    ("local", {"max-size": "x"}, "invalid value for max-size: x: invalid size: 'x'"),
    ("json-file", {"mode": "fast"}, "logger: logging mode not supported: fast"),
    ("json-file", {"max-buffer-size": "4m"},
     "logger: max-buffer-size option is only supported with 'mode=non-blocking'"),
    ("json-file", {"tag": "{{.Nope}}"}, "can't evaluate field Nope"),
])
def test_bad_driver_or_option_says_what_docker_says(driver: str, opts: dict[str, str],
                                                    message: str) -> None:
    with pytest.raises(UsageError) as err:
        logdrivers.validate(driver, opts)
    assert message in str(err.value)


def test_good_options_pass() -> None:
    for driver, opts in [("json-file", {"max-size": "10k", "max-file": "3", "compress": "1",
                                        "labels": "a", "env": "B", "tag": "{{.Name}}"}),
                         ("local", {}), ("local", {"max-file": "1", "compress": "false"}),
                         ("none", {"anything": "goes"}), ("journald", {"tag": "x"}),
                         ("json-file", {"mode": "non-blocking", "max-buffer-size": "4m"})]:
        logdrivers.validate(driver, opts)


def test_file_defaults_per_driver() -> None:
    assert options.file_options("json-file", {}) == options.FileOptions(
        max_size=-1, max_file=1, compress=False)
    assert options.file_options("local", {}) == options.FileOptions(
        max_size=20_000_000, max_file=5, compress=True)


def test_resolve_merges_the_daemon_defaults_only_for_its_driver() -> None:
    daemon = {"default_driver": "local", "default_opts": {"max-size": "5k", "max-file": "2"}}
    assert logdrivers.resolve("", {}, **daemon) == ("local", {"max-size": "5k", "max-file": "2"})
    assert logdrivers.resolve("", {"max-file": "3"}, **daemon) == (
        "local", {"max-size": "5k", "max-file": "3"})
    assert logdrivers.resolve("json-file", {}, **daemon) == ("json-file", {})
    assert logdrivers.resolve("", {}) == ("json-file", {})


def test_journald_without_its_socket_fails_at_create(tmp_path: Path, monkeypatch) -> None:
    from pyker.runtime.logdrivers import journald

    monkeypatch.setattr(journald, "SOCKET", tmp_path / "no-socket")
    with pytest.raises(UsageError, match="failed to initialize logging driver: journald is "
                                         "not enabled on this host"):
        logdrivers.resolve("journald", {})


def test_log_opt_flags_and_old_records() -> None:
    assert logdrivers.parse_log_opts(["max-size=10k", "tag=a=b", "bare"]) == {
        "max-size": "10k", "tag": "a=b", "bare": ""}
    assert logdrivers.config_of({}) == ("json-file", {})
    assert logdrivers.config_of({"log_driver": "local", "log_opts": {"max-file": "2"}}) == (
        "local", {"max-file": "2"})


def test_run_options_record_round_trip_keeps_old_records_readable() -> None:
    from pyker.runtime.options import RunOptions

    opts = RunOptions(image="busybox", log_driver="local", log_opts={"max-size": "1m"})
    again = RunOptions.from_dict(json.loads(json.dumps(opts.to_dict())))
    assert (again.log_driver, again.log_opts) == ("local", {"max-size": "1m"})
    old = {k: v for k, v in opts.to_dict().items() if not k.startswith("log_")}
    assert (RunOptions.from_dict(old).log_driver, RunOptions.from_dict(old).log_opts) == ("", {})


def test_tags_and_attributes() -> None:
    assert logdrivers.tag("{{.ID}}/{{.Name}}/{{ .ImageName }}/{{.ImageID}}", INFO) == (
        "abababababab/web/busybox/cdcdcdcdcdcd")
    assert options.extra_attributes({"labels": "team", "env-regex": "^RE"}, INFO) == {
        "team": "a", "REGION": "eu"}


# -- the rotation rule ----------------------------------------------------------------------

def test_rotation_keeps_max_file_files_each_passing_max_size_by_at_most_one_entry(
        tmp_path: Path) -> None:
    log = writer(tmp_path, **{"max-size": "1k", "max-file": "3"})
    for i in range(500):
        log.write("stdout", f"line {i}\n".encode())
    log.close()
    path = json_log(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([path.name, path.name + ".1", path.name + ".2"])
    for rotated in logs.rotated(path):
        lines = rotated.read_bytes().splitlines(keepends=True)
        size = rotated.stat().st_size
        # Docker's rule: rotate before an entry once the file has reached max-size.
        assert size - len(lines[-1]) < 1000 <= size
    entries = logs.read(path)
    numbers = [int(e.log.split()[1]) for e in entries]
    assert numbers == list(range(numbers[0], 500))  # oldest dropped, none lost in between
    assert [e.log for e in logs.read(path, tail=5)] == [f"line {i}\n" for i in range(495, 500)]


def test_a_long_entry_goes_whole_into_one_file(tmp_path: Path) -> None:
    rotating = files.RotatingFile(tmp_path / "x.log", max_size=100, max_file=2)
    rotating.append([b"a" * 60, b"b" * 60, b"c" * 500, b"d" * 10])
    rotating.close()
    assert (tmp_path / "x.log.1").read_bytes() == b"c" * 500
    assert (tmp_path / "x.log").read_bytes() == b"d" * 10


def test_max_file_one_starts_afresh(tmp_path: Path) -> None:
    rotating = files.RotatingFile(tmp_path / "x.log", max_size=10, max_file=1)
    rotating.append([b"0123456789", b"new"])
    rotating.close()
    assert [p.name for p in tmp_path.iterdir()] == ["x.log"]
    assert (tmp_path / "x.log").read_bytes() == b"new"


def test_compress_gzips_the_rotated_files(tmp_path: Path) -> None:
    log = writer(tmp_path, **{"max-size": "1k", "max-file": "3", "compress": "true"})
    for i in range(200):
        log.write("stdout", f"line {i}\n".encode())
    log.close()
    path = json_log(tmp_path)
    assert [p.name for p in logs.rotated(path)] == [path.name + ".2.gz", path.name + ".1.gz"]
    assert b'"log":"line ' in gzip.decompress((tmp_path / (path.name + ".1.gz")).read_bytes())
    numbers = [int(e.log.split()[1]) for e in logs.read(path)]
    assert numbers == list(range(numbers[0], 200))
    assert logs.read(path, tail=40)[-1].log == "line 199\n"


def test_reopening_appends_and_counts_the_size_already_there(tmp_path: Path) -> None:
    for _ in range(2):  # a restarted container: a new writer on the same files
        log = writer(tmp_path, **{"max-size": "200", "max-file": "2"})
        log.write("stdout", b"x" * 150 + b"\n")
        log.close()
    assert len(logs.rotated(json_log(tmp_path))) == 1


# -- json-file records ----------------------------------------------------------------------

def test_json_records_are_dockers(tmp_path: Path) -> None:
    log = writer(tmp_path, labels="team", env="APP", tag="{{.Name}}")
    log.write("stderr", "héllo\nwor".encode())
    log.write("stderr", b"ld\n")
    log.close()
    lines = json_log(tmp_path).read_bytes().splitlines()
    first = json.loads(lines[0])
    assert first["log"] == "héllo\n" and first["stream"] == "stderr"
    assert first["attrs"] == {"team": "a", "APP": "1", "tag": "web"}
    assert lines[0].startswith(b'{"log":"h\\u00e9llo\\n","stream":"stderr","attrs":{')
    assert len(first["time"]) == 30 and first["time"].endswith("Z")
    assert json.loads(lines[1])["log"] == "world\n"


def test_plain_writer_keeps_its_old_format(tmp_path: Path) -> None:
    log = logs.LogWriter(tmp_path / "x.log")
    log.write("stdout", b"a\nb")
    log.close()
    assert [(e.log, e.stream) for e in logs.read(tmp_path / "x.log")] == [
        ("a\n", "stdout"), ("b", "stdout")]


def test_stamps() -> None:
    assert logs.stamp_of_ns(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"
    assert logs.stamp_of_ns(1_700_000_001_000_000_001) == "2023-11-14T22:13:21.000000001Z"
    assert logs.rfc3339_nano(1_700_000_000.5) == "2023-11-14T22:13:20.500000000Z"


# -- local --------------------------------------------------------------------------------

def test_local_records_are_protobuf_between_lengths() -> None:
    data = local.record("stdout", b"hi\n")
    size = struct.unpack(">I", data[:4])[0]
    assert data[-4:] == data[:4] and len(data) == size + 8
    body = data[4:-4]
    assert body.startswith(b"\x0a\x06stdout\x10") and body.endswith(b"\x1a\x02hi")
    entry = local.decode(body)
    assert (entry.log, entry.stream) == ("hi\n", "stdout")
    partial = local.decode(local.record("stderr", b"no newline")[4:-4])
    assert (partial.log, partial.stream) == ("no newline", "stderr")
    with_attrs = local.record("stdout", b"x\n", local.attrs_field({"k": "v"}))
    assert with_attrs[4:-4].endswith(b"\x32\x06\x0a\x01k\x12\x01v")
    assert local.decode(with_attrs[4:-4]).log == "x\n"


def test_local_driver_rotates_and_reads_back(tmp_path: Path) -> None:
    log = writer(tmp_path, "local", **{"max-size": "2k"})
    for i in range(1000):
        log.write("stdout" if i % 2 else "stderr", f"entry {i}\n".encode())
    log.close()
    path = logdrivers.local_path(tmp_path)
    assert len(logs.rotated(path)) == 4  # max-file 5 by default, the rotated ones gzipped
    assert all(p.suffix == ".gz" for p in logs.rotated(path))
    reader = logdrivers.FileReader(path, local.LOCAL)
    tail = reader.read(tail=3)
    assert [(e.log, e.stream) for e in tail] == [
        ("entry 997\n", "stdout"), ("entry 998\n", "stderr"), ("entry 999\n", "stdout")]
    numbers = [int(e.log.split()[1]) for e in reader.read()]
    assert numbers == list(range(numbers[0], 1000))


def test_local_codec_leaves_a_torn_record_for_later() -> None:
    whole = local.record("stdout", b"one\n") + local.record("stdout", b"two\n")
    torn = whole + local.record("stdout", b"three\n")[:7]
    entries, rest = local.LOCAL.split(torn)
    assert [e.log for e in entries] == ["one\n", "two\n"] and len(rest) == 7
    assert [e.log for e in local.LOCAL.last(torn, 1)] == ["two\n"]
    assert local.LOCAL.complete(torn) == len(whole)


# -- readers across rotation ----------------------------------------------------------------

def test_since_filters_across_files(tmp_path: Path) -> None:
    log = writer(tmp_path, **{"max-size": "300", "max-file": "4"})
    for i in range(3):
        log.write("stdout", f"early {i}\n".encode())
    time.sleep(0.01)
    mark = logs.now_stamp()
    for i in range(5):
        log.write("stdout", f"late {i}\n".encode())
    log.close()
    assert [e.log for e in logs.read(json_log(tmp_path), since=mark)] == [
        f"late {i}\n" for i in range(5)]


def test_follow_goes_on_across_rotations(tmp_path: Path) -> None:
    """A reader holding the current file while it is rotated several times (it fell
    behind): every line once, in order, plain or compressed rotated files."""
    for compress in ("false", "true"):
        directory = tmp_path / compress
        directory.mkdir()
        log = writer(directory, **{"max-size": "500", "max-file": "5", "compress": compress})
        log.write("stdout", b"before\n")
        reader = logdrivers.FileReader(json_log(directory))
        assert [e.log for e in reader.read()] == ["before\n"]
        closed = []
        lines = reader.follow(start=reader.end(), running=lambda: not closed, interval=0.01)
        for i in range(3):
            log.write("stdout", f"n {i}\n".encode())
        got = [next(lines).log for _ in range(3)]  # the reader now holds the first file
        for i in range(3, 30):  # rotated three or four times meanwhile
            log.write("stdout", f"n {i}\n".encode())
        assert 3 <= len(logs.rotated(json_log(directory))) <= 4
        got += [next(lines).log for _ in range(20)]
        for i in range(30, 40):  # and more while it reads the new current file
            log.write("stdout", f"n {i}\n".encode())
        log.close()
        closed.append(True)
        got += [e.log for e in lines]
        assert got == [f"n {i}\n" for i in range(40)], compress


def test_follow_in_a_thread_while_writing(tmp_path: Path) -> None:
    log = writer(tmp_path, **{"max-size": "2k", "max-file": "5"})
    reader = logdrivers.FileReader(json_log(tmp_path))
    start = reader.end()
    done = threading.Event()

    def produce() -> None:
        for i in range(200):
            log.write("stdout", f"n {i}\n".encode())
            if i % 10 == 0:
                time.sleep(0.01)
        log.close()
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    got = [e.log for e in reader.follow(start=start, running=lambda: not done.is_set(),
                                        interval=0.02)]
    thread.join()
    assert got == [f"n {i}\n" for i in range(200)]


def test_follow_from_a_read_made_before_a_rotation(tmp_path: Path) -> None:
    log = writer(tmp_path, **{"max-size": "100", "max-file": "3"})
    log.write("stdout", b"a" * 20 + b"\n")
    reader = logdrivers.FileReader(json_log(tmp_path))
    reader.read()
    start = reader.end()
    log.write("stdout", b"b" * 80 + b"\n")  # the read file reaches max-size
    log.write("stdout", b"c\n")             # and rotates before this one
    log.close()
    assert [e.log[0] for e in reader.follow(start=start, running=lambda: False)] == ["b", "c"]


def test_follow_a_file_rotated_between_its_opening_and_the_listing(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """The race the course VM hit under load: the reader opens the new current file, the
    writer rotates it before the reader lists the rotated files, and the reader finds it
    there too. Its entries are given once."""
    log = writer(tmp_path, **{"max-size": "1000", "max-file": "4", "compress": "true"})
    written = iter(range(1000))

    def write(count: int) -> None:
        for _ in range(count):
            log.write("stdout", f"n {next(written)}\n".encode())

    write(1)
    reader = logdrivers.FileReader(json_log(tmp_path))
    reader.read()
    closed: list[bool] = []
    lines = reader.follow(start=reader.end(), running=lambda: not closed, interval=0.01)
    write(3)
    got = [next(lines).log for _ in range(3)]  # the reader holds the first file
    real_replaced = logs._replaced

    def rotate_right_after(f, path):
        newer = real_replaced(f, path)
        if newer is not None:  # the writer fills and rotates the file just opened
            monkeypatch.setattr(logs, "_replaced", real_replaced)
            write(20)
        return newer

    monkeypatch.setattr(logs, "_replaced", rotate_right_after)
    write(15)  # the first file fills up and rotates
    got += [next(lines).log for _ in range(35)]  # and 20 more in the race
    log.close()
    closed.append(True)
    got += [e.log for e in lines]
    assert logs._replaced is real_replaced  # the race was played
    assert got == [f"n {i}\n" for i in range(1, next(written))]


def test_rotated_lists_every_file_even_mid_rotation(tmp_path: Path) -> None:
    path = tmp_path / "x-json.log"
    for name in ("x-json.log", "x-json.log.3.gz", "x-json.log.4.gz.tmp", "x-json.log.2",
                 "x-json.log.2.gz", "x-json.logs.1", "other.log.1"):
        (tmp_path / name).write_bytes(b"")
    # .1 is missing for an instant (.1.gz moved to .2.gz, x-json.log not yet renamed).
    assert [p.name for p in logs.rotated(path)] == ["x-json.log.3.gz", "x-json.log.2"]


def test_follow_started_while_the_file_is_being_rotated(tmp_path: Path) -> None:
    log = writer(tmp_path, **{"max-size": "100", "max-file": "3"})
    log.write("stdout", b"a" * 90 + b"\n")
    log.close()
    path = json_log(tmp_path)
    reader = logdrivers.FileReader(path)
    reader.read()
    start = reader.end()
    path.rename(path.with_name(path.name + ".1"))  # renamed; the new file is not there yet
    timer = threading.Timer(0.05, lambda: path.write_bytes(
        logs.json_record("stdout", b"after\n")))
    timer.start()
    got = [e.log for e in reader.follow(start=start, running=timer.is_alive, interval=0.01)]
    assert got == ["after\n"]


def test_none_and_readers() -> None:
    class Record:
        id, name, image_id, image_ref = "ab" * 32, "x", "", "busybox"
        options = {"log_driver": "none"}

    with pytest.raises(logdrivers.LogsNotSupported) as err:
        logdrivers.reader(Record, Path("/nonexistent"))
    assert str(err.value) == "configured logging driver does not support reading"
    assert err.value.exit_code == 1
    silent = logdrivers.writer("none", {}, Path("/nonexistent"), INFO)
    silent.write("stdout", b"dropped\n")
    silent.close()
    assert logdrivers.log_path(Record, Path("/c")) == ""
    Record.options = {}
    assert logdrivers.log_path(Record, Path("/c/abc")) == "/c/abc/abc-json.log"


# -- journald's native protocol, on a socket of the test's own -------------------------------

def test_journal_fields_and_datagrams(tmp_path: Path) -> None:
    assert field("MESSAGE", "hi") == b"MESSAGE=hi\n"
    assert field("MESSAGE", "a\nb") == b"MESSAGE\n" + struct.pack("<Q", 3) + b"a\nb\n"
    assert sanitize_key("com.example-label") == "COM_EXAMPLE_LABEL"
    assert sanitize_key("_x") == "X"
    path = tmp_path / "journal.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    try:
        journal = JournalWriter({"CONTAINER_ID": "abc", "CONTAINER_NAME": "web"}, path)
        log = logs.LogWriter(encode=journal.encode, out=journal.out, close=journal.close)
        log.write("stderr", b"oops\n")
        log.write("stdout", b"x" * (logs.MAX_LINE + 1))
        log.close()
        first, second, third = (server.recv(65536) for _ in range(3))
    finally:
        server.close()
    assert first == (b"MESSAGE=oops\nPRIORITY=3\nCONTAINER_ID=abc\nCONTAINER_NAME=web\n")
    assert second.startswith(b"MESSAGE=" + b"x" * logs.MAX_LINE + b"\nPRIORITY=6\n"
                             b"CONTAINER_PARTIAL_MESSAGE=true\n")
    assert third.startswith(b"MESSAGE=x\nPRIORITY=6\nCONTAINER_PARTIAL_MESSAGE=true\n")


def test_journal_writer_names_a_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="no-socket"):
        JournalWriter({}, tmp_path / "no-socket")
