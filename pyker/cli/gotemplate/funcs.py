"""The functions a Docker ``--format`` template can call.

Two sets, merged as the Docker CLI merges them: Go's builtins (src/text/template/funcs.go:
``and or not len index slice print printf println eq ne lt le gt ge``) and Docker's
(templates/templates.go: ``json split join title lower upper pad truncate``). Docker renders a
table's header row by executing the same template on the column titles, with
:data:`HEADER_FUNCS` in place of its functions so that ``{{upper .Name}}`` heads its column
``NAME`` rather than failing or changing the title.

Each function declares its Go parameter types, because Go checks them before the call
(``wrong type for value; expected string; got int``). A function's own failure raises
:class:`CallError`, which the executor reports as ``error calling NAME: …``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyker.cli.gotemplate.fmt import (MISSING, Unencodable, go_type, sprint, sprintf, sprintln,
                                       to_json)


class CallError(Exception):
    """A template function's failure, printed after ``error calling NAME: ``."""


@dataclass(frozen=True, slots=True)
class Func:
    """A function and its Go signature: parameter types ``any``, ``str``, ``int``, ``strs``."""

    fn: Callable[..., object] | None  # None: "and"/"or", which the executor short-circuits
    params: tuple[str, ...]
    variadic: str | None = None       # the type of a trailing ...parameter


def truth(value: object) -> bool:
    """Go's ``isTrue``: false, 0, "", empty lists and maps, nil and missing values are false."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, (bool, int, float)):
        return value != 0
    if isinstance(value, (str, bytes, list, tuple, Mapping)):
        return len(value) > 0
    return True  # a struct is always true


# -- comparisons -------------------------------------------------------------------------
def _kind(value: object) -> str:
    """Go's ``basicKind``, with "nil" for nil and missing values."""
    if value is None or value is MISSING:
        return "nil"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "other"


def _eq(arg1: object, *args: object) -> bool:
    if not args:
        raise CallError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in args:
        k2 = _kind(arg)
        if k1 != k2:
            if "nil" not in (k1, k2):
                raise CallError("incompatible types for comparison")
            continue  # nil equals only nil
        if k1 == "other" and isinstance(arg1, (list, tuple, Mapping)):
            raise CallError(f"non-comparable type {go_type(arg1)}")
        if k1 == "nil" or arg1 == arg:
            return True
    return False


def _ordered(arg1: object, arg2: object) -> str:
    k1, k2 = _kind(arg1), _kind(arg2)
    for kind in (k1, k2):
        if kind not in ("bool", "int", "float", "string"):
            raise CallError("invalid type for comparison")
    if k1 != k2:
        raise CallError("incompatible types for comparison")
    if k1 == "bool":
        raise CallError("invalid type for comparison")
    return k1


def _lt(arg1: object, arg2: object) -> bool:
    _ordered(arg1, arg2)
    return arg1 < arg2  # type: ignore[operator]


def _le(arg1: object, arg2: object) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


# -- indexing ----------------------------------------------------------------------------
def _index_arg(index: object, cap: int) -> int:
    if index is None or index is MISSING:
        raise CallError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise CallError(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise CallError(f"index out of range: {index}")
    return index


def _index(item: object, *indexes: object) -> object:
    if item is None or item is MISSING:
        raise CallError("index of untyped nil")
    for index in indexes:
        if item is None:
            raise CallError("index of nil pointer")
        if isinstance(item, (str, list, tuple)):
            seq = item.encode() if isinstance(item, str) else item  # a Go string is bytes
            x = _index_arg(index, len(seq))
            if x == len(seq):  # indexArg allows len; reflect's Index then panics
                kind = "string" if isinstance(item, str) else "slice"
                raise CallError(f"reflect: {kind} index out of range")
            item = seq[x]
        elif isinstance(item, Mapping):
            if not isinstance(index, str):
                raise CallError(f"value has type {go_type(index)}; should be string")
            item = item.get(index)  # a missing key gives the zero value: nil
        else:
            raise CallError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: object, *indexes: object) -> object:
    if item is None or item is MISSING:
        raise CallError("slice of untyped nil")
    if len(indexes) > 3:
        raise CallError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise CallError("cannot 3-index slice a string")
        seq: bytes | list | tuple = item.encode()
    elif isinstance(item, (list, tuple)):
        seq = item
    else:
        raise CallError(f"can't slice item of type {go_type(item)}")
    idx = [0, len(seq), len(seq)]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, len(seq))
    if idx[0] > idx[1]:
        raise CallError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise CallError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = seq[idx[0]:idx[1]]
    return part.decode("utf-8", "replace") if isinstance(part, bytes) else list(part)


def _len(item: object) -> int:
    if item is None or item is MISSING:
        raise CallError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())  # Go's len of a string counts bytes
    if isinstance(item, (bytes, list, tuple, Mapping)):
        return len(item)
    raise CallError(f"len of type {go_type(item)}")


# -- Docker's functions ------------------------------------------------------------------
def _json(value: object) -> str:
    try:
        return to_json(value)
    except Unencodable:
        return ""  # Docker ignores the encoder's error and prints its empty buffer


def _split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def _per_rune(mapping: Callable[[str], str]) -> Callable[[str], str]:
    """Go's case mappings go rune to rune: ``ß`` stays ``ß`` where Python writes ``SS``."""
    def convert(s: str) -> str:
        return "".join(m if len(m := mapping(ch)) == 1 else ch for ch in s)
    return convert


_upper = _per_rune(str.upper)
_lower = _per_rune(str.lower)
_title_rune = _per_rune(str.title)


def _is_separator(ch: str) -> bool:
    """Go's ``strings.isSeparator``, which decides where ``strings.Title`` starts a word."""
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit():
        return False
    return ch.isspace()


def _title(s: str) -> str:
    out, prev = [], " "
    for ch in s:
        out.append(_title_rune(ch) if _is_separator(prev) else ch)
        prev = ch
    return "".join(out)


def _pad(source: str, prefix: int, suffix: int) -> str:
    if source == "":
        return source
    if prefix < 0 or suffix < 0:
        raise CallError("strings: negative Repeat count")
    return " " * prefix + source + " " * suffix


def _truncate(source: str, length: int) -> str:
    data = source.encode()  # Docker slices the string's bytes
    if len(data) < length:
        return source
    if length < 0:
        raise CallError(f"runtime error: slice bounds out of range [:{length}]")
    return data[:length].decode("utf-8", "replace")


def _identity(value: object, *_: object) -> object:
    return value


_ANY, _STR, _INT = "any", "str", "int"

FUNCS: Mapping[str, Func] = types.MappingProxyType({
    "and": Func(None, (_ANY,), _ANY),
    "or": Func(None, (_ANY,), _ANY),
    "not": Func(lambda a: not truth(a), (_ANY,)),
    "len": Func(_len, (_ANY,)),
    "index": Func(_index, (_ANY,), _ANY),
    "slice": Func(_slice, (_ANY,), _ANY),
    "print": Func(lambda *a: sprint(a), (), _ANY),
    "printf": Func(lambda f, *a: sprintf(f, a), (_STR,), _ANY),
    "println": Func(lambda *a: sprintln(a), (), _ANY),
    "eq": Func(_eq, (_ANY,), _ANY),
    "ne": Func(lambda a, b: not _eq(a, b), (_ANY, _ANY)),
    "lt": Func(_lt, (_ANY, _ANY)),
    "le": Func(_le, (_ANY, _ANY)),
    "gt": Func(lambda a, b: not _le(a, b), (_ANY, _ANY)),
    "ge": Func(lambda a, b: not _lt(a, b), (_ANY, _ANY)),
    "json": Func(_json, (_ANY,)),
    "split": Func(_split, (_STR, _STR)),
    "join": Func(lambda elems, sep: sep.join(elems), ("strs", _STR)),
    "title": Func(_title, (_STR,)),
    "lower": Func(_lower, (_STR,)),
    "upper": Func(_upper, (_STR,)),
    "pad": Func(_pad, (_STR, _INT, _INT)),
    "truncate": Func(_truncate, (_STR, _INT)),
})

# Docker's HeaderFunctions: the same names, but they hand the column title back unchanged.
HEADER_FUNCS: Mapping[str, Func] = types.MappingProxyType({
    **FUNCS,
    "json": Func(_identity, (_STR,)),
    "split": Func(_identity, (_STR, _STR)),
    "join": Func(_identity, (_STR, _STR)),
    "title": Func(_identity, (_STR,)),
    "lower": Func(_identity, (_STR,)),
    "upper": Func(_identity, (_STR,)),
    "truncate": Func(_identity, (_STR, _INT)),
})
