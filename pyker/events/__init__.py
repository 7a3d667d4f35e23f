"""Engine events, as ``docker events`` shows them: what happened to which object, when.

The lowest layer beside ``errors`` and ``spec`` (it imports nothing else of pyker), so that
the code that owns an action — the container runtime, its monitor, the stores, the registry
client, the builder — records it where it happens, with one call::

    from pyker import events
    events.container(store.root.parent, "die", record, exitCode="0")

Modules: ``message`` (an event, Docker's JSON and default line), ``journal`` (the bounded
file in the data root: append, read, follow), ``filters`` (``--filter``), ``timestamps``
(``--since``/``--until``).

The helpers below never raise for the journal: an event that cannot be recorded (a full or
read-only disk) must not fail the ``run`` or ``rm`` it reports. Attributes are Docker's:
containers carry their labels, ``image`` (as the user named it) and ``name``; images
``name``; networks ``name``, ``type`` and, for connect/disconnect, ``container``; volumes
``driver``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pyker.events.journal import Journal

if TYPE_CHECKING:
    from pyker.events.message import Event

__all__ = ["Event", "Journal", "container", "emit", "image", "network", "volume"]
Root = str | os.PathLike[str]
Emitted = dict[str, object] | None  # the event's Docker JSON document, None if not written


def __getattr__(name: str) -> object:
    # Event (and the reading side) stays out of the recording path's imports: see wire.
    if name == "Event":
        from pyker.events.message import Event

        return Event
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def emit(data_root: Root, event_type: str, action: str, actor_id: str,
         attributes: Mapping[str, str] | None = None) -> Emitted:
    """Append one event to the journal of ``data_root``; None if it could not be written."""
    try:
        return Journal.of(data_root).append(event_type, action, actor_id, dict(attributes or {}))
    except OSError:
        return None  # events are a log beside the action: never the reason it fails


def container(data_root: Root, action: str, record: object, **extra: str) -> Emitted:
    """A container event; ``record`` is a :class:`pyker.runtime.state.Record` (read for its
    ``id``, ``name``, ``image_ref`` and ``options["labels"]``). ``extra``: ``exitCode``,
    ``signal``… Labels override ``extra`` and ``image``/``name`` override labels, in Docker's
    order (daemon/events.go LogContainerEventWithAttributes)."""
    options = getattr(record, "options", None) or {}
    attributes = {**extra, **(options.get("labels") or {})}
    image_ref = getattr(record, "image_ref", "")
    if image_ref:
        attributes["image"] = image_ref
    attributes["name"] = getattr(record, "name", "")
    return emit(data_root, "container", action, getattr(record, "id", ""), attributes)


def image(data_root: Root, action: str, actor_id: str, name: str = "",
          labels: Mapping[str, str] | None = None) -> Emitted:
    """An image event: ``actor_id`` is the image ID (``sha256:…``) or, for pull and push,
    the reference; ``labels`` the image's own, which Docker copies into the attributes."""
    attributes = dict(labels or {})
    if name:
        attributes["name"] = name
    return emit(data_root, "image", action, actor_id, attributes)


def network(data_root: Root, action: str, network_id: str, name: str, *,
            driver: str = "bridge", container_id: str = "") -> Emitted:
    attributes = {"name": name, "type": driver}
    if container_id:
        attributes["container"] = container_id
    return emit(data_root, "network", action, network_id, attributes)


def volume(data_root: Root, action: str, name: str, *, driver: str = "local",
           **extra: str) -> Emitted:
    return emit(data_root, "volume", action, name, {"driver": driver, **extra})
