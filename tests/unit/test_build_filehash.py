"""Remembered context-file hashes: a file is read again whenever its stat says it may have
changed, and a file changed just before it was read is never remembered."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from pyker.build import filehash
from pyker.build.context import BuildContext
from pyker.build.filehash import FileHashes


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files actually opened and hashed (the real reader, counted)."""
    seen: list[str] = []
    real = filehash._sha256_file

    def counting(path: Path) -> bytes:
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(filehash, "_sha256_file", counting)
    return seen


@pytest.fixture
def short_racy_window(monkeypatch: pytest.MonkeyPatch) -> float:
    """A 50 ms window instead of 2 s, so that a test waits 0.1 s rather than 2 s; far above
    the kernel's timestamp tick, so the rule still holds."""
    monkeypatch.setattr(filehash, "RACY_NS", 50_000_000)
    return 0.1


def _table(tmp_path: Path, root: Path) -> FileHashes:
    return FileHashes.load(tmp_path / "tables", root)


def test_a_remembered_hash_is_the_content_hash_and_spares_the_read(tmp_path, reads,
                                                                    short_racy_window):
    f = tmp_path / "a.txt"
    f.write_bytes(b"alpha\n")
    time.sleep(short_racy_window)
    table = _table(tmp_path, tmp_path)
    assert table.content_hash(f, os.lstat(f)) == hashlib.sha256(b"alpha\n").digest()
    table.save()
    again = _table(tmp_path, tmp_path)  # a later build: the table from disk
    assert again.content_hash(f, os.lstat(f)) == hashlib.sha256(b"alpha\n").digest()
    assert reads == ["a.txt"]  # read once, by the first build only


def test_same_size_new_content_with_mtime_put_back_is_read_again(tmp_path, reads,
                                                                 short_racy_window):
    f = tmp_path / "a.txt"
    f.write_bytes(b"alpha\n")
    time.sleep(short_racy_window)
    table = _table(tmp_path, tmp_path)
    table.content_hash(f, os.lstat(f))
    table.save()
    old = os.lstat(f)
    f.write_bytes(b"omega\n")                           # same size
    os.utime(f, ns=(old.st_atime_ns, old.st_mtime_ns))  # mtime back: ctime still moves
    again = _table(tmp_path, tmp_path)
    assert again.content_hash(f, os.lstat(f)) == hashlib.sha256(b"omega\n").digest()
    assert reads == ["a.txt", "a.txt"]


def test_a_file_changed_just_before_it_is_read_is_not_remembered(tmp_path, reads):
    f = tmp_path / "fresh.txt"
    f.write_bytes(b"new\n")
    table = _table(tmp_path, tmp_path)
    table.content_hash(f, os.lstat(f))
    table.content_hash(f, os.lstat(f))
    assert reads == ["fresh.txt", "fresh.txt"] and table.entries == {}
    table.save()
    assert not table.table.exists()  # nothing to write


def test_a_replaced_file_is_read_again(tmp_path, reads, short_racy_window):
    f = tmp_path / "a.txt"
    f.write_bytes(b"one\n")
    time.sleep(short_racy_window)
    table = _table(tmp_path, tmp_path)
    table.content_hash(f, os.lstat(f))
    other = tmp_path / "b.txt"
    other.write_bytes(b"two\n")
    os.replace(other, f)                                # another inode under the same name
    assert table.content_hash(f, os.lstat(f)) == hashlib.sha256(b"two\n").digest()


def test_tables_of_other_contexts_and_damaged_tables_are_cold(tmp_path, reads,
                                                              short_racy_window):
    f = tmp_path / "a.txt"
    f.write_bytes(b"alpha\n")
    time.sleep(short_racy_window)
    table = _table(tmp_path, tmp_path)
    table.content_hash(f, os.lstat(f))
    table.save()
    doc = json.loads(table.table.read_bytes())
    assert doc["root"] == str(tmp_path) and str(f) in doc["entries"]
    doc["root"] = "/elsewhere"  # a table that names another directory is not this one's
    table.table.write_text(json.dumps(doc))
    assert _table(tmp_path, tmp_path).entries == {}
    table.table.write_text("{not json")
    assert _table(tmp_path, tmp_path).entries == {}
    doc["root"], doc["entries"] = str(tmp_path), {str(f): ["x"]}  # a damaged entry
    table.table.write_text(json.dumps(doc))
    assert _table(tmp_path, tmp_path).content_hash(f, os.lstat(f)) == \
        hashlib.sha256(b"alpha\n").digest()


def test_save_drops_the_entries_of_removed_files(tmp_path, short_racy_window):
    for name in ("keep", "gone"):
        (tmp_path / name).write_text(name)
    time.sleep(short_racy_window)
    table = _table(tmp_path, tmp_path)
    for name in ("keep", "gone"):
        table.content_hash(tmp_path / name, os.lstat(tmp_path / name))
    (tmp_path / "gone").unlink()
    table.save()
    assert list(json.loads(table.table.read_bytes())["entries"]) == [str(tmp_path / "keep")]


def test_checksum_is_the_same_with_or_without_remembered_hashes(tmp_path, reads,
                                                                short_racy_window):
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "src" / "a.txt").write_text("a\n")
    (root / "src" / "b.txt").write_text("b\n")
    time.sleep(short_racy_window)
    plain = BuildContext.load(str(root)).checksum([root / "src"])
    first = BuildContext.load(str(root))
    first.remember_hashes(tmp_path / "tables")
    assert first.checksum([root / "src"]) == plain
    first.hashes.save()
    reads.clear()
    second = BuildContext.load(str(root))
    second.remember_hashes(tmp_path / "tables")
    assert second.checksum([root / "src"]) == plain
    assert reads == []  # every file's hash came from the table
    (root / "src" / "b.txt").write_text("B\n")
    assert second.checksum([root / "src"]) != plain
    assert reads == ["b.txt"]
