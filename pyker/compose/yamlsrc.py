"""YAML for compose files, with the line of every key and list item kept for errors.

Compose v2 reads its files with go-yaml v3, which follows YAML 1.2's core schema; PyYAML
follows YAML 1.1. The difference bites compose files in their most common lines:
``restart: no`` is the boolean false in 1.1 and the string ``"no"`` in 1.2, and
``- 22:22`` is the sexagesimal integer 1342 in 1.1 (Docker's docs warn about it) but the
string ``"22:22"`` in 1.2. So the loader here swaps PyYAML's implicit resolvers for the
1.2 core schema's (null, true/false, decimal/0o/0x integers, floats), keeping ``<<`` merge
keys, which compose files use with ``x-`` anchors. The pure-Python parser is used even where
libyaml is built in: compose files are small, and its messages are the same on every
machine and clearer (``found character '\\t' that cannot start any token``).

Mappings are built as :class:`MarkedDict` and sequences as :class:`MarkedList`: plain
``dict``/``list`` plus the :data:`Mark` (file, line) of the node itself and of each key or
item, so that an error found three modules later can still say ``compose.yaml:12:``.
Keys must be strings (a compose key is a name); a key defined twice in one mapping is an
error, as in Compose. A syntax error is one line ``FILE:LINE:COLUMN: <problem>``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from pyker.errors import ComposeError

#: Where a value was written: (file, 1-based line); line 0 when unknown.
Mark = tuple[str, int]
NOWHERE: Mark = ("", 0)


class MarkedDict(dict):
    """A mapping that remembers where it and each of its keys were written."""

    __slots__ = ("mark", "marks")

    def __init__(self, *args: Any, mark: Mark = NOWHERE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mark = mark
        self.marks: dict[str, Mark] = {}

    def mark_of(self, key: str) -> Mark:
        return self.marks.get(key, self.mark)


class MarkedList(list):
    """A sequence that remembers where it and each of its items were written."""

    __slots__ = ("mark", "marks")

    def __init__(self, *args: Any, mark: Mark = NOWHERE) -> None:
        super().__init__(*args)
        self.mark = mark
        self.marks: list[Mark] = []

    def mark_of(self, index: int) -> Mark:
        return self.marks[index] if 0 <= index < len(self.marks) else self.mark


def mark_of(node: Any, key: Any) -> Mark:
    """The mark of ``node[key]`` when ``node`` is a marked container, else :data:`NOWHERE`."""
    if isinstance(node, (MarkedDict, MarkedList)):
        return node.mark_of(key)
    return NOWHERE


def located(reason: str, mark: Mark) -> ComposeError:
    return ComposeError(reason, file=mark[0], line=mark[1])


# The implicit resolvers of YAML 1.2's core schema
# (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_CORE_SCHEMA = (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
     list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
     r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
)

class _Loader(yaml.SafeLoader):
    """SafeLoader with the 1.2 core schema and marked containers; ``file`` names the source."""

    yaml_implicit_resolvers: dict = {}
    file = ""

    def _mark(self, node: yaml.Node) -> Mark:
        return (self.file, node.start_mark.line + 1)

    def construct_yaml_int(self, node: yaml.Node) -> int:
        text = self.construct_scalar(node)
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)  # "017" is seventeen in YAML 1.2, not fifteen

    def construct_yaml_map(self, node: yaml.MappingNode):  # type: ignore[override]
        data = MarkedDict(mark=self._mark(node))
        yield data
        self._check_keys(node)
        self.flatten_mapping(node)  # "<<: *anchor" pairs first, so explicit keys win
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            data[key] = self.construct_object(value_node, deep=True)
            data.marks[key] = self._mark(key_node)

    def construct_yaml_seq(self, node: yaml.SequenceNode):  # type: ignore[override]
        data = MarkedList(mark=self._mark(node))
        yield data
        data.extend(self.construct_object(child, deep=True) for child in node.value)
        data.marks.extend(self._mark(child) for child in node.value)

    def _check_keys(self, node: yaml.MappingNode) -> None:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ComposeError(f"non-string key {key!r}: compose keys are names, quote it",
                                   file=self.file, line=line)
            if key in seen:
                raise ComposeError(f'mapping key "{key}" already defined at line {seen[key]}',
                                   file=self.file, line=line)
            seen[key] = line


for _tag, _pattern, _first in _CORE_SCHEMA:
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document; ``file`` is the name errors and marks carry.

    Raises:
        ComposeError: ``FILE:LINE:COLUMN: <problem>`` for a syntax error; ``FILE:LINE:`` for
            a duplicate or non-string key.
    """
    loader = _Loader(text)
    loader.file = file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        if problem.startswith("but ") and err.context:  # "but found another document"
            problem = f"{err.context}, {problem}"
        raise ComposeError(problem, file=file, line=mark.line + 1 if mark else 0,
                           column=mark.column + 1 if mark else 0) from None
    except yaml.YAMLError as err:  # e.g. a reader error: bytes that are not text
        raise ComposeError(str(err).replace("\n", " "), file=file) from None
    finally:
        loader.dispose()


class _Dumper(yaml.SafeDumper):
    """Quotes every string that *either* schema would read as something else, and indents
    list items under their key as Compose prints them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


for _tag, _pattern, _first in _CORE_SCHEMA:
    _Dumper.add_implicit_resolver(_tag, re.compile(_pattern), _first)
_Dumper.add_representer(MarkedDict, yaml.SafeDumper.represent_dict)
_Dumper.add_representer(MarkedList, yaml.SafeDumper.represent_list)


def dump_yaml(doc: Any) -> str:
    """Block-style YAML, keys in the order given, readable back by :func:`load_yaml`."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1000)
