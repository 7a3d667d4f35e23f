"""The nodes of a parsed Go template, as frozen dataclasses.

They mirror Go's src/text/template/parse/node.go. ``pos`` is the character offset of the node
in the template, from which errors compute Go's ``:LINE:COL``, and ``str()`` is Go's
``String()``, which an execution error quotes: ``at <.State.Foo>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

from pyker.cli.gotemplate.lex import go_quote


@dataclass(frozen=True, slots=True)
class Text:
    pos: int
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Field:
    pos: int
    idents: tuple[str, ...]  # .A.B is ("A", "B")

    def __str__(self) -> str:
        return "".join(f".{name}" for name in self.idents)


@dataclass(frozen=True, slots=True)
class Variable:
    pos: int
    idents: tuple[str, ...]  # $x.A is ("$x", "A")

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclass(frozen=True, slots=True)
class Dot:
    pos: int

    def __str__(self) -> str:
        return "."


@dataclass(frozen=True, slots=True)
class Nil:
    pos: int

    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True, slots=True)
class Literal:
    """A bool, number or string constant; ``text`` is how the template spelled it."""

    pos: int
    text: str
    value: object           # what the constant is when passed as a Go interface{}
    int_value: int | None    # set when the constant is usable as an int (Go's IsInt)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Identifier:
    pos: int
    name: str  # a function

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Chain:
    """Fields applied to a term that is not a field or variable: ``(index .M "k").Name``."""

    pos: int
    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, Pipe) else str(self.node)
        return inner + "".join(f".{name}" for name in self.fields)


@dataclass(frozen=True, slots=True)
class Command:
    pos: int
    args: tuple[Node, ...]  # args[0] is the function, field or value

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, Pipe) else str(a) for a in self.args)


@dataclass(frozen=True, slots=True)
class Pipe:
    pos: int
    decl: tuple[Variable, ...]  # $x := … or $i, $e := …
    is_assign: bool              # $x = … rather than :=
    cmds: tuple[Command, ...]

    def __str__(self) -> str:
        decl = ""
        if self.decl:
            decl = ", ".join(map(str, self.decl)) + (" = " if self.is_assign else " := ")
        return decl + " | ".join(map(str, self.cmds))


@dataclass(frozen=True, slots=True)
class Action:
    pos: int
    pipe: Pipe

    def __str__(self) -> str:
        return f"{{{{{self.pipe}}}}}"


@dataclass(frozen=True, slots=True)
class Control:
    kind: str  # "if", "range" or "with"
    pos: int
    pipe: Pipe
    body: tuple[Node, ...]
    else_: tuple[Node, ...] | None

    def __str__(self) -> str:
        text = f"{{{{{self.kind} {self.pipe}}}}}" + "".join(map(str, self.body))
        if self.else_ is not None:
            text += "{{else}}" + "".join(map(str, self.else_))
        return text + "{{end}}"


@dataclass(frozen=True, slots=True)
class Jump:
    kind: str  # "break" or "continue"
    pos: int

    def __str__(self) -> str:
        return f"{{{{{self.kind}}}}}"


@dataclass(frozen=True, slots=True)
class TemplateCall:
    pos: int
    name: str
    pipe: Pipe | None

    def __str__(self) -> str:
        arg = f" {self.pipe}" if self.pipe is not None else ""
        return f"{{{{template {go_quote(self.name)}{arg}}}}}"


Node = Union[Text, Field, Variable, Dot, Nil, Literal, Identifier, Chain, Command, Pipe, Action,
             Control, Jump, TemplateCall]


@dataclass(frozen=True, slots=True)
class Tree:
    root: tuple[Node, ...]
    defs: Mapping[str, tuple[Node, ...]]  # {{define "name"}} and {{block "name"}} bodies
