"""``.dockerignore``: the context paths that COPY and ADD must not see.

The rules are Docker's (Dockerfile reference ".dockerignore file"; moby/patternmatcher and
its ``ignorefile`` reader), which are *not* those of ``.gitignore``:

* one pattern a line; a line starting with ``#`` is a comment; blanks around are trimmed;
* a pattern is cleaned as a path (``./a//b/`` is ``a/b``) and a leading ``/`` dropped: all
  patterns are relative to the context root, and ``*.go`` matches only at the root
  (``**/*.go`` at any depth);
* globs are Go's ``filepath.Match`` (``*`` and ``?`` never cross ``/``, ``[a-z]`` classes,
  ``\\`` escapes) plus ``**``, any number of directories, zero included;
* a pattern matches a path when it matches the path or one of its parent directories, so
  ``build`` excludes everything below ``build/``;
* ``!pattern`` re-includes; the last pattern that matches decides.

Docker sends the Dockerfile and ``.dockerignore`` even when they are excluded (the builder
needs them), but COPY does not see them: :mod:`pyker.build.context` reads the Dockerfile by
itself, and this module's answer applies to COPY only.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pyker.errors import BuildError

_BOM = "\ufeff"


class _Kind(Enum):
    # Docker's own shortcuts, kept because they are not all equivalent to the regex:
    # ``**foo`` as a suffix also matches ``xfoo``.
    EXACT = "exact"
    PREFIX = "prefix"    # ``docs/**``: everything below docs/
    SUFFIX = "suffix"    # ``**/foo`` (or ``**foo``)
    REGEX = "regex"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pattern:
    text: str          # cleaned, without the ``!``
    exclusion: bool    # a ``!`` line: re-include what it matches
    kind: _Kind
    regex: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.fullmatch(path) is not None


def clean(path: str) -> str:
    """Go's ``filepath.Clean``: ``.`` and ``..`` resolved lexically, ``""`` → ``"."``."""
    cleaned = posixpath.normpath(path) if path else "."
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def _compile(text: str) -> tuple[_Kind, re.Pattern[str] | None]:
    out: list[str] = []
    kind = _Kind.EXACT
    in_class = False
    i, n, step = 0, len(text), 0
    while i < n:
        ch = text[i]
        i += 1
        if in_class:  # a [class] is passed through as written, ranges and all
            out.append("\\\\" if ch == "\\" else ch)
            in_class = ch != "]"
        elif ch == "*" and text[i:i + 1] == "*":
            i += 1
            if text[i:i + 1] == "/":
                i += 1  # ``**/`` is ``**``
            if i == n:
                if kind is _Kind.EXACT:
                    kind = _Kind.PREFIX
                else:
                    out.append(".*")
                    kind = _Kind.REGEX
            else:
                out.append("(.*/)?")  # any number of directories, zero included
                kind = _Kind.REGEX
            if step == 0:
                kind = _Kind.SUFFIX
        elif ch == "*":
            out.append("[^/]*")
            kind = _Kind.REGEX
        elif ch == "?":
            out.append("[^/]")
            kind = _Kind.REGEX
        elif ch == "\\":
            out.append(re.escape(text[i]) if i < n else "\\\\")
            i += 1
        elif ch == "[":
            out.append("[")
            in_class, kind = True, _Kind.REGEX
        else:
            out.append(re.escape(ch))
        step += 1
    if kind is not _Kind.REGEX:
        return kind, None
    try:
        return kind, re.compile("".join(out), re.DOTALL)
    except re.error:
        raise BuildError(f'.dockerignore: syntax error in pattern "{text}"') from None


def parse_line(line: str) -> str | None:
    """One line of the file as Docker normalises it (``!/a/./b`` → ``!a/b``), or None."""
    if line.startswith("#"):
        return None
    line = line.strip()
    if not line:
        return None
    invert = line.startswith("!")
    if invert:
        line = line[1:].strip()
    if line:
        line = clean(line)
        if len(line) > 1 and line.startswith("/"):
            line = line[1:]
    return "!" + line if invert else line


class DockerIgnore:
    """The patterns of one ``.dockerignore``, in order."""

    def __init__(self, lines: list[str] | tuple[str, ...] = ()) -> None:
        patterns = []
        for raw in lines:
            text = clean(raw.strip())
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise BuildError('.dockerignore: illegal exclusion pattern: "!"')
                text = text[1:]
            kind, regex = _compile(text)
            patterns.append(Pattern(text=text, exclusion=exclusion, kind=kind, regex=regex))
        self.patterns = tuple(patterns)

    @classmethod
    def from_text(cls, text: str) -> DockerIgnore:
        lines = (parse_line(line) for line in text.removeprefix(_BOM).split("\n"))
        return cls([line for line in lines if line is not None])

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        """The patterns of file ``path``; none when it does not exist."""
        try:
            return cls.from_text(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches(self, path: str) -> bool:
        """Whether context path ``path`` (relative, ``/``-separated) is excluded."""
        path = clean(path.lstrip("/")) if path.strip("/") else "."
        parents = posixpath.dirname(path)
        parent_dirs = parents.split("/") if parents else []
        matched = False
        for pattern in self.patterns:
            # An include cannot change a path already excluded, nor an exception one
            # that is not: skip them (Docker's order of evaluation, and its speed).
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path) or any(
                pattern.match("/".join(parent_dirs[:i + 1])) for i in range(len(parent_dirs)))
            if hit:
                matched = not pattern.exclusion
        return matched

    def can_skip_dir(self, path: str) -> bool:
        """Whether directory ``path`` and all below it are excluded, so a walk need not
        enter it: it is excluded and no ``!`` pattern could re-include something inside.

        Docker's walker only looks for an exception spelt below the directory
        (``!build/keep``); this test is as fast and safer: an exception whose literal
        start (up to its first wildcard) could lead into the directory keeps it open,
        ``!**/keep.go`` included.
        """
        if not self.matches(path):
            return False
        inside = clean(path.lstrip("/")) + "/"
        for pattern in self.patterns:
            if pattern.exclusion:
                literal = re.split(r"[*?\[\\]", pattern.text, maxsplit=1)[0]
                if literal.startswith(inside) or inside.startswith(literal):
                    return False
        return True
