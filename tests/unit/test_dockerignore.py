"""``.dockerignore`` follows Docker's patternmatcher, not ``.gitignore``."""

from __future__ import annotations

import pytest

from pyker.build.dockerignore import DockerIgnore, parse_line
from pyker.errors import BuildError


@pytest.mark.parametrize("line, normalised", [
    ("# comment", None),
    ("   ", None),
    ("  *.md  ", "*.md"),
    ("/build", "build"),
    ("./build/", "build"),
    ("a//b/../c", "a/c"),
    ("!/keep", "!keep"),
    ("! keep.go", "!keep.go"),
    ("/", "/"),
])
def test_line_normalisation(line, normalised):
    assert parse_line(line) == normalised


CASES = [
    # (patterns, path, excluded)
    (["*.go"], "main.go", True),
    (["*.go"], "cmd/main.go", False),           # * does not cross /, root only
    (["**/*.go"], "main.go", True),              # ** may be zero directories
    (["**/*.go"], "cmd/x/main.go", True),
    (["**/*.go", "!keep.go"], "keep.go", False),
    (["**/*.go", "!keep.go"], "cmd/keep.go", True),
    (["**/*.go", "!**/keep.go"], "cmd/keep.go", False),
    (["/build"], "build", True),
    (["/build"], "build/out/bin", True),         # a parent directory matches
    (["/build"], "src/build", False),
    (["docs/**"], "docs/a/b.md", True),
    (["docs/**"], "docs", False),                # the contents, not the directory itself
    (["docs"], "docs/a/b.md", True),
    (["*/temp*"], "somedir/temporary.txt", True),
    (["*/temp*"], "somedir/sub/temp", False),
    (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
    (["temp?"], "temp1", True),
    (["temp?"], "temp12", False),
    (["file[0-9].txt"], "file5.txt", True),
    (["file[0-9].txt"], "filex.txt", False),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
    (["Dockerfile", ".dockerignore"], "Dockerfile", True),
    (["a.b"], "axb", False),                     # . is literal
    (["**"], "anything/at/all", True),
    (["**/foo"], "foo", True),
    (["**/foo"], "x/foo", True),
    (["**/foo"], "xfoo", False),
    (["node_modules", "!node_modules/keep"], "node_modules/keep/x.js", False),
    (["node_modules", "!node_modules/keep"], "node_modules/other.js", True),
    ([], "anything", False),
]


@pytest.mark.parametrize("patterns, path, excluded", CASES)
def test_matches(patterns, path, excluded):
    assert DockerIgnore.from_text("\n".join(patterns)).matches(path) is excluded


def test_from_text_comments_and_bom():
    ignore = DockerIgnore.from_text("\ufeff# c\n*.tmp\n\n  !/keep.tmp\n")
    assert [p.text for p in ignore.patterns] == ["*.tmp", "keep.tmp"]
    assert ignore.matches("a.tmp") and not ignore.matches("keep.tmp")


def test_illegal_exclusion():
    with pytest.raises(BuildError, match='illegal exclusion pattern: "!"'):
        DockerIgnore.from_text("!\n")


@pytest.mark.parametrize("patterns, directory, skip", [
    (["build"], "build", True),
    (["build", "!build/keep"], "build", False),
    (["build", "!other/keep"], "build", True),
    (["build", "!**/keep"], "build", False),     # an exception could be anywhere
    (["*.go"], "cmd", False),                    # not excluded at all
    (["**"], "src", True),
])
def test_can_skip_dir(patterns, directory, skip):
    assert DockerIgnore.from_text("\n".join(patterns)).can_skip_dir(directory) is skip


def test_load_missing(tmp_path):
    assert DockerIgnore.load(tmp_path / ".dockerignore").patterns == ()
