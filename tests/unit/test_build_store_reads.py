"""What a cached build asks of the image store, made cheap without going stale: ``get`` and
``resolve`` read one image, parsed blobs are kept by digest, and yet a change of index.json
by another command (a removal, a new tag) is seen at the next call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyker.build.cache import BuildCache, StepKey
from pyker.errors import ImageNotFound
from pyker.image import reference
from pyker.image.store import ImageStore
from pyker.spec.image import HistoryEntry, ImageConfig


def _commit(store: ImageStore, n: int, parent: str = ""):
    config = ImageConfig(architecture="amd64", os="linux", diff_ids=(),
                         created=f"2026-01-01T00:00:{n:02d}Z",
                         history=(HistoryEntry(created="", created_by=f"step {n}",
                                               empty_layer=True),))
    with store.locked():
        return store.commit(config, [], parent=parent)


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    s = ImageStore(tmp_path / "data")
    s.create()
    return s


def test_get_and_resolve_find_one_image_among_many(store):
    images = [_commit(store, n, parent="") for n in range(5)]
    chained = _commit(store, 9, parent=images[2].id)
    assert store.get(chained.id) == chained and store.get(chained.id).parent == images[2].id
    with store.locked():
        store.tag(images[3], reference.parse_tagged("app:v1"))
    assert store.resolve("app:v1").id == images[3].id
    assert store.resolve(images[1].id[7:19]).id == images[1].id  # an ID prefix
    assert store.resolve(f"app@{images[4].manifest_digest}").id == images[4].id  # a digest
    assert [i.id for i in store.images()] == [chained.id, *(i.id for i in images[::-1])]
    with pytest.raises(ImageNotFound):
        store.get("sha256:" + "0" * 64)


def test_another_commands_changes_are_seen_at_the_next_call(store, tmp_path):
    image = _commit(store, 1)
    assert store.get(image.id).id == image.id  # parsed and remembered
    other = ImageStore(tmp_path / "data")        # another command, same data root
    with other.locked():
        other.remove_image(other.get(image.id), users=lambda _id: [])
    with pytest.raises(ImageNotFound):
        store.get(image.id)
    with pytest.raises(ImageNotFound):
        store.resolve(image.id)
    again = _commit(other, 2)
    with other.locked():
        other.tag(again, reference.parse_tagged("fresh"))
    assert store.resolve("fresh").id == again.id


def test_tagging_an_image_that_has_the_tag_leaves_index_json_alone(store):
    image = _commit(store, 1)
    ref = reference.parse_tagged("app")
    with store.locked():
        store.tag(image, ref)
    index = store.layout.root / "index.json"
    before = os.stat(index)
    with store.locked():
        store.tag(store.get(image.id), ref)
    after = os.stat(index)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [t.familiar() for t in store.get(image.id).tags] == ["app:latest"]


def test_build_cache_index_is_read_again_when_another_build_wrote_it(store):
    image = _commit(store, 1)
    key = StepKey(parent="", instruction="RUN a")
    mine, theirs = BuildCache(store), BuildCache(store)
    assert mine.lookup(key) is None
    with store.locked():
        theirs.record(key, image.id)
    assert mine.lookup(key).id == image.id
    theirs.prune()
    assert mine.lookup(key) is None
