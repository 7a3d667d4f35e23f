"""The tabwriter port against Go's own test vectors and Docker's table layout.

The ``GO_VECTORS`` are the flag-free cases of Go's src/text/tabwriter/tabwriter_test.go, with
their expected outputs unchanged, except test 11, whose CJK cells Docker's fork measures as
two columns each (go-runewidth) where Go's counts one rune.
"""

from __future__ import annotations

import pytest

from pyker.cli.table import DOCKER, TabConfig, display_width, tabwrite, tabwriter

GO_VECTORS = [
    ("1a", 8, 0, 1, ".", "", ""),
    ("2", 8, 0, 1, ".", "\n\n\n", "\n\n\n"),
    ("3", 8, 0, 1, ".", "a\nb\nc", "a\nb\nc"),
    ("4a", 8, 0, 1, ".", "\t", ""),
    ("5", 8, 0, 1, ".", "*\t*", "*.......*"),
    ("5b", 8, 0, 1, ".", "*\t*\n", "*.......*\n"),
    ("5c", 8, 0, 1, ".", "*\t*\t", "*.......*"),
    ("6", 8, 0, 1, ".", "\t\n", "........\n"),
    ("7a", 8, 0, 1, ".", "a) foo", "a) foo"),
    ("7b", 8, 0, 1, " ", "b) foo\tbar", "b) foo  bar"),
    ("7c", 8, 0, 1, ".", "c) foo\tbar\t", "c) foo..bar"),
    ("7d", 8, 0, 1, ".", "d) foo\tbar\n", "d) foo..bar\n"),
    ("7e", 8, 0, 1, ".", "e) foo\tbar\t\n", "e) foo..bar.....\n"),
    ("8", 8, 0, 1, "*", "Hello, world!\n", "Hello, world!\n"),
    ("9a", 1, 0, 0, ".", "1\t2\t3\t4\n11\t222\t3333\t44444\n",
     "1.2..3...4\n11222333344444\n"),
    ("9c", 1, 0, 0, ".", "1\t2\t3\t4\f11\t222\t3333\t44444\n", "1234\n11222333344444\n"),
    ("10a", 5, 0, 0, ".", "1\t2\t3\t4\n", "1....2....3....4\n"),
    ("10b", 5, 0, 0, ".", "1\t2\t3\t4\t\n", "1....2....3....4....\n"),
    ("11 runewidth", 8, 0, 1, ".", "本\tb\tc\naa\t本本本\tcccc\tddddd\naaa\tbbbb\n",
     "本......b.......c\naa......本本本..cccc....ddddd\naaa.....bbbb\n"),
    ("12b", 2, 0, 0, " ", "a\tb\tc\naa\tbbb\tcccc\naaa\tbbbb\n",
     "a  b  c\naa bbbcccc\naaabbbb\n"),
    ("12c", 8, 0, 1, "_", "a\tb\tc\naa\tbbb\tcccc\naaa\tbbbb\n",
     "a_______b_______c\naa______bbb_____cccc\naaa_____bbbb\n"),
    ("13a", 4, 0, 1, "-",
     "4444\t日本語\t22\t1\t333\n999999999\t22\n7\t22\n\t\t\t88888888\n\n"
     "666666\t666666\t666666\t4444\n1\t1\t999999999\t0000000000\n",
     "4444------日本語-22--1---333\n999999999-22\n7---------22\n------------------88888888\n\n"
     "666666-666666-666666----4444\n1------1------999999999-0000000000\n"),
    ("13b", 4, 0, 3, ".",
     "4444\t333\t22\t1\t333\n999999999\t22\n7\t22\n\t\t\t88888888\n\n"
     "666666\t666666\t666666\t4444\n1\t1\t999999999\t0000000000\n",
     "4444........333...22...1...333\n999999999...22\n7...........22\n"
     "....................88888888\n\n"
     "666666...666666...666666......4444\n1........1........999999999...0000000000\n"),
    ("15a", 4, 0, 0, ".", "a\t\tb", "a.......b"),
    ("16a", 100, 100, 0, "\t",
     "a\tb\t\td\na\tb\t\td\te\na\na\tb\tc\td\na\tb\tc\td\te\n",
     "a\tb\t\td\na\tb\t\td\te\na\na\tb\tc\td\na\tb\tc\td\te\n"),
]


@pytest.mark.parametrize(("name", "minwidth", "tabwidth", "padding", "padchar", "src", "want"),
                         GO_VECTORS, ids=[v[0] for v in GO_VECTORS])
def test_go_vectors(name: str, minwidth: int, tabwidth: int, padding: int, padchar: str,
                    src: str, want: str) -> None:
    config = TabConfig(minwidth=minwidth, tabwidth=tabwidth, padding=padding, padchar=padchar)
    assert tabwrite(src, config) == want


def test_docker_config_is_formatter_go() -> None:
    assert DOCKER == TabConfig(minwidth=10, tabwidth=1, padding=3, padchar=" ")


def test_column_is_max_width_plus_padding_at_least_minwidth() -> None:
    # REPOSITORY is 10 wide: 13 with padding; busybox (7+3) fits in that. The last cell of a
    # line is never padded.
    assert tabwriter(["REPOSITORY\tTAG", "busybox\tlatest"]) == \
        "REPOSITORY   TAG\nbusybox      latest\n"


def test_minwidth_wins_for_narrow_columns() -> None:
    # TAG and latest need 6 and 9 columns; minwidth makes it 10.
    assert tabwriter(["TAG\tX", "latest\tY"]) == "TAG       X\nlatest    Y\n"


def test_docker_images_default_table() -> None:
    rows = ["REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE",
            "busybox\tlatest\ta416a98b71e2\t2 weeks ago\t4.26MB"]
    assert tabwriter(rows) == (
        "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
        "busybox      latest    a416a98b71e2   2 weeks ago   4.26MB\n")


def test_line_without_tab_splits_the_table() -> None:
    # A line of one cell flushes: the columns below are sized on their own.
    assert tabwriter(["a\tb", "title", "longer-cell\tc"]) == \
        "a         b\ntitle\nlonger-cell   c\n"


def test_shorter_line_ends_a_column_block() -> None:
    # Column 1 is a block of the first line only, so its width ignores the third line.
    assert tabwriter(["a\tb\tc", "a\tb", "a\tlong-long-cell\tc"]) == (
        "a         b         c\n"
        "a         b\n"
        "a         long-long-cell   c\n")


def test_empty_cells_are_padded() -> None:
    assert tabwriter(["\tx", "abc\ty"]) == "          x\nabc       y\n"


def test_no_rows() -> None:
    assert tabwriter([]) == ""


@pytest.mark.parametrize(("text", "width"), [
    ("abc", 3), ("本", 2), ("日本語", 6), ("e\u0301", 1), ("\u200b", 0), ("", 0),
])
def test_display_width(text: str, width: int) -> None:
    assert display_width(text) == width


def test_bad_config_names_the_value() -> None:
    with pytest.raises(ValueError, match="negative minwidth"):
        TabConfig(minwidth=-1)
    with pytest.raises(ValueError, match="'ab'"):
        TabConfig(padchar="ab")
