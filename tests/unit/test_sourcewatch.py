"""The fork server's source watch on a throwaway package tree (inotify, and the mtime fallback)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyker.cli import sourcewatch
from pyker.cli.sourcewatch import SourceWatch


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    top = tmp_path / "pkg"
    (top / "sub" / "__pycache__").mkdir(parents=True)
    (top / "bare").mkdir()  # a package no interpreter has written bytecode for yet
    (top / "bare" / "__init__.py").write_text("")
    (top / "__init__.py").write_text("")
    (top / "sub" / "mod.py").write_text("x = 1\n")
    return top


@pytest.fixture(params=["inotify", "mtime"])
def watch(request, tree: Path, monkeypatch: pytest.MonkeyPatch):
    if request.param == "mtime":
        def no_inotify(*_a: object) -> int:
            raise OSError(24, "inotify_init1: Too many open files")
        monkeypatch.setattr(sourcewatch.inotify, "init", no_inotify)
    w = SourceWatch(tree)
    assert w.uses_inotify is (request.param == "inotify")
    yield w
    w.close()


def test_nothing_changed(watch: SourceWatch, tree: Path) -> None:
    (tree / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"bytecode")
    # A first __pycache__ in a package: its link count (an IN_ATTRIB on it) changes.
    (tree / "bare" / "__pycache__").mkdir()
    (tree / "notes.txt").write_text("not a source")
    assert not watch.changed()


def test_an_edited_module_is_seen_in_a_subpackage(watch: SourceWatch, tree: Path) -> None:
    mod = tree / "sub" / "mod.py"
    mod.write_text("x = 2\n")
    os.utime(mod, (1, 1 << 31))  # a later mtime, whatever the clock's resolution
    assert watch.changed()
    assert watch.changed()  # once changed, always changed


def test_a_module_replaced_by_rename_is_seen(watch: SourceWatch, tree: Path) -> None:
    new = tree / "sub" / ".mod.py.swp"
    new.write_text("x = 3\n")
    os.utime(new, (1, 1 << 31))
    new.rename(tree / "sub" / "mod.py")
    assert watch.changed()


def test_touch_alone_is_a_change_for_inotify(tree: Path) -> None:
    watch = SourceWatch(tree)
    st = (tree / "__init__.py").stat()
    os.utime(tree / "__init__.py", ns=(st.st_atime_ns, st.st_mtime_ns))  # same times
    assert watch.changed()
    watch.close()


def test_a_new_package_is_seen_by_inotify(tree: Path) -> None:
    watch = SourceWatch(tree)
    (tree / "newpkg").mkdir()
    assert watch.changed()
    watch.close()
