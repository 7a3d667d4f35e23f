"""Docker's ``--format`` language: the part of Go's ``text/template`` the Docker CLI uses.

``docker ps --format '{{.ID}}\\t{{.Names}}'`` and ``docker inspect -f '{{.State.Pid}}'`` run a
Go template on each object. This module parses such a template once (:func:`compile`) and
executes it with Go's semantics: fields of maps and objects, ``$`` variables, ``if``/``with``/
``range``, pipelines, Go's builtins and Docker's extra functions (``json``, ``join``,
``truncate``…), and Go's way of printing values. :func:`format_rows` adds what the Docker CLI
does around the template (cli/command/formatter/formatter.go): ``table`` formats get a header
row and tabwriter alignment, ``json`` means ``{{json .}}``, and a literal ``\\t`` or ``\\n``
typed in the shell becomes a tab or a newline.

Data are Python stand-ins for Go values (see ``fmt``): a mapping acts as
``map[string]interface{}``, so a missing key prints ``<no value>`` and a None value, which Go
unwraps to nothing, prints the same; an object acts as a struct, whose missing field is an
error. The private modules, lowest first: ``lex`` (tokens, :class:`TemplateError`),
``nodes`` and ``parse`` (the tree), ``fmt`` (Go's printing),
``funcs`` (the function set), ``exec`` (evaluation).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from pyker.cli.gotemplate.exec import Exec
from pyker.cli.gotemplate.funcs import FUNCS, HEADER_FUNCS
from pyker.cli.gotemplate.lex import TemplateError
from pyker.cli.gotemplate.nodes import Tree
from pyker.cli.gotemplate.parse import parse
from pyker.cli.table import tabwrite

__all__ = ["LabelledRow", "Template", "TemplateError", "compile", "format_rows", "render"]


class LabelledRow(dict):
    """A ``ps``/``images`` row: Docker's fields as keys, and the formatter's method
    ``{{.Label "key"}}`` (one label's value, "" when absent)."""

    def __init__(self, fields: Mapping[str, object], labels: Mapping[str, str]) -> None:
        super().__init__(fields)
        self._labels = dict(labels)

    def Label(self, key: str) -> str:  # noqa: N802 - the name templates call
        return self._labels.get(key, "")


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template; immutable, so one compiled template serves any number of renders."""

    source: str
    tree: Tree

    def render(self, data: object) -> str:
        """Execute the template on ``data``.

        Raises:
            TemplateError: ``template parsing error: template: :1:2: executing "" at
                <.Foo>: can't evaluate field Foo in type Image``.
        """
        out: list[str] = []
        Exec(self.source, self.tree, FUNCS, out).run(data)
        return "".join(out)

    def render_header(self, headers: Mapping[str, str]) -> str:
        """The header row of a ``table`` format, rendered the way the Docker CLI does it.

        Docker executes the template on a map of column titles with functions that leave the
        titles alone, and ignores an error, keeping what was written before it.
        """
        out: list[str] = []
        try:
            Exec(self.source, self.tree, HEADER_FUNCS, out).run(_Titles(headers))
        except TemplateError:
            pass
        return "".join(out)


@functools.lru_cache(maxsize=256)
def compile(template: str) -> Template:  # noqa: A001 - the name the CLI modules import
    """Parse ``template``; the result is cached, as the same format serves every row.

    Raises:
        TemplateError: ``template parsing error: template: :1: function "foo" not defined``.
    """
    return Template(template, parse(template, frozenset(FUNCS)))


def render(template: str, data: object) -> str:
    """Compile (cached) and execute ``template`` on ``data``."""
    return compile(template).render(data)


_SHELL_ESCAPES = re.compile(r"\\[tn]")


def format_rows(fmt: str, rows: Iterable[object], headers: Mapping[str, str] | None = None) -> str:
    """Render ``rows`` with a ``--format`` value, exactly as the Docker CLI prints a listing.

    ``table TEMPLATE`` prints a header row (column titles from ``headers``, keyed by field
    name; a field without a title is headed by its name upper-cased) and aligns the columns
    with Docker's tabwriter; ``json`` prints each row as ``{{json .}}``; anything else is a
    template run once per row. Each row ends with a newline. A format of just ``table`` is
    left to the caller, who substitutes its default table format first, as Docker does.

    Raises:
        TemplateError: the template does not parse, or fails on a row.
    """
    is_table = fmt.startswith("table")
    body = fmt[len("table"):] if is_table else "{{json .}}" if fmt == "json" else fmt
    # A user types "\t" in the shell as two characters; Docker turns them into a tab.
    body = _SHELL_ESCAPES.sub(lambda m: "\t" if m.group() == "\\t" else "\n", body.strip(" "))
    template = compile(body)
    lines = [template.render(row) + "\n" for row in rows]
    if not is_table:
        return "".join(lines)
    return tabwrite(template.render_header(headers or {}) + "\n" + "".join(lines))


class _Titles(Mapping[str, str]):
    """The header row's data: every field is a column title, even one the caller did not name."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers

    def __getitem__(self, key: str) -> str:
        return self._headers.get(key, key.upper())

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)
