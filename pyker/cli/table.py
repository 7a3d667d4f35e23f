"""Column alignment the way Docker prints its tables: a port of Go's ``text/tabwriter``.

Docker renders every ``docker ps`` / ``docker images`` table by writing tab-separated rows into
``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`` (cli/command/formatter/formatter.go): minimum cell
width 10, tab width 1, padding 3, padded with spaces, no flags. Docker vendors its own copy of
the package (cli/command/formatter/tabwriter), identical to Go's except that a cell's width is
measured in terminal columns (go-runewidth) rather than in runes, so CJK text lines up.

The algorithm is Nick Gravgaard's *elastic tabstops*:

- Text is cut into cells, each *terminated* by ``\\t`` (or ``\\v``); ``\\n`` and ``\\f`` end
  a line. The text after the last tab of a line is a cell too, but it belongs to no column and
  is never padded, which is why Docker's lines carry no trailing blanks.
- Tab-terminated cells in the same position on *adjacent* lines form a column block; a line
  with fewer cells ends the block. Each block is as wide as its widest cell plus ``padding``,
  and at least ``minwidth``.
- A line with no tab at all, or ``\\f``, flushes: what follows is aligned independently.

Only the configuration Docker uses is ported (left alignment, no HTML filtering, no escapes);
``padchar="\\t"`` pads with tabs, as Go does.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class TabConfig:
    """The arguments of Go's ``tabwriter.NewWriter`` (the flags are not ported)."""

    minwidth: int = 10
    tabwidth: int = 1
    padding: int = 3
    padchar: str = " "

    def __post_init__(self) -> None:
        if min(self.minwidth, self.tabwidth, self.padding) < 0:
            raise ValueError(f"negative minwidth, tabwidth, or padding: {self}")
        if len(self.padchar) != 1:
            raise ValueError(f"padchar must be one character, not {self.padchar!r}")


# The writer of cli/command/formatter/formatter.go: every Docker table is printed with it.
DOCKER = TabConfig()


@dataclass(frozen=True, slots=True)
class _Cell:
    text: str
    width: int  # in terminal columns
    htab: bool  # terminated by '\t' (not '\v', nor a line end)


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes, as go-runewidth counts them (East Asian wide = 2)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf", "Mn", "Me"):
            continue  # control and zero-width characters take no column
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def tabwrite(text: str, config: TabConfig = DOCKER) -> str:
    """Align the tab-separated cells of ``text``, as writing it to a Go tabwriter and flushing.

    Examples:
        >>> tabwrite("REPOSITORY\\tTAG\\nbusybox\\tlatest\\n")
        'REPOSITORY   TAG\\nbusybox      latest\\n'
    """
    out: list[str] = []
    lines: list[list[_Cell]] = [[]]
    cell: list[str] = []
    for ch in text:
        if ch not in "\t\v\n\f":
            cell.append(ch)
            continue
        content = "".join(cell)
        cell.clear()
        lines[-1].append(_Cell(content, display_width(content), ch == "\t"))
        if ch in "\n\f":
            ncells = len(lines[-1])
            lines.append([])
            # A line of one cell cannot widen any column below it (its only cell is the
            # trailing one), so Go flushes there; '\f' forces the same.
            if ch == "\f" or ncells == 1:
                _flush(lines, config, out)
                lines = [[]]
    if cell:
        content = "".join(cell)
        lines[-1].append(_Cell(content, display_width(content), False))
    _flush(lines, config, out)
    return "".join(out)


def tabwriter(rows: Iterable[str], config: TabConfig = DOCKER) -> str:
    """Align ``rows`` (one line each, cells separated by ``\\t``); every line ends in ``\\n``.

    Examples:
        >>> tabwriter(["IMAGE ID\\tSIZE", "0123456789ab\\t4.26MB"])
        'IMAGE ID       SIZE\\n0123456789ab   4.26MB\\n'
    """
    return tabwrite("".join(f"{row}\n" for row in rows), config)


def _flush(lines: list[list[_Cell]], config: TabConfig, out: list[str]) -> None:
    _format(lines, config, out, [], 0, len(lines))


def _format(lines: list[list[_Cell]], config: TabConfig, out: list[str],
            widths: list[int], line0: int, line1: int) -> None:
    """Go's ``Writer.format``: size the column ``len(widths)`` block by block, recursing right."""
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        # A cell exists in this column: print the lines above the block, then size the block.
        _write_lines(lines, config, out, widths, line0, this)
        line0 = this
        width = config.minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, lines[this][column].width + config.padding)
            this += 1
        _format(lines, config, out, widths + [width], line0, this)
        line0 = this
    _write_lines(lines, config, out, widths, line0, line1)


def _write_lines(lines: list[list[_Cell]], config: TabConfig, out: list[str],
                 widths: list[int], line0: int, line1: int) -> None:
    for i in range(line0, line1):
        for j, cell in enumerate(lines[i]):
            out.append(cell.text)
            if j < len(widths):
                out.append(_padding(cell.width, widths[j], config))
        # The last buffered line is the unterminated tail: Go writes no newline after it.
        if i + 1 < len(lines):
            out.append("\n")


def _padding(textw: int, cellw: int, config: TabConfig) -> str:
    if config.padchar == "\t":
        if config.tabwidth == 0:
            return ""  # tabs of no width cannot pad
        # Round the cell up to a tab stop and fill with as many tabs as it takes.
        cellw = -(-cellw // config.tabwidth) * config.tabwidth
        return "\t" * -(-(cellw - textw) // config.tabwidth)
    return config.padchar * (cellw - textw)
