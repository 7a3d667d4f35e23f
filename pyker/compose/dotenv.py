"""``.env`` files, read as Compose reads them: the project's ``.env`` and services' ``env_file``.

One ``KEY=VALUE`` a line, the way Compose's dotenv reader (a fork of godotenv) takes it:

* blank lines and ``#`` comments are skipped; ``export KEY=VALUE`` is accepted, so one file
  can also be sourced by a shell;
* an unquoted value is trimmed, and `` #`` after a blank starts a comment;
* ``'single quotes'`` keep the text as written, across lines if need be;
* ``"double quotes"`` read ``\\n \\t \\r \\\\ \\" \\$`` escapes, may span lines;
* unquoted and double-quoted values are interpolated (``${DB_HOST:-db}``) from the keys
  defined *earlier in the same file*, then from the ``lookup`` given (the process's
  environment, or the project's for ``env_file``); a lone ``$`` stays a ``$``;
* ``KEY`` alone takes its value from ``lookup`` and is skipped when it is unset there.

Errors name the file and the line: ``.env:3: unexpected character " " in variable name "A B"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from pyker.errors import ComposeError
from pyker.compose.interpolate import Interpolator

Lookup = Callable[[str], "str | None"]

_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "$": "$$"}


def parse_dotenv(text: str, file: str,
                 lookup: Mapping[str, str] | Lookup | None = None) -> dict[str, str]:
    """The variables of one ``.env`` text, in file order.

    Raises:
        ComposeError: ``FILE:LINE: <problem>`` for a bad name, an unterminated quote, text
            after a closing quote or a bad ``${`` substitution.
    """
    outer: Lookup = (lookup.get if isinstance(lookup, Mapping) else lookup) or (lambda _: None)
    values: dict[str, str] = {}
    interpolator = Interpolator(lambda name: values.get(name, outer(name)), warn=None,
                                lone_dollar=True)
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno, line = i + 1, lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        key, eq, rest = line.removeprefix("export ").partition("=")
        key = key.strip()
        _check_key(key, file, lineno)
        if not eq:
            found = outer(key)
            if found is not None:
                values[key] = found
            continue
        rest = rest.strip()
        if rest[:1] == "'":
            value, i = _quoted(rest, lines, i, file, lineno)
        elif rest[:1] == '"':
            raw, i = _quoted(rest, lines, i, file, lineno)
            value = _substitute(interpolator, _unescape(raw), key, file, lineno)
        else:
            raw = re.split(r"\s#", rest, maxsplit=1)[0].rstrip()
            value = _substitute(interpolator, raw, key, file, lineno)
        values[key] = value
    return values


def read_dotenv(path: str, lookup: Mapping[str, str] | Lookup | None = None, *,
                name: str | None = None) -> dict[str, str]:
    """:func:`parse_dotenv` of a file; ``name`` is how errors call it (default: ``path``).

    Raises:
        ComposeError: the file cannot be read, or :func:`parse_dotenv`'s errors.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ComposeError(f"env file {path} not found: stat {path}: "
                           "no such file or directory") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ComposeError(f"env file {path}: {reason}") from None
    return parse_dotenv(text, name or path, lookup)


def _check_key(key: str, file: str, line: int) -> None:
    if not key:
        raise ComposeError("missing variable name before \"=\"", file=file, line=line)
    bad = _KEY.sub("", key)
    if bad:
        raise ComposeError(f'unexpected character "{bad[0]}" in variable name "{key}"',
                           file=file, line=line)


def _quoted(rest: str, lines: list[str], i: int, file: str, line: int) -> tuple[str, int]:
    """The text between the quote opening ``rest`` and its closing one, which may sit on a
    later line; returns it with the index of the next line to read."""
    quote, body = rest[0], rest[1:]
    while True:
        end = _closing_quote(body, quote)
        if end >= 0:
            break
        if i >= len(lines):
            raise ComposeError(f"unterminated quoted value: {quote}", file=file, line=line)
        body += "\n" + lines[i]
        i += 1
    tail = body[end + 1:].strip()
    if tail and not tail.startswith("#"):
        raise ComposeError(f'unexpected text "{tail}" after the closing quote',
                           file=file, line=line)
    return body[:end], i


def _closing_quote(body: str, quote: str) -> int:
    i = 0
    while i < len(body):
        if body[i] == "\\" and quote == '"':
            i += 2  # \" does not close a double-quoted value
            continue
        if body[i] == quote:
            return i
        i += 1
    return -1


def _unescape(raw: str) -> str:
    # \$ becomes $$ so that the interpolation that follows leaves one literal $.
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), raw)


def _substitute(interpolator: Interpolator, raw: str, key: str, file: str, line: int) -> str:
    try:
        return interpolator.substitute(raw, key)
    except ComposeError as err:
        raise ComposeError(err.reason, file=file, line=line) from None
