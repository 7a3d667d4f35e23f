"""Go's ``fmt`` and ``encoding/json`` output for template values.

A ``{{.X}}`` prints its value as Go's ``fmt.Print`` would, and ``{{json .X}}`` as Go's JSON
encoder. Python's ``str()`` and ``json.dumps`` differ in most corners (``True``/``true``,
``[1, 2]``/``[1 2]``, ``1.0``/``1``, ``1e+06``), so this module spells values the Go way.
Python values stand for Go's: str for string, int for int, float for float64, bool, None for
nil, list and tuple for slices, a mapping for ``map[string]interface{}`` (printed and encoded
in sorted key order, as Go does), and other objects for structs (a dataclass keeps its field
order). :data:`MISSING` is a key absent from a map, which Go prints as ``<no value>``.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyker.cli.gotemplate.lex import go_quote


class _Missing:
    """Go's invalid ``reflect.Value``: what ``.Key`` yields when a map has no such key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


def go_type(value: object) -> str:
    """Go's name for the type ``value`` stands for, as error messages and ``%T`` print it."""
    if value is None or value is MISSING:
        return "<nil>"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float64"), (str, "string"),
                       (bytes, "[]uint8"), (Mapping, "map[string]interface {}"),
                       ((list, tuple), "[]interface {}")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def sorted_items(mapping: Mapping) -> list[tuple[object, object]]:
    """A map's entries in Go's order (``internal/fmtsort``): numbers, then strings, by value."""
    def key(item: tuple[object, object]) -> tuple[int, object]:
        k = item[0]
        if isinstance(k, (int, float)):
            return (0, k)
        return (1, k) if isinstance(k, str) else (2, repr(k))
    return sorted(mapping.items(), key=key)


def struct_fields(value: object) -> list[tuple[str, object]]:
    """The public fields of an object standing for a Go struct, in declaration order."""
    if dataclasses.is_dataclass(value):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    attrs = getattr(value, "__dict__", {})
    return [(k, v) for k, v in attrs.items() if not k.startswith("_")]


def _is_stringer(value: object) -> bool:
    """An object whose class defines ``__str__``: Go's ``fmt.Stringer``."""
    return type(value).__str__ is not object.__str__


# -- floats ------------------------------------------------------------------------------
def _digits(f: float) -> tuple[str, int]:
    """Shortest decimal digits of ``abs(f)`` and where the point goes (Go's ``d`` and ``dp``).

    Python's ``repr`` and Go's ``strconv`` both print the shortest string that reads back as
    the same float, so the digits agree.
    """
    mantissa, _, exp = repr(abs(f)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    stripped = digits.lstrip("0")
    point = len(whole) + (int(exp) if exp else 0) - (len(digits) - len(stripped))
    stripped = stripped.rstrip("0")
    return stripped, point if stripped else 0


def _fmt_e(digits: str, point: int, prec: int) -> str:
    exp = point - 1 if digits else 0
    first = digits[:1] or "0"
    frac = (digits[1:prec + 1]).ljust(prec, "0") if prec > 0 else ""
    return f"{first}{'.' if prec > 0 else ''}{frac}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fmt_f(digits: str, point: int, prec: int) -> str:
    whole = digits[:point].ljust(point, "0") if point > 0 else "0"
    if prec <= 0:
        return whole
    frac = "".join(digits[point + i] if 0 <= point + i < len(digits) else "0"
                   for i in range(prec))
    return f"{whole}.{frac}"


def _shortest_g(f: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, 64)`` without the sign: ``1e+06``, ``0.0001``."""
    digits, point = _digits(f)
    if point - 1 < -4 or point - 1 >= 6:  # Go decides with precision 6 when shortest
        return _fmt_e(digits, point, len(digits) - 1)
    return _fmt_f(digits, point, max(len(digits) - point, 0))


def _strconv_float(f: float, verb: str, prec: int | None) -> str:
    """``strconv.FormatFloat`` for fmt's float verbs, signed: ``+Inf``, ``NaN``, ``-1.5``."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    lower = verb.lower()
    if lower in ("v", "g") and prec is None:
        text = _shortest_g(f)
    else:
        spec = {"v": "g", "f": "f"}.get(lower, lower)
        text = format(abs(f), f".{6 if prec is None else prec}{spec}")
    return sign + (text.upper() if verb in "EG" else text)


def go_float(f: float) -> str:
    """A float as ``{{.X}}`` prints it: Go's ``%v``."""
    return _strconv_float(f, "v", None)


# -- %v ----------------------------------------------------------------------------------
def sprint_value(value: object) -> str:
    """``fmt.Sprint`` of one value: ``true``, ``[a b]``, ``map[a:1]``, ``<nil>``."""
    return format_arg(value, "v", Spec())


def sprint(args: Sequence[object]) -> str:
    """``fmt.Sprint``: a space between two operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(sprint_value(arg))
    return "".join(out)


def sprintln(args: Sequence[object]) -> str:
    return " ".join(sprint_value(a) for a in args) + "\n"


# -- printf ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Spec:
    """The flags, width and precision of one ``%`` verb."""

    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    plus_v: bool = False  # %+v: struct fields by name (and no '+' on numbers)
    width: int | None = None
    prec: int | None = None


def sprintf(fmt: str, args: Sequence[object]) -> str:
    """Go's ``fmt.Sprintf``, with its in-band errors: ``%!d(string=x)``, ``%!s(MISSING)``."""
    out: list[str] = []
    argi, i = 0, 0
    while i < len(fmt):
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        spec, verb, i = _parse_verb(fmt, j + 1)
        if verb is None:
            out.append("%!(NOVERB)")
        elif verb == "%":
            out.append("%")
        elif argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            out.append(format_arg(args[argi], verb, spec))
            argi += 1
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None else f"{go_type(a)}={sprint_value(a)}"
                          for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


_FLAGS = {"-": "minus", "+": "plus", "#": "sharp", " ": "space", "0": "zero"}


def _parse_verb(fmt: str, i: int) -> tuple[Spec, str | None, int]:
    """The flags, width, precision and verb after a ``%``; the verb is None at the end."""
    flags = dict.fromkeys(_FLAGS.values(), False)
    while i < len(fmt) and fmt[i] in _FLAGS:
        flags[_FLAGS[fmt[i]]] = True
        i += 1
    flags["zero"] = flags["zero"] and not flags["minus"]  # zeros pad on the left only
    width, i = _number_at(fmt, i)
    prec = None
    if i < len(fmt) and fmt[i] == ".":
        prec, i = _number_at(fmt, i + 1)
        prec = prec or 0
    if i >= len(fmt):
        return Spec(), None, i
    verb = fmt[i]
    plus_v = verb == "v" and flags["plus"]
    if plus_v:
        flags["plus"] = False  # %+v names struct fields; it signs no number
    return Spec(width=width, prec=prec, plus_v=plus_v, **flags), verb, i + 1


def _number_at(fmt: str, i: int) -> tuple[int | None, int]:
    start = i
    while i < len(fmt) and fmt[i].isascii() and fmt[i].isdigit():
        i += 1
    return (int(fmt[start:i]) if i > start else None), i


def _pad(text: str, spec: Spec, zero: bool | None = None) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    return ("0" if (spec.zero if zero is None else zero) else " ") * fill + text


def _bad(verb: str, value: object) -> str:
    if value is None or value is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(value)}={sprint_value(value)})"


def format_arg(value: object, verb: str, spec: Spec) -> str:
    """One argument under one verb, the way Go's ``printArg`` dispatches on its type."""
    if verb == "T":
        return _pad(go_type(value), spec)
    if value is None or value is MISSING:
        return _pad("<nil>", spec) if verb == "v" else _bad(verb, value)
    if isinstance(value, bool):
        return _pad("true" if value else "false", spec) if verb in "tv" else _bad(verb, value)
    if isinstance(value, int):
        return _format_int(value, verb, spec)
    if isinstance(value, float):
        return _format_float(value, verb, spec)
    if isinstance(value, str):
        return _format_str(value, verb, spec)
    if isinstance(value, (bytes, bytearray)) and verb in "sqxX":
        return _format_str(value.decode("utf-8", "replace"), verb, spec)
    if isinstance(value, (list, tuple, bytes, bytearray)):
        return "[" + " ".join(format_arg(v, verb, spec) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{format_arg(k, verb, spec)}:{format_arg(v, verb, spec)}"
                                 for k, v in sorted_items(value)) + "]"
    if _is_stringer(value) and verb in "vsqxX":
        return _format_str(str(value), "s" if verb == "v" else verb, spec)
    fields = struct_fields(value)
    if spec.plus_v:
        return "{" + " ".join(f"{k}:{format_arg(v, verb, spec)}" for k, v in fields) + "}"
    return "{" + " ".join(format_arg(v, verb, spec) for _, v in fields) + "}"


def _format_int(value: int, verb: str, spec: Spec) -> str:
    """Go's ``fmtInteger``: precision or zero flag give leading zeros, then prefix and sign."""
    if verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        char = chr(value) if 0 <= value <= 0x10FFFF else "\ufffd"
        return _pad("'" + go_quote(char)[1:-1].replace("\\\"", '"').replace("'", "\\'") + "'",
                    spec)
    if verb == "U":
        return _pad(f"U+{value:04X}", spec)
    base = {"d": 10, "v": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}.get(verb)
    if base is None:
        return _bad(verb, value)
    digits = format(abs(value), {10: "d", 2: "b", 8: "o", 16: verb if verb in "xX" else "x"}[base])
    negative = value < 0
    if spec.prec is not None:
        if spec.prec == 0 and value == 0:
            return _pad("", spec, zero=False)
        digits = digits.rjust(spec.prec, "0")
    elif spec.zero and spec.width is not None:
        room = spec.width - (1 if negative or spec.plus or spec.space else 0)
        digits = digits.rjust(room, "0")
    if spec.sharp:
        digits = {2: "0b", 8: "0" if not digits.startswith("0") else "", 16: "0" + verb,
                  10: ""}[base] + digits
    if verb == "O":
        digits = "0o" + digits
    sign = "-" if negative else "+" if spec.plus else " " if spec.space else ""
    return _pad(sign + digits, spec, zero=False)


def _format_float(value: float, verb: str, spec: Spec) -> str:
    """Go's ``fmtFloat``: sign handling, Inf and NaN never zero-padded."""
    if verb not in "veEfFgG":
        return _bad(verb, value)
    num = _strconv_float(value, verb, spec.prec)
    if num[0] not in "+-":
        num = "+" + num
    if spec.space and num[0] == "+" and not spec.plus:
        num = " " + num[1:]
    if num[1] in "IN":
        if num[1] == "N" and not spec.space and not spec.plus:
            num = num[1:]
        return _pad(num, spec, zero=False)
    if spec.plus or num[0] != "+":
        if spec.zero and spec.width is not None and spec.width > len(num):
            return num[0] + "0" * (spec.width - len(num)) + num[1:]
        return _pad(num, spec)
    return _pad(num[1:], spec)


def _format_str(value: str, verb: str, spec: Spec) -> str:
    if spec.prec is not None and verb in "sqv":
        value = value[:spec.prec]  # precision truncates, counted in runes
    if verb in "sv":
        return _pad(value, spec)
    if verb == "q":
        return _pad(go_quote(value), spec)
    if verb in "xX":
        text = value.encode().hex()
        return _pad(text.upper() if verb == "X" else text, spec)
    return _bad(verb, value)


# -- json --------------------------------------------------------------------------------
class Unencodable(ValueError):
    """A value Go's JSON encoder refuses (NaN, infinities)."""


def to_json(value: object) -> str:
    """Compact JSON as Go's ``json.Encoder`` writes it with ``SetEscapeHTML(false)``.

    Raises:
        Unencodable: for NaN and infinities, which JSON cannot spell.
    """
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, (bytes, bytearray)):
        return json_string(base64.b64encode(value).decode())  # Go encodes []byte as base64
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, Mapping):
        # Go sorts a map's keys by their text, numbers included ("10" < "9").
        entries = sorted((((k if isinstance(k, str) else sprint_value(k)), v)
                          for k, v in value.items()), key=lambda entry: entry[0])
        return "{" + ",".join(f"{json_string(k)}:{to_json(v)}" for k, v in entries) + "}"
    if _is_stringer(value) and not dataclasses.is_dataclass(value):
        return json_string(str(value))  # like a Go type with MarshalText (a path, a time)
    return "{" + ",".join(f"{json_string(k)}:{to_json(v)}" for k, v in struct_fields(value)) \
        + "}"


def _json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise Unencodable(f"json: unsupported value: {go_float(f)}")
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    digits, point = _digits(f)
    if f != 0 and (abs(f) < 1e-6 or abs(f) >= 1e21):
        text = _fmt_e(digits, point, len(digits) - 1)
        mantissa, _, exp = text.partition("e")
        if exp.startswith("-0"):
            exp = "-" + exp[2:]  # Go cleans e-07 up to e-7
        return f"{sign}{mantissa}e{exp}"
    return sign + _fmt_f(digits, point, max(len(digits) - point, 0))


_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                 "\t": "\\t", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_string(s: str) -> str:
    """A JSON string the way Go escapes it: no HTML escaping, U+2028/U+2029 escaped."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code < 0xE000:
            out.append("\\ufffd")  # a lone surrogate is invalid UTF-8, which Go replaces
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
