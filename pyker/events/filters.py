"""``--filter`` of ``pyker events``, with the Docker daemon's rules (daemon/events/filter.go).

Values of one key are ORed, different keys ANDed: ``-f type=container -f event=die -f
event=oom`` keeps the containers' ``die`` and ``oom`` events. How each key matches:

* ``type``, ``event``, ``scope``: exactly (``event=exec_start`` also prefixes, as Docker's
  exec actions carry the command: ``exec_start: sh``);
* ``container``, ``network``, ``volume`` (and Docker's ``daemon``, ``plugin``, ``node``,
  ``service``, ``secret``, ``config``, which no pyker event carries): an event whose actor ID
  or ``name`` attribute starts with the value. Docker does not check the event's type: in
  practice ``container=web`` keeps web's events (and ``web2``'s) and drops network and image
  events, whose names and IDs are others; ``container=b`` keeps the ``bridge`` network's too.
* ``image``: the actor ID or image name (``image`` attribute of container events, ``name`` of
  image events), with or without its tag, exactly;
* ``label``: ``key`` or ``key=value`` among the attributes; several labels must all match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pyker.errors import UsageError
from pyker.events.message import Event

ACCEPTED = frozenset({"config", "container", "daemon", "event", "image", "label", "network",
                      "node", "plugin", "scope", "secret", "service", "type", "volume"})
# Keys whose value names an object of the event type of the same name.
BY_NAME = ("container", "network", "volume", "daemon", "plugin", "node", "service", "secret",
           "config")
# Docker's actions that carry a suffix, matched by prefix when asked without it.
PREFIXED_ACTIONS = frozenset({"health_status", "exec_create", "exec_start"})


def _strip_tag(name: str) -> str:
    """``busybox:1.36`` → ``busybox``, ``host:5000/app@sha256:…`` → ``host:5000/app``, and
    Docker Hub's ``docker.io/library/`` prefix dropped (Docker's familiar name)."""
    name = name.partition("@")[0]
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name = name[:colon]
    if name.startswith("docker.io/"):
        name = name[len("docker.io/"):]
        if name.startswith("library/") and "/" not in name[len("library/"):]:
            name = name[len("library/"):]
    return name


@dataclass(frozen=True, slots=True)
class Filters:
    fields: dict[str, frozenset[str]] = field(default_factory=dict, hash=False)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Filters:
        """``["type=container", "event=die"]`` → filters.

        Raises:
            UsageError: ``bad format of filter (expected name=value)`` or ``invalid filter
                'foo'`` (a key Docker does not accept for events).
        """
        fields: dict[str, set[str]] = {}
        for spec in specs:
            if not spec:
                continue
            if "=" not in spec:
                raise UsageError("bad format of filter (expected name=value)")
            key, _, value = spec.partition("=")
            key = key.strip().lower()
            if key not in ACCEPTED:
                raise UsageError(f"invalid filter '{key}'")
            fields.setdefault(key, set()).add(value.strip())
        return cls({k: frozenset(v) for k, v in fields.items()})

    def _exact(self, key: str, *sources: str) -> bool:
        values = self.fields.get(key)
        return not values or any(s in values for s in sources)

    def _fuzzy(self, key: str, *sources: str) -> bool:
        values = self.fields.get(key)
        return not values or any(s.startswith(v) for s in sources for v in values)

    def _by_name(self, key: str, event: Event) -> bool:
        if key not in self.fields:
            return True
        return self._fuzzy(key, event.actor_id, event.attributes.get("name", ""))

    def _image(self, event: Event) -> bool:
        name = event.attributes.get("name" if event.type == "image" else "image", "")
        return self._exact("image", event.actor_id, name, _strip_tag(event.actor_id),
                           _strip_tag(name))

    def _labels(self, attributes: dict[str, str]) -> bool:
        for spec in self.fields.get("label", ()):
            key, sep, value = spec.partition("=")
            if key not in attributes or (sep and attributes[key] != value):
                return False
        return True

    def match(self, event: Event) -> bool:
        actions = self.fields.get("event", frozenset())
        action_ok = (self._fuzzy("event", event.action) if actions & PREFIXED_ACTIONS
                     else self._exact("event", event.action))
        return (action_ok and self._exact("type", event.type)
                and self._exact("scope", event.scope)
                and all(self._by_name(key, event) for key in BY_NAME)
                and self._image(event) and self._labels(event.attributes))
