"""How Docker cuts one Dockerfile instruction into its name, ``--flags`` and arguments.

This is parse time: nothing is expanded yet, and quotes stay in the words (the lexer of
:mod:`pyker.build.substitution` removes them at build time, when it knows the environment).
The rules follow buildkit's ``parser/split_command.go``, ``line_parsers.go`` and
``instructions/bflag.go``:

* the instruction name is the first blank-separated word, case-insensitive;
* then come the flags: each word that starts with ``--`` (a lone ``--`` ends them);
* the arguments are read per instruction: a JSON array of strings (exec form) when the text
  *is* one, else a shell-form string, or words split on blanks, or ``key=value`` pairs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

# Blanks between words, as Docker's reWhitespace (a newline cannot occur in a logical line).
BLANKS = re.compile(r"[\t\v\f\r ]+")


class ArgumentError(ValueError):
    """Arguments an instruction cannot take; the parser adds the file and line."""


def split_command(line: str) -> tuple[str, list[str], str]:
    """``RUN --network=none make`` → ``("RUN", ["--network=none"], "make")``."""
    parts = BLANKS.split(line.strip(), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = extract_flags(parts[1])
    return parts[0], flags, rest


def extract_flags(text: str) -> tuple[str, list[str]]:
    """The leading ``--flag`` words of ``text`` (unquoted) and the text after them."""
    flags: list[str] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if not text.startswith("--", pos):
            return text[pos:], flags
        word, pos = _flag_word(text, pos)
        if word == "--":  # the end of the flags, as in getopt
            return text[pos:].lstrip(), flags
        flags.append(word)


def _flag_word(text: str, pos: int) -> tuple[str, int]:
    """One flag word from ``pos``: quotes group blanks and vanish, ``\\`` escapes one char."""
    out: list[str] = []
    quote = ""
    while pos < len(text):
        ch = text[pos]
        if not quote and ch.isspace():
            break
        pos += 1
        if quote and ch == quote:
            quote = ""
            continue
        if not quote and ch in "'\"":
            quote = ch
            continue
        if ch == "\\":
            if pos == len(text):
                continue  # a trailing backslash is dropped
            ch = text[pos]
            pos += 1
        out.append(ch)
    return "".join(out), pos


def parse_flags(words: list[str], spec: Mapping[str, str], instruction: str
                ) -> dict[str, str | bool | tuple[str, ...]]:
    """Check ``--name[=value]`` words against ``spec`` (name → ``str``, ``bool`` or ``list``).

    A ``list`` flag may repeat (``--mount``); the others may not.

    Raises:
        ArgumentError: with Docker's wording (``unknown flag: chwon``).
    """
    values: dict[str, str | bool | tuple[str, ...]] = {}
    for word in words:
        name, has_value, value = word[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            raise ArgumentError(f"unknown flag: {name}")
        if kind == "list":
            if not has_value:
                raise ArgumentError(f"missing a value on flag: {name}")
            previous = values.get(name, ())
            assert isinstance(previous, tuple)
            values[name] = (*previous, value)
            continue
        if name in values:
            raise ArgumentError(f"duplicate flag specified: {name}")
        if kind == "bool":
            if has_value and value.lower() not in ("true", "false"):
                raise ArgumentError(f"expecting boolean value for flag {name}, not: {value}")
            values[name] = not has_value or value.lower() == "true"
        else:
            if not has_value:
                raise ArgumentError(f"missing a value on flag: {name}")
            values[name] = value
    return values


def parse_json(text: str) -> tuple[str, ...] | None:
    """The exec form: ``text`` as a JSON array of strings, or None when it is not JSON.

    Docker's exact test: the text (left-trimmed) starts with ``[`` and the whole of it
    decodes as a JSON array; anything else is shell form (``CMD [not json`` runs
    ``/bin/sh -c "[not json"``).

    Raises:
        ArgumentError: a JSON array with a non-string in it, which Docker refuses rather
            than run as shell form.
    """
    text = text.lstrip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise ArgumentError(
            "when using JSON array syntax, arrays must be comprised of strings only")
    return tuple(value)


def parse_words(text: str, escape: str) -> list[str]:
    """Blank-separated words where quotes group blanks, *kept* in the words (``ENV``, ``ARG``).

    ``a="b c" d`` gives ``['a="b c"', 'd']``. The escape token is kept with the character
    it escapes; inside single quotes it is an ordinary character, as in sh.
    """
    words: list[str] = []
    word: list[str] = []
    quoted = False  # the word had quotes: keep it even when empty (``a=""``)
    quote = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        i += 1
        if not quote and ch.isspace():
            if word or quoted:
                words.append("".join(word))
            word, quoted = [], False
            continue
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote, quoted = ch, True
        elif ch == escape and quote != "'":
            if i == n:
                continue  # an escape token at the very end is dropped
            word.append(ch)
            ch = text[i]
            i += 1
        word.append(ch)
    if word or quoted:
        words.append("".join(word))
    return words


def parse_pairs(text: str, instruction: str, escape: str) -> tuple[tuple[str, str], ...]:
    """``k=v k2="v 2"`` or the legacy ``k v w`` (one pair: the rest of the line is the value).

    Which form is told by the first word: with ``=`` in it, every word must have one.

    Raises:
        ArgumentError: no pair, a blank name, a legacy form without a value, a word
            without ``=`` in the new form.
    """
    words = parse_words(text, escape)
    if not words:
        raise ArgumentError(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        parts = BLANKS.split(text.strip(), maxsplit=1)
        if len(parts) < 2:
            raise ArgumentError(f"{instruction} must have two arguments")
        return ((parts[0], parts[1]),)
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ArgumentError(f"Syntax error - can't find = in \"{word}\". "
                                "Must be of the form: name=value")
        if not key:
            raise ArgumentError(f"{instruction} names can not be blank")
        pairs.append((key, value))
    return tuple(pairs)


def blank_split(text: str) -> tuple[str, ...]:
    """Words split on blanks, quotes not special (FROM, EXPOSE, shell-form COPY sources)."""
    return tuple(w for w in BLANKS.split(text.strip()) if w)


def json_or_words(text: str) -> tuple[tuple[str, ...], bool]:
    """ADD/COPY/VOLUME arguments: the JSON array, or else blank-separated words; and
    whether it was JSON."""
    array = parse_json(text)
    if array is not None:
        return array, True
    return blank_split(text), False


_DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6,
                   "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def go_duration(text: str) -> int:
    """Nanoseconds of a Go duration (``90s``, ``1m30s``, ``1.5h``, ``300ms``), as Docker reads
    HEALTHCHECK flags with Go's ``time.ParseDuration``.

    Raises:
        ArgumentError: Go's own messages (``time: missing unit in duration "5"``).
    """
    quoted = f'"{text}"'
    body = text[1:] if text[:1] in ("+", "-") else text
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return 0
    if not body:
        raise ArgumentError(f"time: invalid duration {quoted}")
    total, pos = 0, 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        assert match is not None  # every group may be empty, so it always matches
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not frac:
            raise ArgumentError(f"time: invalid duration {quoted}")
        if not unit:
            raise ArgumentError(f"time: missing unit in duration {quoted}")
        scale = _DURATION_UNITS.get(unit)
        if scale is None:
            raise ArgumentError(f'time: unknown unit "{unit}" in duration {quoted}')
        # Integer arithmetic, truncating the fraction as Go does: no float rounding.
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = match.end()
    return sign * total


# Docker's container.MinimumDuration for HEALTHCHECK intervals.
_MIN_INTERVAL = 1_000_000


def health_interval(name: str, value: str) -> int:
    """A HEALTHCHECK duration flag in ns; 0 when not given (Docker's default then)."""
    if not value:
        return 0
    ns = go_duration(value)
    if ns < _MIN_INTERVAL:
        raise ArgumentError(f'Interval "{name}" cannot be less than 1ms')
    return ns


def health_retries(value: str) -> int:
    if not value:
        return 0
    try:
        retries = int(value, 10)
    except ValueError:
        raise ArgumentError(f'--retries must be an integer (not "{value}")') from None
    if retries < 1:
        raise ArgumentError(f"--retries must be at least 1 (not {retries})")
    return retries
