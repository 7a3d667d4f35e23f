"""COPY sources never lead outside the build context, whatever the context holds.

No root needed: the escapes are symlinks and ``..``, which any user can plant. Each case
aims at a *sentinel* file beside the context (and at /etc, by name), so a missed check
would show as a path outside the context in the answer.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyker.build.context import BuildContext
from pyker.errors import BuildContextError


@pytest.fixture
def ctx(tmp_path: Path) -> BuildContext:
    (tmp_path / "secret").write_text("outside\n")
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "inside.txt").write_text("inside\n")
    (root / "dir").mkdir()
    (root / "dir" / "f").write_text("f\n")
    os.symlink("/etc", root / "etc-link")                 # absolute: means the context's /etc
    os.symlink("../secret", root / "up-link")             # relative, climbing out
    os.symlink("../../../../../../../../etc/passwd", root / "deep-link")
    os.symlink("inside.txt", root / "ok-link")            # stays inside: allowed
    os.symlink(str(tmp_path), root / "dir" / "parent-link")
    return BuildContext.load(str(root))


def inside(ctx: BuildContext, paths: list[Path]) -> bool:
    root = ctx.root.resolve()
    return all(p.resolve().is_relative_to(root) for p in paths)


@pytest.mark.parametrize("source", ["../secret", "../ctx/../secret", "dir/../../secret",
                                    "../../etc/passwd"])
def test_dotdot_above_the_root_is_refused(ctx, source):
    with pytest.raises(BuildContextError) as info:
        ctx.resolve(source)
    assert info.value.reason == "forbidden path outside the build context"


def test_dotdot_that_stays_inside_is_fine(ctx):
    assert ctx.resolve("dir/../inside.txt") == [ctx.root / "inside.txt"]


@pytest.mark.parametrize("source", ["/etc/passwd", "/etc", "/secret"])
def test_absolute_source_is_taken_from_the_context_root(ctx, source):
    with pytest.raises(BuildContextError, match="file not found in build context"):
        ctx.resolve(source)
    assert ctx.resolve("/inside.txt") == [ctx.root / "inside.txt"]


@pytest.mark.parametrize("source", ["etc-link/passwd", "etc-link", "up-link", "deep-link",
                                    "dir/parent-link/secret", "*-link/passwd"])
def test_symlinks_resolve_inside_the_context(ctx, source):
    # Each target, read from the context as root, does not exist there: not found, and
    # never the host's /etc/passwd or the sentinel.
    with pytest.raises(BuildContextError):
        ctx.resolve(source)


def test_symlink_inside_is_followed_within(ctx):
    found = ctx.resolve("ok-link")
    assert found == [ctx.root / "inside.txt"] and inside(ctx, found)


def test_glob_results_stay_inside(ctx):
    found = ctx.resolve("*")
    assert inside(ctx, found)
    assert ctx.root / "inside.txt" in found


def test_walk_lists_symlinks_without_entering_them(ctx):
    entries = ctx.walk(ctx.root)
    assert ctx.root / "etc-link" in entries
    assert all(p.is_relative_to(ctx.root) for p in entries)
    assert not any(p.is_relative_to(ctx.root / "etc-link") and p != ctx.root / "etc-link"
                   for p in entries)


def test_checksum_hashes_link_targets_not_what_they_point_to(ctx):
    before = ctx.checksum([ctx.root])
    Path(ctx.root.parent / "secret").write_text("changed outside\n")
    assert ctx.checksum([ctx.root]) == before
