"""``pyker image history``: one row per history entry of the config, newest first.

Rows that made a layer get that layer's size; metadata-only rows (``empty_layer``) get 0.
The IMAGE column shows an ID where an image of this store *is* that step (the image itself,
then its parent chain, which builds record), and ``<missing>`` elsewhere: exactly when Docker
shows it, for the layers of a pulled or loaded image.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyker.errors import ImageNotFound
from pyker.image.store import Image, ImageStore


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    id: str  # image ID or "<missing>"
    created: str
    created_by: str
    size: int
    comment: str
    tags: tuple[str, ...] = ()


def _step_ids(store: ImageStore, image: Image) -> dict[int, Image]:
    """History index → the local image whose last history entry it is."""
    out = {len(image.config.history) - 1: image}
    parent_id = image.parent
    seen = {image.id}
    while parent_id and parent_id not in seen:
        seen.add(parent_id)
        try:
            parent = store.get(parent_id)
        except ImageNotFound:  # a parent removed since: the chain stops, rows stay <missing>
            break
        out[len(parent.config.history) - 1] = parent
        parent_id = parent.parent
    return out


def history(store: ImageStore, image: Image) -> list[HistoryRow]:
    sizes = [store.layer(d).size if store.has_layer(d) else 0 for d in image.config.diff_ids]
    steps = _step_ids(store, image)
    rows: list[HistoryRow] = []
    layer = 0
    for i, entry in enumerate(image.config.history):
        size = 0
        if not entry.empty_layer:
            size = sizes[layer] if layer < len(sizes) else 0
            layer += 1
        local = steps.get(i)
        rows.append(HistoryRow(
            id=local.id if local else "<missing>", created=entry.created,
            created_by=entry.created_by, size=size, comment=entry.comment,
            tags=tuple(local.repo_tags) if local else ()))
    if not rows:  # an image with no history still has one row, as in Docker
        rows.append(HistoryRow(id=image.id, created=image.config.created, created_by="",
                               size=image.size, comment=""))
    return list(reversed(rows))
