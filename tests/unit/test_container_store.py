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


def test_concurrent_changes_of_one_record_are_all_kept(tmp_path: Path) -> None:
    """A monitor recording states while a command marks the options (``stop``): each
    read-modify-write holds the container's lock, so neither loses the other's change."""
    import os

    store = ContainerStore(tmp_path)
    store.save(_record("c" * 64, "busy"), durable=False)
    rounds = 150
    children = []
    for role in ("states", "options"):
        pid = os.fork()
        if pid == 0:
            try:
                for i in range(rounds):
                    if role == "states":
                        store.update_state("c" * 64, durable=False, exit_code=i)
                    else:
                        store.update_options("c" * 64, lambda o, i=i: {**o, f"mark{i}": True})
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    record = store.load_raw("c" * 64)
    assert record.state.exit_code == rounds - 1
    assert sorted(k for k in record.options if k.startswith("mark")) == sorted(
        f"mark{i}" for i in range(rounds))
