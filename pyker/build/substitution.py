"""Variable substitution in Dockerfile words, as Docker's shell lexer does it.

A Dockerfile is not run by a shell, yet some instructions read ``$VAR`` from the build's
environment (``ENV`` and ``ARG`` values seen so far): ``WORKDIR $HOME/app``. Docker expands
them itself, with a small lexer that mimics sh(1) for the few things a Dockerfile needs
(buildkit ``frontend/dockerfile/shell/lex.go``; Dockerfile reference, "Environment
replacement"):

* ``$name`` and ``${name}``; a name is letters, digits and ``_``, or all digits, or one
  special parameter (``$@ $* $# $? $- $$ $! $0``), which is looked up like any other;
* modifiers: ``${v:-word}`` / ``${v-word}`` (default when unset, or also when empty with the
  colon), ``${v:+word}`` / ``${v+word}`` (alternative), ``${v:?msg}`` / ``${v?msg}`` (error),
  ``${v#pat}`` ``${v##pat}`` ``${v%pat}`` ``${v%%pat}`` (trim the shortest/longest prefix or
  suffix matching a ``*``/``?`` pattern), ``${v/pat/repl}`` and ``${v//pat/repl}``;
* quotes: inside ``'…'`` nothing is special; inside ``"…"`` only ``$`` and the escape token
  (before ``"``, ``$`` or itself) are; the quotes themselves are removed;
* the escape token (``\\`` or, after ``# escape=`````, the backtick) makes the next character
  literal: ``\\$HOME`` stays ``$HOME``.

Only the instructions in :data:`EXPANDING` are expanded; RUN, CMD and ENTRYPOINT are left to
the container's shell (``RUN echo $HOME`` reads the container's ``HOME``), so pyker must not
touch them. The parser keeps every word raw and the builder calls :func:`expand` (one
result) or :func:`expand_words` (split on blanks *after* expansion, for the instructions that
take several words) with the environment at that step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyker.errors import BuildError

# The instructions whose arguments Docker expands, from the Dockerfile reference ("Environment
# replacement"). ONBUILD is not here: its trigger is stored raw and expanded when it runs in
# the child build. ARG is: buildkit expands a default (``ARG B=${A}-x``) though the list in
# the reference predates ARG; RUN --mount and other flags are expanded by buildkit too, and
# that is the builder's concern.
EXPANDING = frozenset({
    "ADD", "ARG", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
})

_SPECIAL_PARAMS = "@*#?-$!0"


class SubstitutionError(BuildError):
    """A word the lexer cannot read: ``failed to process "${x": syntax error: missing '}'``."""

    def __init__(self, word: str, reason: str) -> None:
        super().__init__(f'failed to process "{word}": {reason}')
        self.word = word
        self.reason = reason


class _Words:
    """Words being split on blanks as characters arrive: quoted text never splits."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False

    def add(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word, self.in_word = "", False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def done(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word, self.in_word = "", False
        return self.words


class Lexer:
    """One pass over one word. The options are those the parser needs to spot heredocs:
    ``raw_quotes``/``raw_escapes`` keep quotes and escapes in the result, ``skip_unset``
    leaves ``$name`` as written when ``name`` is unset."""

    def __init__(self, text: str, env: Mapping[str, str], *, escape: str = "\\",
                 raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False) -> None:
        self.text, self.pos, self.env, self.escape = text, 0, env, escape
        self.raw_quotes, self.raw_escapes, self.skip_unset = raw_quotes, raw_escapes, skip_unset

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.until("", self.raw_escapes)
        except _Syntax as err:
            raise SubstitutionError(self.text, str(err)) from None

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Read to ``stop`` (consumed) or to the end when ``stop`` is empty."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while (ch := self.peek()):
            if stop and ch == stop:
                self.next()
                return "".join(result), words.done()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                for c in value:  # an expanded value splits on blanks, as in sh
                    words.add(c)
            elif ch in "'\"":
                value = self.single_quote() if ch == "'" else self.double_quote()
                result.append(value)
                words.add_raw(value)
            else:
                self.next()
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw(ch)
                else:
                    words.add(ch)
                result.append(ch)
        if stop:
            raise _Syntax(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def single_quote(self) -> str:
        quote = self.next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self.next()
            if not ch:
                raise _Syntax("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        quote = self.next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self.peek()
            if not ch:
                raise _Syntax("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if not following:
                    continue  # a lone escape at the end of the word is dropped
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        first = self.peek()
        if first.isdigit():
            digits = []
            while self.peek().isdigit():
                digits.append(self.next())
            return "".join(digits)
        if first and first in _SPECIAL_PARAMS:
            return self.next()
        chars = []
        while (ch := self.peek()) and (ch.isalnum() or ch == "_"):
            chars.append(self.next())
        return "".join(chars)

    def lookup(self, name: str) -> str | None:
        return self.env.get(name)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return f"${name}" if self.skip_unset else ""
            return value
        self.next()
        if not self.peek():
            raise _Syntax("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise _Syntax("syntax error: bad substitution")
        name = self.name()
        op = self.next()
        if op == "}":
            value = self.lookup(name)
            if value is None:
                return f"${{{name}}}" if self.skip_unset else ""
            return value
        if op == "/":
            return self.replace(name)
        if not op:
            raise _Syntax("syntax error: missing '}'")
        return self.modifier(name, op)

    def modifier(self, name: str, op: str) -> str:
        null_is_unset = op == ":"
        if null_is_unset:
            op += self.next()
        kind = op[-1]
        word = self._word_to("}", raw_escapes=kind in "#%", missing="'}'")
        value = self.lookup(name)
        if value is None and self.skip_unset:
            return f"${{{name}{op}{word}}}"
        unset = value is None or (null_is_unset and value == "")
        if kind == "-":
            return word if unset else value or ""
        if kind == "+":
            return "" if unset else word
        if kind == "?":
            if value is None:
                raise _Syntax(f"{name}: {word or 'is not allowed to be unset'}")
            if unset:
                raise _Syntax(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if kind in "#%":
            greedy = word.startswith(kind)
            pattern = word[1:] if greedy else word
            if kind == "#":
                return _trim_prefix(pattern, value or "", greedy)
            return _trim_suffix(pattern, value or "", greedy)
        raise _Syntax(f"unsupported modifier ({op}) in substitution")

    def replace(self, name: str) -> str:
        every = self.peek() == "/"
        if every:
            self.next()
        pattern = self._word_to("/", raw_escapes=True, missing="'/' in ${}")
        replacement = self._word_to("}", raw_escapes=True, missing="'}'")
        value = self.lookup(name)
        if value is None and self.skip_unset:
            return f"${{{name}/{pattern}/{replacement}}}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        # A function, so that the replacement is taken literally (re would read \1 in it).
        return regex.sub(lambda _m: replacement, value or "", count=0 if every else 1)

    def _word_to(self, stop: str, *, raw_escapes: bool, missing: str) -> str:
        try:
            return self.until(stop, raw_escapes)[0]
        except _Syntax:
            if not self.peek():
                raise _Syntax(f"syntax error: missing {missing}") from None
            raise


class _Syntax(Exception):
    """Internal: a lexer error, given the whole word by :meth:`Lexer.run`."""


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """The regex of a sh pattern: ``*`` any string, ``?`` one character, no brackets."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue  # escaped only to get past the ${…} syntax, not part of the pattern
            following = pattern[i] if i < len(pattern) else ""
            i += 1
            if following not in ("*", "?", "\\"):
                raise _Syntax(f"invalid pattern ({pattern}) in substitution: "
                              f"invalid escape '\\{following}'")
            out.append(re.escape(following))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy=greedy, anchored=True).match(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    """``a\\*c`` reversed as ``c\\*a``: an escape stays in front of what it escapes."""
    tokens, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex finds the leftmost match, never the shortest rightmost one: reversing both
    # the value and the pattern turns a suffix trim into a prefix trim.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """``word`` with its variables replaced and its quotes and escapes removed.

    An unset variable is the empty string, as in sh.

    Raises:
        SubstitutionError: unbalanced quotes or braces, an unknown modifier, ``${v?msg}``.
    """
    return Lexer(word, env, escape=escape).run()[0]


def expand_words(text: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    """``text`` expanded, then split on blanks outside quotes (``EXPOSE $PORTS``).

    Splitting happens after expansion, so a value with blanks gives several words unless it
    is quoted: with ``P="80 443"``, ``$P`` is two words and ``"$P"`` one. An empty quoted
    word disappears, as in Docker.

    Raises:
        SubstitutionError: as :func:`expand`.
    """
    return Lexer(text, env, escape=escape).run()[1]
