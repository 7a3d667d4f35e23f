"""Build cache keys: the same inputs give the same key, any changed input another one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyker.build.cache import BuildCache, StepKey
from pyker.image.store import ImageStore

BASE = StepKey(parent="sha256:" + "a" * 64, instruction="/bin/sh -c echo hi",
               build_args={"V": "1", "W": "2"}, sources="sha256:" + "c" * 64)


def test_key_is_stable_and_exact():
    again = StepKey(parent="sha256:" + "a" * 64, instruction="/bin/sh -c echo hi",
                    build_args={"W": "2", "V": "1"}, sources="sha256:" + "c" * 64)
    assert BASE.digest() == again.digest()  # arg order does not matter
    assert BASE.digest() == \
        "sha256:" + __import__("hashlib").sha256(json.dumps(
            [1, BASE.parent, BASE.instruction, ["V=1", "W=2"], BASE.sources],
            separators=(",", ":")).encode()).hexdigest()


@pytest.mark.parametrize("change", [
    {"parent": "sha256:" + "b" * 64},
    {"instruction": "/bin/sh -c echo ho"},
    {"build_args": {"V": "1", "W": "3"}},
    {"build_args": {"V": "1"}},
    {"sources": "sha256:" + "d" * 64},
])
def test_any_changed_input_changes_the_key(change):
    fields = {"parent": BASE.parent, "instruction": BASE.instruction,
              "build_args": dict(BASE.build_args), "sources": BASE.sources, **change}
    assert StepKey(**fields).digest() != BASE.digest()


def test_index_misses_for_unknown_and_removed_images(tmp_path: Path):
    store = ImageStore(tmp_path)
    cache = BuildCache(store)
    assert cache.lookup(BASE) is None  # no index yet
    cache.path.parent.mkdir(parents=True)
    cache.path.write_text(json.dumps({"version": 1, "entries": {
        BASE.digest(): "sha256:" + "e" * 64}}))
    store.create()
    assert cache.lookup(BASE) is None  # the image is not in the store
    cache.path.write_text("not json")
    assert cache.lookup(BASE) is None  # a broken index is a cold cache, not a failure
