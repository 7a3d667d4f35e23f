"""The build context: Dockerfile location, .dockerignore, COPY sources and their hash."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from pyker.build.context import BuildContext, is_remote
from pyker.errors import BuildContextError, BuildError
from tarballs import tar_of


@pytest.fixture
def ctx_dir(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "sub").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (root / "app.go").write_text("package main\n")
    (root / "keep.go").write_text("package keep\n")
    (root / "README.md").write_text("readme\n")
    (root / "src" / "a.txt").write_text("a\n")
    (root / "src" / "sub" / "b.txt").write_text("b\n")
    (root / "build").mkdir()
    (root / "build" / "out.bin").write_text("binary\n")
    (root / ".dockerignore").write_text("build\n*.go\n!keep.go\n")
    return root


def rel(ctx: BuildContext, paths: list[Path]) -> list[str]:
    return [p.relative_to(ctx.root).as_posix() for p in paths]


def test_load_directory(ctx_dir):
    with BuildContext.load(str(ctx_dir)) as ctx:
        assert ctx.root == ctx_dir.resolve()
        assert ctx.dockerfile.startswith("FROM scratch")
        assert ctx.excluded("build/out.bin") and not ctx.excluded("keep.go")


def test_dockerfile_flag_is_relative_to_cwd(ctx_dir, tmp_path):
    (tmp_path / "other.Dockerfile").write_text("FROM busybox\n")
    ctx = BuildContext.load(str(ctx_dir), "other.Dockerfile", cwd=tmp_path)
    assert ctx.dockerfile == "FROM busybox\n" and ctx.dockerfile_name == "other.Dockerfile"


def test_dockerfile_own_ignore_file_wins(ctx_dir):
    (ctx_dir / "app.Dockerfile").write_text("FROM busybox\n")
    (ctx_dir / "app.Dockerfile.dockerignore").write_text("README.md\n")
    ctx = BuildContext.load(".", "app.Dockerfile", cwd=ctx_dir)
    assert ctx.excluded("README.md") and not ctx.excluded("build")


def test_dockerfile_from_stdin(ctx_dir):
    ctx = BuildContext.load(str(ctx_dir), "-", stdin=io.BytesIO(b"FROM busybox\n"))
    assert ctx.dockerfile == "FROM busybox\n"
    with pytest.raises(BuildError, match="can't use stdin for both"):
        BuildContext.load("-", "-", stdin=io.BytesIO(b""))


def test_missing_context_or_dockerfile(tmp_path):
    with pytest.raises(BuildError, match="not found"):
        BuildContext.load(str(tmp_path / "nope"))
    with pytest.raises(BuildError, match="cannot find Dockerfile"):
        BuildContext.load(str(tmp_path))


def test_stdin_dockerfile_only_has_an_empty_context():
    with BuildContext.load("-", stdin=io.BytesIO(b"FROM busybox\nRUN true\n")) as ctx:
        assert ctx.dockerfile == "FROM busybox\nRUN true\n"
        assert list(ctx.root.iterdir()) == []
        with pytest.raises(BuildContextError, match="file not found"):
            ctx.resolve("anything")
        root = ctx.root
    assert not root.exists()


def test_stdin_tar_context():
    data = tar_of({"Dockerfile": b"FROM scratch\n", "app/main.py": b"print()\n"})
    with BuildContext.load("-", stdin=io.BytesIO(data)) as ctx:
        assert ctx.dockerfile == "FROM scratch\n"
        assert rel(ctx, ctx.resolve("app/*.py")) == ["app/main.py"]


def test_resolve_literal_dir_and_trailing_slash(ctx_dir):
    ctx = BuildContext.load(str(ctx_dir))
    assert rel(ctx, ctx.resolve("src")) == ["src"]
    assert rel(ctx, ctx.resolve("src/")) == ["src"]
    assert rel(ctx, ctx.resolve(".")) == ["."]
    assert rel(ctx, ctx.resolve("/src/a.txt")) == ["src/a.txt"]   # absolute: from the root
    with pytest.raises(BuildContextError, match="not a directory"):
        ctx.resolve("README.md/")


def test_resolve_globs(ctx_dir):
    ctx = BuildContext.load(str(ctx_dir))
    assert rel(ctx, ctx.resolve("*.go")) == ["keep.go"]            # app.go is ignored
    assert rel(ctx, ctx.resolve("src/*/b.tx?")) == ["src/sub/b.txt"]
    assert rel(ctx, ctx.resolve("[Rk]*")) == ["README.md", "keep.go"]
    with pytest.raises(BuildContextError, match="no source files were specified"):
        ctx.resolve("*.rs")


def test_excluded_source_is_not_found(ctx_dir):
    ctx = BuildContext.load(str(ctx_dir))
    with pytest.raises(BuildContextError) as info:
        ctx.resolve("app.go")
    assert str(info.value) == ("file not found in build context or excluded by "
                               ".dockerignore: app.go")
    with pytest.raises(BuildContextError):
        ctx.resolve("build/out.bin")


def test_walk_applies_dockerignore(ctx_dir):
    ctx = BuildContext.load(str(ctx_dir))
    assert rel(ctx, ctx.walk(ctx.root)) == [
        ".", ".dockerignore", "Dockerfile", "README.md", "keep.go", "src", "src/a.txt",
        "src/sub", "src/sub/b.txt"]


def test_checksum_stable_and_content_based(ctx_dir):
    ctx = BuildContext.load(str(ctx_dir))
    first = ctx.checksum(ctx.resolve("src"))
    os.utime(ctx_dir / "src" / "a.txt", (0, 0))                    # mtimes do not count
    assert ctx.checksum(ctx.resolve("src")) == first
    assert first.startswith("sha256:") and len(first) == 71
    (ctx_dir / "src" / "a.txt").write_text("changed\n")
    assert ctx.checksum(ctx.resolve("src")) != first
    (ctx_dir / "src" / "a.txt").write_text("a\n")
    (ctx_dir / "src" / "a.txt").chmod(0o600)                        # modes count
    assert ctx.checksum(ctx.resolve("src")) != first


def test_checksum_ignores_excluded_files(ctx_dir):
    ctx = BuildContext.load(str(ctx_dir))
    before = ctx.checksum([ctx.root])
    (ctx_dir / "build" / "new.bin").write_text("x")
    assert ctx.checksum([ctx.root]) == before


def test_is_remote():
    assert is_remote("https://example.com/x.tar.gz") and not is_remote("http.txt")
