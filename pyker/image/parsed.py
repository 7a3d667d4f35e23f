"""What the image store has parsed, kept by digest for the life of the process.

A blob's bytes are its digest's: a manifest or a config parsed once stays true wherever and
whenever the blob is read again (every store, every command a notebook or a fork server's
child runs), and the values are frozen dataclasses. So a build, which asks for one image per
step, parses each blob once rather than once per step. The same holds for a layer's size
(layer.json is written before its content-addressed directory is renamed into place, and
never again) and for a tag annotation's reference (a pure function of its text).

Nothing here says whether an image or a layer still *exists*: the store reads index.json and
checks layer directories at each call, so a removal by another command is seen at once.
Each table is bounded, as a long-lived process may read many images.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from pyker.image import reference
from pyker.image.layout import Layout
from pyker.image.reference import Reference
from pyker.spec.image import ImageConfig, Manifest

MAX_ENTRIES = 4096
_BLOBS: dict[tuple[str, str], object] = {}      # (digest, what) -> parsed value
_CONFIG_IDS: dict[str, str] = {}                # manifest digest -> config digest it names
_LAYER_SIZES: dict[str, int] = {}               # diff_id -> unpacked size


def _remember(table: dict, key, value) -> None:
    if len(table) >= MAX_ENTRIES:
        table.clear()
    table[key] = value


def _blob(layout: Layout, digest: str, what: str, parser):
    found = _BLOBS.get((digest, what))
    if found is None:
        found = layout.read_json(digest, what, parser)
        _remember(_BLOBS, (digest, what), found)
    return found


def manifest(layout: Layout, digest: str) -> Manifest:
    return _blob(layout, digest, "manifest", Manifest.from_dict)


def config(layout: Layout, digest: str) -> ImageConfig:
    return _blob(layout, digest, "image config", ImageConfig.from_dict)


def config_digest(layout: Layout, manifest_digest: str) -> str:
    """The image ID a manifest names, without checking the rest of it: to find one image
    among all those of index.json, only the one found is parsed in full."""
    known = _BLOBS.get((manifest_digest, "manifest"))
    if known is not None:
        return known.config.digest  # type: ignore[attr-defined]
    found = _CONFIG_IDS.get(manifest_digest)
    if found is None:
        try:
            found = json.loads(layout.read_blob(manifest_digest))["config"]["digest"]
        except (ValueError, KeyError, TypeError):
            found = None
        if not isinstance(found, str):  # the full parse says what is wrong with it
            return manifest(layout, manifest_digest).config.digest
        _remember(_CONFIG_IDS, manifest_digest, found)
    return found


def layer_size(diff_id: str, read: Callable[[], int]) -> int:
    """A layer's size, ``read()`` from its layer.json the first time."""
    size = _LAYER_SIZES.get(diff_id)
    if size is None:
        size = read()
        _remember(_LAYER_SIZES, diff_id, size)
    return size


@functools.lru_cache(maxsize=1024)
def tag_reference(name: str) -> Reference:
    """A tag annotation of index.json as a reference."""
    return reference.parse(name)


def forget() -> None:
    """Drop everything (what a new process starts with: for measurements and tests)."""
    _BLOBS.clear()
    _CONFIG_IDS.clear()
    _LAYER_SIZES.clear()
    tag_reference.cache_clear()
