"""Compose's variable interpolation: ``${VAR:-default}`` in every string value of a file.

Compose substitutes variables *before* it reads anything else, in every string value (never
in keys), from the environment: the process's, over the project's ``.env``. The syntax is a
subset of the shell's parameter expansion:

=================  ===========================================================
``$VAR ${VAR}``    the value; unset → "" and a warning, once per variable
``${VAR:-word}``   ``word`` when VAR is unset or empty (``-``: only when unset)
``${VAR:?msg}``    an error when VAR is unset or empty (``?``: only when unset)
``${VAR:+word}``   ``word`` when VAR is set and not empty (``+``: when set)
``$$``             a literal ``$`` (``$$HOME`` reaches the container as ``$HOME``)
=================  ===========================================================

``word`` may itself hold substitutions (``${A:-${B}}``); it is expanded only when used, so
``${A:-$B}`` with A set does not warn about B. A ``$`` followed by anything else is an error,
as in Compose: a price written ``5$`` must be ``5$$``. The scanner below is a small
recursive-descent parser rather than Compose's regular expression, so that nested braces
and every operator read the same way.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from pyker.errors import ComposeError
from pyker.compose.yamlsrc import MarkedDict, MarkedList, Mark, NOWHERE, located

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class _Invalid(Exception):
    """The template is malformed: the caller names the key and the whole text."""


class _Required(Exception):
    """``${VAR:?message}`` met an unset (or empty) variable."""


def stderr_warning(message: str) -> None:
    print(f"WARN[0000] {message}", file=sys.stderr)


class Interpolator:
    """Substitutes variables from ``lookup``; warns through ``warn`` (None: silently).

    With ``lone_dollar``, a ``$`` that starts no substitution stays as written (as Compose's
    ``.env`` reader does) instead of being an error.

    One instance serves a whole ``load()``, so each unset variable is warned about once.
    """

    def __init__(self, lookup: Mapping[str, str] | Callable[[str], str | None],
                 warn: Callable[[str], None] | None = stderr_warning, *,
                 lone_dollar: bool = False) -> None:
        self._lookup = lookup.get if isinstance(lookup, Mapping) else lookup
        self._warn = warn
        self._lone_dollar = lone_dollar  # .env files keep "pa$1" as written
        self._warned: set[str] = set()

    def substitute(self, text: str, path: str) -> str:
        """``text`` with its variables substituted; ``path`` names it in errors.

        Raises:
            ComposeError: ``invalid interpolation format for PATH: "TEXT"`` or ``error while
                interpolating PATH: required variable VAR is missing a value: MESSAGE``
                (unlocated: the caller adds the file and line).
        """
        if "$" not in text:
            return text
        try:
            return self._expand(text)
        except _Invalid:
            raise ComposeError(f'invalid interpolation format for {path}: "{text}"') from None
        except _Required as err:
            raise ComposeError(f"error while interpolating {path}: {err}") from None

    def document(self, node: Any, *, path: str = "", mark: Mark = NOWHERE) -> Any:
        """A copy of a parsed document with every string value substituted, marks kept.

        Raises:
            ComposeError: located at the key or item whose value is at fault.
        """
        if isinstance(node, str):
            try:
                return self.substitute(node, path or "value")
            except ComposeError as err:
                raise located(err.reason, mark) from None
        if isinstance(node, dict):
            out = MarkedDict(mark=getattr(node, "mark", mark))
            for key, value in node.items():
                where = node.mark_of(key) if isinstance(node, MarkedDict) else mark
                out[key] = self.document(value, path=f"{path}.{key}" if path else key,
                                         mark=where)
            out.marks = dict(getattr(node, "marks", {}))
            return out
        if isinstance(node, list):
            out_list = MarkedList(mark=getattr(node, "mark", mark))
            for i, value in enumerate(node):
                where = node.mark_of(i) if isinstance(node, MarkedList) else mark
                out_list.append(self.document(value, path=f"{path}[{i}]", mark=where))
            out_list.marks = list(getattr(node, "marks", []))
            return out_list
        return node

    # -- the scanner ---------------------------------------------------------------------

    def _expand(self, text: str) -> str:
        out: list[str] = []
        i = 0
        while i < len(text):
            dollar = text.find("$", i)
            if dollar < 0:
                out.append(text[i:])
                break
            out.append(text[i:dollar])
            value, i = self._one(text, dollar)
            out.append(value)
        return "".join(out)

    def _one(self, text: str, dollar: int) -> tuple[str, int]:
        """The substitution starting at ``text[dollar] == "$"``, and where scanning resumes."""
        after = text[dollar + 1:dollar + 2]
        if after == "$":
            return "$", dollar + 2
        if after == "{":
            return self._braced(text, dollar + 2)
        name = _NAME.match(text, dollar + 1)
        if not name:
            if self._lone_dollar:
                return "$", dollar + 1
            raise _Invalid
        return self._plain(name.group()), name.end()

    def _braced(self, text: str, start: int) -> tuple[str, int]:
        name_match = _NAME.match(text, start)
        if not name_match:
            raise _Invalid  # "${", "${1x}", "${}"
        name, i = name_match.group(), name_match.end()
        if text[i:i + 1] == "}":
            return self._plain(name), i + 1
        operator = next((op for op in _OPERATORS if text.startswith(op, i)), None)
        if operator is None:
            raise _Invalid  # "${VAR", "${VAR x}"
        close = _closing_brace(text, i + len(operator))
        word = text[i + len(operator):close]
        return self._apply(name, operator, word), close + 1

    def _apply(self, name: str, operator: str, word: str) -> str:
        value = self._lookup(name)
        present = value is not None and (value != "" or ":" not in operator)
        kind = operator[-1]
        if kind == "-":
            return value if present else self._expand(word)  # type: ignore[return-value]
        if kind == "+":
            return self._expand(word) if present else ""
        if not present:
            raise _Required(f"required variable {name} is missing a value: {self._expand(word)}")
        return value  # type: ignore[return-value]

    def _plain(self, name: str) -> str:
        value = self._lookup(name)
        if value is None:
            if self._warn and name not in self._warned:
                self._warned.add(name)
                self._warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
            return ""
        return value


def _closing_brace(text: str, start: int) -> int:
    """The index of the ``}`` closing a substitution whose word starts at ``start``."""
    depth = 0
    i = start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise _Invalid  # "${VAR:-x"
