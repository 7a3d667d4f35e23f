"""Compose interpolation (``${VAR:-default}``…), ``.env`` parsing, durations and sizes."""

from __future__ import annotations

import pytest

from pyker.compose.dotenv import parse_dotenv, read_dotenv
from pyker.compose.interpolate import Interpolator
from pyker.compose.units import format_duration, parse_duration, parse_size
from pyker.compose.yamlsrc import load_yaml
from pyker.errors import ComposeError

ENV = {"SET": "value", "EMPTY": "", "NUM": "8080", "B": "bee"}


def sub(text: str, env: dict[str, str] = ENV, warnings: list[str] | None = None) -> str:
    sink = warnings if warnings is not None else []
    return Interpolator(env, sink.append).substitute(text, "services.web.image")


@pytest.mark.parametrize("text, expected", [
    ("plain", "plain"),
    ("$SET", "value"),
    ("${SET}", "value"),
    ("a${SET}b$SET.c", "avalueb" + "value.c"),
    ("${NUM}:80", "8080:80"),
    ("${UNSET:-dflt}", "dflt"),
    ("${EMPTY:-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""),
    ("${UNSET-dflt}", "dflt"),
    ("${SET:-dflt}", "value"),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${SET:?must}", "value"),
    ("${EMPTY?must}", ""),
    ("${UNSET:-${B}}", "bee"),
    ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
    ("${UNSET:-x${B}y}z", "xbeeyz"),
    ("${UNSET:-a:b}", "a:b"),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("cost: 5$$", "cost: 5$"),
    ("${UNSET:-$$}", "$"),
])
def test_substitution(text: str, expected: str) -> None:
    assert sub(text) == expected


def test_unset_variable_is_blank_and_warned_once() -> None:
    warnings: list[str] = []
    interpolator = Interpolator(ENV, warnings.append)
    assert interpolator.substitute("x${MISSING}y", "a") == "xy"
    assert interpolator.substitute("$MISSING", "b") == ""
    assert warnings == ['The "MISSING" variable is not set. Defaulting to a blank string.']


def test_default_stderr_warning_has_compose_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    Interpolator({}).substitute("${NOPE}", "x")
    assert capsys.readouterr().err == (
        'WARN[0000] The "NOPE" variable is not set. Defaulting to a blank string.\n')


def test_default_word_is_expanded_only_when_used() -> None:
    warnings: list[str] = []
    assert sub("${SET:-$MISSING}", warnings=warnings) == "value"
    assert warnings == []


@pytest.mark.parametrize("text, message", [
    ("${UNSET:?set it first}", "error while interpolating services.web.image: required "
                               "variable UNSET is missing a value: set it first"),
    ("${EMPTY:?no empty}", "error while interpolating services.web.image: required "
                           "variable EMPTY is missing a value: no empty"),
    ("${UNSET?gone}", "error while interpolating services.web.image: required variable "
                      "UNSET is missing a value: gone"),
    ("${", 'invalid interpolation format for services.web.image: "${"'),
    ("${VAR", 'invalid interpolation format for services.web.image: "${VAR"'),
    ("${1x}", 'invalid interpolation format for services.web.image: "${1x}"'),
    ("${}", 'invalid interpolation format for services.web.image: "${}"'),
    ("${VAR x}", 'invalid interpolation format for services.web.image: "${VAR x}"'),
    ("${VAR:-x", 'invalid interpolation format for services.web.image: "${VAR:-x"'),
    ("price 5$", 'invalid interpolation format for services.web.image: "price 5$"'),
    ("$1", 'invalid interpolation format for services.web.image: "$1"'),
])
def test_substitution_errors(text: str, message: str) -> None:
    with pytest.raises(ComposeError) as err:
        sub(text)
    assert str(err.value) == message


def test_document_interpolates_values_not_keys_and_keeps_marks() -> None:
    doc = load_yaml("services:\n  web:\n    image: ${IMG}\n    labels:\n"
                    "      $KEY: ${SET}\n    ports: [\"${NUM}:80\", 81]\n", "c.yaml")
    out = Interpolator({**ENV, "IMG": "nginx"}, None).document(doc)
    web = out["services"]["web"]
    assert web == {"image": "nginx", "labels": {"$KEY": "value"}, "ports": ["8080:80", 81]}
    assert web.mark_of("ports") == ("c.yaml", 6)
    assert web["ports"].mark_of(1) == ("c.yaml", 6)


def test_document_error_names_file_line_and_key_path() -> None:
    doc = load_yaml("services:\n  web:\n    image: nginx\n    environment:\n"
                    "      - A=${BAD\n", "c.yaml")
    with pytest.raises(ComposeError) as err:
        Interpolator({}, None).document(doc)
    assert str(err.value) == ('c.yaml:5: invalid interpolation format for '
                              'services.web.environment[0]: "A=${BAD"')


# -- .env --------------------------------------------------------------------------------

def test_dotenv_syntax() -> None:
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=hello world  \n"
        "export EXPORTED=yes\n"
        "COMMENTED=value # trailing comment\n"
        "HASH=a#b\n"
        "SINGLE='literal ${PLAIN} \\n'\n"
        'DOUBLE="line1\\nline2 \\"q\\" ${PLAIN}"\n'
        "EXPANDED=${PLAIN}-x\n"
        "DEFAULTED=${NOPE:-dflt}\n"
        "FROM_OUTSIDE=$OUTER\n"
        "EMPTY=\n"
        "DOLLAR=pa$1word\n"
        'ESCAPED="\\$PLAIN"\n'
        "MULTI='first\n"
        "second'\n"
        "PASSED\n"
        "NOT_PASSED\n"
        "  SPACED = around \n"
    )
    values = parse_dotenv(text, ".env", {"OUTER": "out", "PASSED": "through"})
    assert values == {
        "PLAIN": "hello world",
        "EXPORTED": "yes",
        "COMMENTED": "value",
        "HASH": "a#b",
        "SINGLE": "literal ${PLAIN} \\n",
        "DOUBLE": 'line1\nline2 "q" hello world',
        "EXPANDED": "hello world-x",
        "DEFAULTED": "dflt",
        "FROM_OUTSIDE": "out",
        "EMPTY": "",
        "DOLLAR": "pa$1word",
        "ESCAPED": "$PLAIN",
        "MULTI": "first\nsecond",
        "PASSED": "through",
        "SPACED": "around",
    }


def test_dotenv_later_definition_wins() -> None:
    assert parse_dotenv("A=1\nB=$A\nA=2\n", ".env") == {"A": "2", "B": "1"}


@pytest.mark.parametrize("text, message", [
    ("A B=1\n", '.env:1: unexpected character " " in variable name "A B"'),
    ("OK=1\nA$=1\n", '.env:2: unexpected character "$" in variable name "A$"'),
    ("=1\n", '.env:1: missing variable name before "="'),
    ("A='open\nB=2\n", ".env:1: unterminated quoted value: '"),
    ('A="x" y\n', '.env:1: unexpected text "y" after the closing quote'),
    ("A=${B\n", '.env:1: invalid interpolation format for A: "${B"'),
])
def test_dotenv_errors(text: str, message: str) -> None:
    with pytest.raises(ComposeError) as err:
        parse_dotenv(text, ".env")
    assert str(err.value) == message


def test_read_dotenv_missing_file(tmp_path) -> None:
    path = tmp_path / "nope.env"
    with pytest.raises(ComposeError) as err:
        read_dotenv(str(path))
    assert str(err.value) == (f"env file {path} not found: stat {path}: "
                              "no such file or directory")


# -- durations and sizes -----------------------------------------------------------------

@pytest.mark.parametrize("text, ns", [
    ("10s", 10 * 10**9), ("1m30s", 90 * 10**9), ("500ms", 5 * 10**8), ("1h", 3600 * 10**9),
    ("1.5s", 15 * 10**8), ("2h45m", (2 * 3600 + 45 * 60) * 10**9), ("100us", 100_000),
    ("3µs", 3000), ("7ns", 7), ("0", 0), (5, 5 * 10**9), (0.5, 5 * 10**8),
])
def test_parse_duration(text: str | int | float, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "10 s", "s", "1x", "-1s", "1m 30s", "1.2.3s"])
def test_parse_duration_refuses(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (7, "7ns"), (1500, "1.5µs"), (5 * 10**8, "500ms"), (10 * 10**9, "10s"),
    (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (15 * 10**8, "1.5s"),
])
def test_format_duration_is_go_notation(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text, size", [
    ("512m", 512 << 20), ("1g", 1 << 30), ("1gb", 1 << 30), ("1GiB", 1 << 30),
    ("100k", 100 << 10), ("1024", 1024), ("10b", 10), ("1.5g", 3 << 29), ("64 M", 64 << 20),
    (4096, 4096),
])
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "12x", "1gg", "-1", "m"])
def test_parse_size_refuses(text: str) -> None:
    assert parse_size(text) is None
