"""The container store's listing: a container being removed is already out of it."""

from __future__ import annotations

import shutil
from pathlib import Path

from pyker.fs.atomic import temp_prefix
from pyker.runtime.state import ContainerStore, Record, container_files


def _record(cid: str, name: str) -> Record:
    return Record(id=cid, name=name, image_id="sha256:" + "0" * 64, image_ref="busybox",
                  created="2026-11-29T00:00:00Z", path="true", args=())


def test_a_directory_renamed_for_removal_is_not_listed(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    kept, going = _record("a" * 64, "kept"), _record("b" * 64, "going")
    store.save(kept)
    store.save(going)
    # container.remove: one rename takes it out of the store, its files are deleted after.
    shutil.move(store.dir(going.id), tmp_path / f"{temp_prefix()}{going.id}")
    assert [r.name for r in store.all()] == ["kept"]
    assert store.resolve("kept").id == kept.id
    assert [r.id for r in store.all() if r.name == "going"] == []


def test_container_files_skip_a_container_being_removed(tmp_path: Path) -> None:
    store = ContainerStore(tmp_path)
    store.save(_record("a" * 64, "kept"))
    store.save(_record("b" * 64, "going"))
    shutil.move(store.dir("b" * 64), tmp_path / f"{temp_prefix()}{'b' * 64}")
    assert [p.parent.name for p in container_files(tmp_path)] == ["a" * 64]
