"""One event, in the shape of Docker's ``events.Message`` (moby api/types/events), and the
two ways the Docker CLI shows it: its default line and the struct a ``--format`` runs on.

On the wire (the journal, ``--format '{{json .}}'``) an event is Docker's JSON object
(:mod:`.wire`)::

    {"status":"die","id":"4f…","from":"busybox","Type":"container","Action":"die",
     "Actor":{"ID":"4f…","Attributes":{"exitCode":"0","image":"busybox","name":"web"}},
     "scope":"local","time":1700000000,"timeNano":1700000000123456789}

Attribute values are strings, as in Docker (``exitCode`` is ``"137"``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pyker.errors import PykerError
from pyker.events.wire import NANOS, document, encode

#: What Docker's events carry in Type; pyker has no plugin, daemon, swarm or builder events.
TYPES = ("container", "image", "network", "volume")


class BadEvent(PykerError):
    """A journal line that is not an event (a torn write after a crash): readers skip it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str                 # container, image, network, volume
    action: str               # create, start, die, pull, connect, destroy…
    actor_id: str             # the object's ID (a volume's name, a pulled reference)
    attributes: dict[str, str] = field(default_factory=dict, hash=False)
    time_nano: int = 0
    scope: str = "local"

    def to_dict(self) -> dict[str, object]:
        """Docker's JSON document of the event, with its keys in Docker's order."""
        return document(self.type, self.action, self.actor_id, dict(self.attributes),
                        self.time_nano, self.scope)

    def to_json(self) -> str:
        return encode(self.to_dict())

    @classmethod
    def from_dict(cls, doc: object) -> Event:
        """Raises: BadEvent: not an event document."""
        try:
            if not isinstance(doc, dict):
                raise TypeError("not an object")
            actor = doc["Actor"]
            attributes = actor.get("Attributes") or {}
            return cls(type=str(doc["Type"]), action=str(doc["Action"]),
                       actor_id=str(actor["ID"]),
                       attributes={str(k): str(v) for k, v in attributes.items()},
                       time_nano=int(doc.get("timeNano") or int(doc["time"]) * NANOS),
                       scope=str(doc.get("scope", "local")))
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise BadEvent(f"not an event: {str(doc)[:80]!r}: {err}") from None

    @classmethod
    def from_json(cls, line: bytes | str) -> Event:
        """Raises: BadEvent: not a JSON event."""
        try:
            doc = json.loads(line)
        except ValueError:
            raise BadEvent(f"not JSON: {line[:80]!r}") from None
        return cls.from_dict(doc)


def rfc3339_nano_fixed(time_nano: int) -> str:
    """Go's ``RFC3339NanoFixed`` in local time, as the Docker CLI prints an event's time:
    nine fraction digits always, ``Z`` for UTC (``2026-11-28T05:00:00.123456789Z``)."""
    from datetime import datetime

    seconds, nanos = divmod(time_nano, NANOS)
    stamp = datetime.fromtimestamp(seconds).astimezone()
    offset = stamp.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    zone = "Z" if minutes == 0 else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:" \
                                    f"{abs(minutes) % 60:02d}"
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{nanos:09d}{zone}"


def pretty(event: Event) -> str:
    """The Docker CLI's default line (cli/command/system/events.go prettyPrintEvent):
    ``<time> <type> <action> <id> (k=v, …)``, attributes sorted by key."""
    line = f"{rfc3339_nano_fixed(event.time_nano)} {event.type} {event.action} {event.actor_id}"
    if event.attributes:
        line += " (" + ", ".join(f"{k}={v}" for k, v in sorted(event.attributes.items())) + ")"
    return line


class Actor:
    """``events.Actor`` for ``--format``: fields ``ID`` and ``Attributes`` (a map)."""

    def __init__(self, actor_id: str, attributes: dict[str, str]) -> None:
        self.ID = actor_id
        self.Attributes = attributes


class Message:
    """An event as Go's ``events.Message`` struct stands to a ``--format`` template.

    Its instance dict holds the JSON keys in Docker's order (so ``{{json .}}`` prints what
    Docker prints, empty deprecated fields omitted), and properties give the Go field names
    a template uses (``{{.Status}}``, ``{{.ID}}``, ``{{.TimeNano}}``…).
    """

    def __init__(self, event: Event | None = None) -> None:
        doc = event.to_dict() if event is not None else {
            "Type": "", "Action": "", "Actor": {"ID": "", "Attributes": {}}, "scope": "",
            "time": 0, "timeNano": 0}
        actor = doc.pop("Actor")
        for key, value in doc.items():
            if key in ("scope", "time", "timeNano"):
                continue
            self.__dict__[key] = value
        self.__dict__["Actor"] = Actor(actor["ID"], actor["Attributes"])  # type: ignore[index]
        for key in ("scope", "time", "timeNano"):
            self.__dict__[key] = doc[key]

    Status = property(lambda self: self.__dict__.get("status", ""))
    ID = property(lambda self: self.__dict__.get("id", ""))
    From = property(lambda self: self.__dict__.get("from", ""))
    Scope = property(lambda self: self.__dict__["scope"])
    Time = property(lambda self: self.__dict__["time"])
    TimeNano = property(lambda self: self.__dict__["timeNano"])
