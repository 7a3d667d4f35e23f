"""From the text of a Dockerfile to its logical lines: one per instruction.

The rules are Docker's (Dockerfile reference "Format" and "Parser directives"; buildkit
``parser/parser.go``):

* Parser directives (``# escape=`` ``# syntax=``) are read only at the very top: the first
  line that is not one (a blank line, another comment, an instruction) ends them, and each
  may appear once. An unknown ``# key=value`` is a plain comment.
* A comment is a line whose first non-blank character is ``#``; a ``#`` anywhere else is an
  argument (``RUN echo # not a comment``).
* The escape token (``\\``, or ````` after ``# escape=`````) as the last non-blank character
  continues the line. Comment lines inside a continuation are dropped, and blank ones too
  (Docker warns about those).
* ``RUN``, ``COPY`` and ``ADD`` in shell form (and under ``ONBUILD``) may name
  here-documents, ``<<EOF`` or ``<<-EOF``: their bodies are the following lines up to the
  delimiter, and are not instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyker.build.instructions import Directives, Heredoc
from pyker.build.shellwords import ArgumentError, parse_json, split_command
from pyker.build.substitution import Lexer, SubstitutionError

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_HEREDOC_INSTRUCTIONS = frozenset({"run", "copy", "add"})
_BOM = "\ufeff"


class LexError(ValueError):
    """A fault in the file's lines; the parser turns it into DockerfileSyntaxError."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class LogicalLine:
    start: int  # first physical line, 1-based
    end: int    # last physical line, heredoc bodies included
    text: str
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Lines:
    directives: Directives
    lines: tuple[LogicalLine, ...]
    warnings: tuple[str, ...]


def _split(text: str) -> list[str]:
    """Physical lines with their ends; only ``\n`` ends a line (``\r\n`` keeps its ``\r``
    until :func:`_strip_newline`), unlike str.splitlines, which also cuts at ``\f``."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    return out + [lines[-1]] if lines[-1] else out


def _strip_newline(raw: str) -> str:
    return raw.rstrip("\r\n")


def _is_comment(raw: str) -> bool:
    return _strip_newline(raw).lstrip().startswith("#")


class _Directives:
    def __init__(self) -> None:
        self.escape, self.syntax = "\\", ""
        self.done = False
        self.seen: set[str] = set()
        self.continuation = self._continuation("\\")

    @staticmethod
    def _continuation(token: str) -> re.Pattern[str]:
        # The token ends the line unless it is itself escaped; Docker's regex checks only
        # the one character before it (``foo \\\\`` continues, a known limit).
        e = re.escape(token)
        return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def offer(self, line: str, lineno: int) -> None:
        """Look at one line while directives may still come."""
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        key = match.group(1).lower() if match else ""
        if key not in ("escape", "syntax"):
            self.done = True
            return
        if key in self.seen:
            raise LexError(lineno, f"only one {key} parser directive can be used")
        self.seen.add(key)
        value = match.group(2)  # type: ignore[union-attr]
        if key == "syntax":
            self.syntax = value
        elif value not in ("`", "\\"):
            raise LexError(lineno, f"invalid escape token '{value}' does not match ` or \\")
        else:
            self.escape, self.continuation = value, self._continuation(value)

    def trim(self, line: str) -> tuple[str, bool]:
        """``line`` without its continuation token, and whether the instruction ends here."""
        if self.continuation.search(line):
            return self.continuation.sub(lambda m: m.group(1) or "", line), False
        return line, True


def _process(d: _Directives, raw: str, lineno: int, *, first: bool) -> str:
    token = _strip_newline(raw)
    if first:
        token = token.lstrip()
    d.offer(token, lineno)
    return "" if token.startswith("#") else token


def read_lines(text: str) -> Lines:
    """Split ``text`` into logical lines, reading directives and heredoc bodies on the way.

    Raises:
        LexError: a repeated or invalid directive, an unterminated heredoc.
    """
    physical = _split(text.removeprefix(_BOM))
    d = _Directives()
    out: list[LogicalLine] = []
    warnings: list[str] = []
    i = 0
    while i < len(physical):
        start = i + 1
        line, ended = d.trim(_process(d, physical[i], start, first=True))
        i += 1
        if ended and not line:
            continue
        blank_inside = False
        while not ended and i < len(physical):
            raw = physical[i]
            piece = _process(d, raw, i + 1, first=False)
            i += 1
            if _is_comment(raw):
                continue
            if not piece.strip():
                blank_inside = True
                continue
            piece, ended = d.trim(piece)
            line += piece
        if blank_inside:
            warnings.append(f"line {start}: empty continuation line found in: {line.strip()}")
        heredocs: list[Heredoc] = []
        for name, chomp, expand, fd in _heredoc_names(line, start):
            body, i = _heredoc_body(physical, i, name, chomp, start)
            if chomp:
                body = _LEADING_TABS.sub("", body)
            heredocs.append(Heredoc(name=name, content=body, expand=expand, chomp=chomp, fd=fd))
        out.append(LogicalLine(start=start, end=i, text=line.strip(), heredocs=tuple(heredocs)))
    return Lines(directives=Directives(escape=d.escape, syntax=d.syntax), lines=tuple(out),
                 warnings=tuple(warnings))


def _heredoc_body(physical: list[str], i: int, name: str, chomp: bool,
                  start: int) -> tuple[str, int]:
    body: list[str] = []
    while i < len(physical):
        raw = physical[i]
        i += 1
        candidate = _strip_newline(raw)
        if chomp:
            candidate = candidate.lstrip("\t")
        if candidate == name:
            return "".join(body), i
        body.append(raw)
    raise LexError(start, "unterminated heredoc")


def _may_hold_heredoc(line: str) -> bool:
    cmd, _, args = split_command(line)
    if cmd.lower() == "onbuild" and args:
        cmd, _, args = split_command(args)
    if cmd.lower() not in _HEREDOC_INSTRUCTIONS:
        return False
    try:
        return parse_json(args) is None
    except ArgumentError:
        return False  # the parser reports it


def _heredoc_names(line: str, start: int) -> list[tuple[str, bool, bool, int]]:
    """The here-documents a line opens: (delimiter, chomp, expand, fd), in order.

    Docker lexes the line as sh would (quotes kept) and takes each word shaped
    ``[n]<<[-]WORD``. The escape token here is always ``\\``, as in Docker.
    """
    if "<<" not in line or not _may_hold_heredoc(line):
        return []
    try:
        words = Lexer(line, {}, raw_quotes=True, raw_escapes=True, skip_unset=True).run()[1]
    except SubstitutionError:
        return []
    found = []
    for word in words:
        try:
            heredoc = heredoc_word(word)
        except SubstitutionError as err:
            raise LexError(start, err.reason) from None
        if heredoc is not None:
            found.append(heredoc)
    return found


def heredoc_word(word: str) -> tuple[str, bool, bool, int] | None:
    """``word`` read as ``[n]<<[-]DELIM``: (delimiter, chomp, expand, fd), or None.

    The delimiter is DELIM unquoted; quoting any part of it (``<<'EOF'``, ``<<E"O"F``) turns
    expansion of the body off, as in sh.

    Raises:
        SubstitutionError: unbalanced quotes in DELIM.
    """
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    plain = Lexer(rest, {}, skip_unset=True).run()[1]
    if len(plain) != 1:
        return None
    raw = Lexer(rest, {}, raw_quotes=True, skip_unset=True).run()[1]
    quoted = raw[0].count("'") + raw[0].count('"') != plain[0].count("'") + plain[0].count('"')
    return plain[0], match.group(2) == "-", not quoted, int(match.group(1) or 0)
