"""``$VAR`` in Dockerfile words is expanded as Docker's shell lexer does it."""

from __future__ import annotations

import pytest

from pyker.build.substitution import EXPANDING, SubstitutionError, expand, expand_words

ENV = {"A": "alpha", "EMPTY": "", "P": "80 443", "PATH": "/usr/bin:/bin",
       "F": "archive.tar.gz", "1": "one"}


@pytest.mark.parametrize("word, expected", [
    ("$A", "alpha"),
    ("${A}", "alpha"),
    ("${A}_bar", "alpha_bar"),
    ("$A_bar", ""),                      # the name runs to the first non-name character
    ("$UNSET", ""),
    ("x$", "x$"),
    ("$/x", "$/x"),
    ("$1x", "onex"),
    ("${UNSET:-def}", "def"),
    ("${EMPTY:-def}", "def"),
    ("${EMPTY-def}", ""),                # without the colon only unset counts
    ("${UNSET-def}", "def"),
    ("${A:-def}", "alpha"),
    ("${A:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET:+alt}", ""),
    ("${UNSET:-$A}", "alpha"),           # the word is expanded too
    ("${UNSET:-${A:+nested}}", "nested"),
    ("${F#*.}", "tar.gz"),
    ("${F##*.}", "gz"),
    ("${F%.*}", "archive.tar"),
    ("${F%%.*}", "archive"),
    ("${F#nomatch}", "archive.tar.gz"),
    ("${PATH/bin/sbin}", "/usr/sbin:/bin"),
    ("${PATH//bin/sbin}", "/usr/sbin:/sbin"),
    ("\\$A", "$A"),                      # escaped: literal
    ("\\${A}", "${A}"),
    ("'$A'", "$A"),                      # single quotes suppress
    ('"$A"', "alpha"),                   # double quotes keep expansion
    ('"a \\"b\\" \\$A"', 'a "b" $A'),
    ('"back\\slash"', "back\\slash"),    # other escapes in "…" stay as written
    ("a\\ b", "a b"),
    ("$P", "80 443"),                    # one word keeps its blanks
    ("pre-${A}-post", "pre-alpha-post"),
])
def test_expand(word, expected):
    assert expand(word, ENV) == expected


@pytest.mark.parametrize("text, words", [
    ("$P", ["80", "443"]),               # split after expansion
    ('"$P"', ["80 443"]),
    ("a   b", ["a", "b"]),
    ("'a b' c", ["a b", "c"]),
    ('""', []),
    ("x\\ y z", ["x y", "z"]),
    ("${A}1 $EMPTY 2", ["alpha1", "2"]),
])
def test_expand_words(text, words):
    assert expand_words(text, ENV) == words


def test_backtick_escape():
    assert expand("`$A", ENV, escape="`") == "$A"
    assert expand("\\$A", ENV, escape="`") == "\\alpha"  # a backslash is ordinary then
    assert expand('"`"x"', ENV, escape="`") == '"x'


@pytest.mark.parametrize("word, reason", [
    ("${A", "syntax error: missing '}'"),
    ("${}", "syntax error: bad substitution"),
    ("${:-x}", "syntax error: bad substitution"),
    ("${A:-x", "syntax error: missing '}'"),
    ("'open", "unexpected end of statement while looking for matching single-quote"),
    ('"open', "unexpected end of statement while looking for matching double-quote"),
    ("${UNSET?must be set}", "UNSET: must be set"),
    ("${UNSET:?}", "UNSET: is not allowed to be unset"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${A:=x}", "unsupported modifier (:=) in substitution"),
])
def test_errors(word, reason):
    with pytest.raises(SubstitutionError) as info:
        expand(word, ENV)
    assert info.value.reason == reason
    assert str(info.value) == f'failed to process "{word}": {reason}'


def test_expanding_table():
    assert {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
            "WORKDIR"} <= EXPANDING
    assert not {"RUN", "CMD", "ENTRYPOINT", "SHELL", "HEALTHCHECK"} & EXPANDING
