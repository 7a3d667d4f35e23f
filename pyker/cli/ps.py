"""What ``ps`` and ``logs`` print: Docker's columns, statuses and log framing."""

from __future__ import annotations

import json
import sys

from pyker.cli.humanize import go_time, human_duration, parse_rfc3339, since
from pyker.errors import UsageError
from pyker.runtime.state import ContainerStore, Record


def _ago(stamp: str) -> str:
    import datetime

    when = parse_rfc3339(stamp)
    if when is None or when.year < 2:  # Go's zero time: the moment is unknown
        return ""
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds())


def health_label(health: dict | None) -> str:
    """In parentheses after ``Up …``: ``health: starting``, ``healthy`` or ``unhealthy``."""
    status = (health or {}).get("Status", "")
    return "health: starting" if status == "starting" else status


def status_text(record: Record) -> str:
    """``Up 5 seconds``, ``Exited (0) 3 seconds ago``, ``Created``… as Docker words them."""
    s = record.state
    if s.status == "running":
        health = f" ({health_label(s.health)})" if s.health else ""
        return f"Up {_ago(s.started_at)}{health}"
    if s.status == "paused":
        return f"Up {_ago(s.started_at)} (Paused)"
    if s.status == "restarting":
        return f"Restarting ({s.exit_code}) {_ago(s.finished_at)} ago"
    if s.status == "exited":
        ago = _ago(s.finished_at)
        return f"Exited ({s.exit_code}) {ago} ago" if ago else f"Exited ({s.exit_code})"
    return s.status.capitalize()


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # Go's strconv.Quote for printable text


def command_text(record: Record, no_trunc: bool) -> str:
    text = " ".join([record.path, *record.args])
    if not no_trunc and len(text) > 20:
        text = text[:19] + "…"
    return _go_quote(text)


def _match(record: Record, flt: str) -> bool:
    key, sep, value = flt.partition("=")
    if not sep:
        raise UsageError(f'bad format of filter (expected name=value): "{flt}"')
    if key == "status":
        return record.state.status == value
    if key == "name":  # a regular expression, as Docker's, on "/name" (its stored form) or "name"
        import re

        try:
            pattern = re.compile(value)
        except re.error as err:
            raise UsageError(f'invalid filter "name={value}": {err}') from None
        return bool(pattern.search("/" + record.name) or pattern.search(record.name))
    if key == "id":
        return record.id.startswith(value)
    if key == "ancestor":
        return value in (record.image_ref, record.image_id, record.image_id[7:19])
    if key == "label":
        k, _, v = value.partition("=")
        labels = record.options.get("labels", {})
        return k in labels and (not v or labels[k] == v)
    if key == "exited":
        return record.state.status == "exited" and str(record.state.exit_code) == value
    if key == "health":
        if value not in ("starting", "healthy", "unhealthy", "none"):
            raise UsageError(f"Unrecognised filter value for health: {value}")
        return (record.state.health or {}).get("Status", "none") == value
    raise UsageError(f'invalid filter "{key}"')


def rows(records: list[Record], *, show_all: bool, no_trunc: bool, filters: list[str],
         ports=lambda record: "") -> list[dict[str, object]]:
    from pyker.cli.gotemplate import LabelledRow

    records = sorted(records, key=lambda r: r.created, reverse=True)
    out = []
    for r in records:
        if not show_all and r.state.status not in ("running", "paused", "restarting"):
            if not any(f.startswith("status=") for f in filters):
                continue
        if not all(_match(r, f) for f in filters):
            continue
        labels = r.options.get("labels", {})
        out.append(LabelledRow({"ID": r.id if no_trunc else r.id[:12], "Image": r.image_ref,
                    "Command": command_text(r, no_trunc), "CreatedSince": since(r.created),
                    "RunningFor": since(r.created), "CreatedAt": go_time(r.created),
                    "Status": status_text(r), "State": r.state.status, "Ports": ports(r),
                    "Names": r.name, "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
                    "Size": "0B"}, labels))
    return out


def print_logs(store: ContainerStore, record: Record, *, follow: bool, tail: str,
               timestamps: bool, since: str) -> int:
    from pyker.runtime import logdrivers, logs

    if tail != "all" and not tail.lstrip("-").isdigit():
        raise UsageError(f'invalid argument "{tail}" for "--tail" flag')
    count = None if tail == "all" or int(tail) < 0 else int(tail)
    try:
        since = logs.since_stamp(since)
    except ValueError:
        raise UsageError(f'invalid value for "since": "{since}"') from None
    try:
        reader = logdrivers.reader(record, store.dir(record.id))
    except logdrivers.LogsNotSupported as err:  # Docker's words and exit code for `none`
        print(f"Error response from daemon: {err}", file=sys.stderr)
        return err.exit_code
    entries = reader.read(tail=count, since=since)
    start = reader.end()  # where that read stopped: follow goes on from there

    def emit(entry: logs.Entry) -> None:
        stream = sys.stdout if entry.stream == "stdout" else sys.stderr
        stream.write((entry.time + " " if timestamps else "") + entry.log)
        stream.flush()

    for entry in entries:
        emit(entry)
    if follow:
        def running() -> bool:
            return store.load(record.id).state.status in ("running", "restarting")
        for entry in reader.follow(start=start, running=running):
            emit(entry)
    return 0
