"""Docker's JSON form of an event (moby api/types/events ``Message``), kept apart from the
:class:`~pyker.events.message.Event` class so that recording an event — on the hot path of
``run`` — imports nothing but ``json``.

``status``, ``id`` and ``from`` are the fields of the API before 1.22, which Docker still
fills for container and image events (``from``: a container's image) and omits for others.
"""

from __future__ import annotations

import json

NANOS = 1_000_000_000


def document(event_type: str, action: str, actor_id: str, attributes: dict[str, str],
             time_nano: int, scope: str = "local") -> dict[str, object]:
    """The event as Docker's JSON document, keys in Docker's order."""
    doc: dict[str, object] = {}
    if event_type in ("container", "image"):
        doc["status"] = action
        doc["id"] = actor_id
        if event_type == "container" and attributes.get("image"):
            doc["from"] = attributes["image"]
    doc["Type"] = event_type
    doc["Action"] = action
    doc["Actor"] = {"ID": actor_id, "Attributes": attributes}
    doc["scope"] = scope
    doc["time"] = time_nano // NANOS
    doc["timeNano"] = time_nano
    return doc


def encode(doc: dict[str, object]) -> str:
    """One line of JSON, compact, UTF-8 as is (the Docker CLI's ``{{json .}}`` spelling)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
