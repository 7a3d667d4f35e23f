"""Small typed readers and writers shared by the spec documents (image and runtime).

Each reader takes the document, the key and ``what`` (where the document sits, e.g.
``config.json: linux.namespaces[2]``) so that an error names the field it could not read.
Writers follow Go's ``encoding/json`` ``omitempty``, the rule the OCI Go bindings use, so a
document written by runc or Docker reads back and writes out with the same keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from pyker.errors import SpecError

Doc = Mapping[str, object]
T = TypeVar("T")


def _get(doc: Doc, key: str, kind: type, what: str, default: object = None) -> object:
    value = doc.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(f"{what}: field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _str_list(doc: Doc, key: str, what: str) -> tuple[str, ...] | None:
    value = _get(doc, key, list, what)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        raise SpecError(f"{what}: field {key!r} must be a list of strings")
    return tuple(value)


def _str_map(doc: Doc, key: str, what: str) -> dict[str, str]:
    value = _get(doc, key, dict, what, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SpecError(f"{what}: field {key!r} must map strings to strings")
    return dict(value)


def _key_set(doc: Doc, key: str, what: str) -> tuple[str, ...]:
    """Docker's ``{"80/tcp": {}}`` sets (ExposedPorts, Volumes), kept as sorted keys."""
    return tuple(sorted(_get(doc, key, dict, what, {})))


def _run_checks(what: str, checks: list[tuple[bool, str]]) -> None:
    for ok, message in checks:
        if not ok:
            raise SpecError(f"{what}: {message}")


# -- nested documents: the runtime spec is objects inside lists inside objects ------------------

def _at(what: str, key: str) -> str:
    """The path of ``key`` under ``what``: ``config.json`` + ``linux`` gives
    ``config.json: linux``, then ``config.json: linux.namespaces``."""
    return f"{what}.{key}" if ": " in what else f"{what}: {key}"


def _uint(doc: Doc, key: str, what: str, default: int | None = None) -> int | None:
    """An unsigned integer field (uid, size, fileMode…): a negative one is refused here."""
    value = _get(doc, key, int, what, default)
    if value is not None and value < 0:
        raise SpecError(f"{what}: field {key!r} must be a non-negative integer, got {value!r}")
    return value


def _uint_list(doc: Doc, key: str, what: str) -> tuple[int, ...]:
    value = _get(doc, key, list, what, [])
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise SpecError(f"{what}: field {key!r} must be a list of non-negative integers")
    return tuple(value)


def _require(doc: Doc, key: str, what: str) -> object:
    if doc.get(key) is None:
        raise SpecError(f"{what}: field {key!r} is required")
    return doc[key]


def _object(doc: Doc, key: str, what: str, parse: Callable[[Doc, str], T]) -> T | None:
    """The object at ``key`` parsed by ``parse(sub_doc, its_path)``, or None when absent."""
    value = _get(doc, key, dict, what)
    return None if value is None else parse(value, _at(what, key))


def _objects(doc: Doc, key: str, what: str,
             parse: Callable[[Doc, str], T]) -> tuple[T, ...]:
    """A list of objects, each parsed with its index in the path: ``…namespaces[2]``."""
    path = _at(what, key)
    out = []
    for i, item in enumerate(_get(doc, key, list, what, [])):
        if not isinstance(item, Mapping):
            raise SpecError(f"{path}[{i}]: must be an object, got {item!r}")
        out.append(parse(item, f"{path}[{i}]"))
    return tuple(out)


def _compact(pairs: Iterable[tuple[str, object]]) -> dict[str, object]:
    """Go's ``omitempty`` for the optional fields: None, "" and empty lists are left out.

    0, False and ``{}`` are kept: the bindings make a field a pointer where its zero value
    means something (``oomScoreAdj: 0``, ``capabilities: {}`` drops every capability where
    no ``capabilities`` leaves them alone). A caller passes ``value or None`` for a plain
    bool, number or map that Go would omit when zero.
    """
    return {k: v for k, v in pairs if v is not None and v != "" and v != []}
