"""Execution of a parsed Go template: Go's ``text/template`` ``exec.go``, for Python data.

:class:`Exec` walks the tree of ``nodes`` with a dot (the current value) and a
stack of ``$`` variables, printing values as Go's ``fmt`` does. It follows Go's evaluation
rules where they show: fields chain through maps and objects, a missing map key is carried
to the end of the chain and prints ``<no value>``, a method is called with the command's
arguments plus the piped value, function arguments are checked against the function's Go
parameter types, ``and``/``or`` stop at the first deciding argument, and ``range`` visits a
map in sorted key order. Errors carry the failing node and its position, as Go's do.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import NoReturn

from pyker.cli.gotemplate.fmt import MISSING, go_type, sorted_items, sprint_value
from pyker.cli.gotemplate.funcs import CallError, Func, truth
from pyker.cli.gotemplate.lex import TemplateError, go_quote
from pyker.cli.gotemplate.nodes import (Action, Chain, Command, Control, Dot, Field,
                                         Identifier, Jump, Literal, Nil, Node, Pipe,
                                         TemplateCall, Text, Tree, Variable)
from pyker.errors import PykerError

_NO_FINAL = object()  # a command that is first in its pipeline receives no piped value
# Go stops a template that calls itself at depth 100000; Python's stack is far shallower,
# and each level costs a handful of frames.
_MAX_DEPTH = 100


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Exec:
    """One execution of a template: the output, the variable stack and the function set."""

    def __init__(self, source: str, tree: Tree, funcs: Mapping[str, Func],
                 out: list[str]) -> None:
        self.source = source
        self.tree = tree
        self.funcs = funcs
        self.out = out
        self.vars: list[tuple[str, object]] = []
        self.depth = 0

    def run(self, data: object) -> None:
        self.vars = [("$", data)]
        try:
            self.walk_list(data, self.tree.root)
        except RecursionError:  # parentheses nested hundreds deep
            raise TemplateError(self.source, 0, "template nests too deeply") from None

    def fail(self, node: Node, reason: str) -> NoReturn:
        raise TemplateError(self.source, node.pos, reason, context=str(node))

    # -- statements ------------------------------------------------------------------
    def walk_list(self, dot: object, nodes: Sequence[Node]) -> None:
        for node in nodes:
            self.walk(dot, node)

    def walk(self, dot: object, node: Node) -> None:
        if isinstance(node, Text):
            self.out.append(node.text)
        elif isinstance(node, Action):
            value = self.pipeline(dot, node.pipe)
            if not node.pipe.decl:
                # Go unwraps a nil interface to an invalid value, which prints <no value>.
                self.out.append("<no value>" if value is None or value is MISSING
                                else sprint_value(value))
        elif isinstance(node, Control):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_with(dot, node)
        elif isinstance(node, Jump):
            raise _Break if node.kind == "break" else _Continue
        elif isinstance(node, TemplateCall):
            self.walk_template(dot, node)

    def walk_if_with(self, dot: object, node: Control) -> None:
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            if truth(value):
                self.walk_list(value if node.kind == "with" else dot, node.body)
            elif node.else_ is not None:
                self.walk_list(dot, node.else_)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: object, node: Control) -> None:
        mark = len(self.vars)
        pipe = node.pipe
        try:
            value = self.pipeline(dot, Pipe(pipe.pos, (), False, pipe.cmds))
            ran = False
            for key, elem in self.range_items(node, value):
                ran = True
                self.declare(pipe, (key, elem) if len(pipe.decl) > 1 else (elem,))
                try:
                    self.walk_list(elem, node.body)
                except _Continue:
                    pass
                except _Break:
                    break
                finally:
                    del self.vars[mark:]
            if not ran and node.else_ is not None:
                self.walk_list(dot, node.else_)
        finally:
            del self.vars[mark:]

    def range_items(self, node: Control, value: object) -> Iterable[tuple[object, object]]:
        if value is None or value is MISSING:
            return []  # Go ranges over a nil value as over an empty map
        if isinstance(value, (list, tuple)):
            return list(enumerate(value))
        if isinstance(value, Mapping):
            return sorted_items(value)  # Go visits a map in sorted key order
        if isinstance(value, int) and not isinstance(value, bool):
            if len(node.pipe.decl) > 1:
                self.fail(node, f"can't use {value} to iterate over more than one variable")
            return ((i, i) for i in range(value))  # Go 1.22 ranges over an int
        self.fail(node, f"range can't iterate over {sprint_value(value)}")

    def walk_template(self, dot: object, node: TemplateCall) -> None:
        body = self.tree.defs.get(node.name)
        if body is None:
            self.fail(node, f"no such template {go_quote(node.name)}")
        if self.depth >= _MAX_DEPTH:
            self.fail(node, f"exceeded maximum template depth ({_MAX_DEPTH})")
        new_dot = self.pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        saved, self.vars = self.vars, [("$", new_dot)]  # a template sees only its own $
        self.depth += 1
        try:
            self.walk_list(new_dot, body)
        finally:
            self.vars = saved
            self.depth -= 1

    # -- variables -------------------------------------------------------------------
    def declare(self, pipe: Pipe, values: Sequence[object]) -> None:
        for var, value in zip(pipe.decl, values):
            if pipe.is_assign:
                self.assign(var, value)
            else:
                self.vars.append((var.idents[0], value))

    def assign(self, var: Variable, value: object) -> None:
        name = var.idents[0]
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        self.fail(var, f"undefined variable: {name}")

    def lookup(self, var: Variable) -> object:
        name = var.idents[0]
        for key, value in reversed(self.vars):
            if key == name:
                return value
        self.fail(var, f"undefined variable: {name}")

    # -- expressions -----------------------------------------------------------------
    def pipeline(self, dot: object, pipe: Pipe) -> object:
        value: object = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
        self.declare(pipe, [value] * len(pipe.decl))
        return value

    def command(self, dot: object, cmd: Command, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, Field):
            return self.field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, Variable):
            value = self.lookup(first)
            if len(first.idents) == 1:
                self.not_a_function(cmd.args, final)
                return value
            return self.field_chain(dot, value, first, first.idents[1:], cmd.args, final)
        if isinstance(first, Chain):
            if isinstance(first.node, Nil):
                self.fail(first, f"indirection through explicit nil in {first}")
            receiver = self.arg(dot, first.node, "raw")  # untyped: a missing value stays missing
            return self.field_chain(dot, receiver, first, first.fields, cmd.args, final)
        if isinstance(first, Identifier):
            return self.call_function(dot, first, cmd, final)
        self.not_a_function(cmd.args, final)
        if isinstance(first, Pipe):
            return self.pipeline(dot, first)
        if isinstance(first, Nil):
            self.fail(first, "nil is not a command")
        return dot if isinstance(first, Dot) else first.value  # type: ignore[union-attr]

    def not_a_function(self, args: Sequence[Node], final: object) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            self.fail(args[0], f"can't give argument to non-function {args[0]}")

    def field_chain(self, dot: object, receiver: object, node: Node, names: Sequence[str],
                    args: Sequence[Node], final: object) -> object:
        for name in names[:-1]:
            receiver = self.field(dot, name, node, (), _NO_FINAL, receiver)
        return self.field(dot, names[-1], node, args, final, receiver)

    def field(self, dot: object, name: str, node: Node, args: Sequence[Node], final: object,
              receiver: object) -> object:
        """Go's ``evalField``: a map key, a method called with the arguments, or a field."""
        has_args = len(args) > 1 or final is not _NO_FINAL
        if receiver is MISSING:
            return MISSING  # Go carries a missing value through the rest of the chain
        if receiver is None:
            self.fail(node, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, Mapping):
            # A row of Docker's formatter is a struct with methods too ({{.Label "k"}}):
            # an exported (capitalised) method of a mapping subclass, when no key says it.
            method = (getattr(receiver, name, None)
                      if name[:1].isupper() and name not in receiver else None)
            if inspect.ismethod(method):
                return self.call_method(dot, method, name, node, args, final)
            if has_args:
                self.fail(node, f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        attr = MISSING
        if not name.startswith("_") and not isinstance(receiver, (str, int, float, list,
                                                                  tuple, bytes)):
            attr = getattr(receiver, name, MISSING)
        if attr is MISSING:
            self.fail(node, f"can't evaluate field {name} in type {go_type(receiver)}")
        if inspect.ismethod(attr) or inspect.isbuiltin(attr):
            return self.call_method(dot, attr, name, node, args, final)
        if has_args:
            self.fail(node, f"{name} has arguments but cannot be invoked as function")
        return attr

    def call_method(self, dot: object, method: object, name: str, node: Node,
                    args: Sequence[Node], final: object) -> object:
        values = [self.arg(dot, a) for a in args[1:]]
        if final is not _NO_FINAL:
            values.append(None if final is MISSING else final)
        want = _arity_error(method, len(values))
        if want:
            self.fail(node, f"wrong number of args for {name}: want {want} got {len(values)}")
        try:
            return method(*values)  # type: ignore[operator]
        except (PykerError, ValueError, LookupError, TypeError, OSError) as err:
            self.fail(node, f"error calling {name}: {err}")

    def call_function(self, dot: object, ident: Identifier, cmd: Command | Identifier,
                      final: object) -> object:
        func = self.funcs[ident.name]
        arg_nodes = cmd.args[1:] if isinstance(cmd, Command) else ()
        count = len(arg_nodes) + (final is not _NO_FINAL)
        want = len(func.params)
        if func.variadic is None and count != want:
            self.fail(ident, f"wrong number of args for {ident.name}: want {want} got {count}")
        if func.variadic is not None and count < want:
            self.fail(ident, f"wrong number of args for {ident.name}: want at least {want} "
                      f"got {count}")
        types = [func.params[i] if i < want else func.variadic for i in range(count)]
        if func.fn is None:
            return self.and_or(dot, ident.name, arg_nodes, final)
        values = [self.arg(dot, n, t) for n, t in zip(arg_nodes, types)]
        if final is not _NO_FINAL:
            values.append(self.check_type(final, types[-1], cmd))  # type: ignore[arg-type]
        try:
            return func.fn(*values)
        except CallError as err:
            self.fail(cmd, f"error calling {ident.name}: {err}")

    def and_or(self, dot: object, name: str, arg_nodes: Sequence[Node], final: object) -> object:
        """Go 1.18's ``and``/``or``: stop at the first argument that decides the result."""
        value: object = None
        for node in arg_nodes:
            value = self.arg(dot, node)
            if truth(value) == (name == "or"):
                return value
        if final is not _NO_FINAL:
            value = None if final is MISSING else final
        return value

    def arg(self, dot: object, node: Node, typ: str = "any") -> object:
        """Go's ``evalArg``: evaluate one argument and check it against its parameter type."""
        if isinstance(node, Literal):
            return self.literal(node, typ)
        if isinstance(node, Nil):
            if typ not in ("any", "raw"):
                self.fail(node, f"cannot assign nil to {_GO_TYPES[typ]}")
            return None
        if isinstance(node, Dot):
            value = dot
        elif isinstance(node, Identifier):
            value = self.call_function(dot, node, node, _NO_FINAL)
        elif isinstance(node, Pipe):
            value = self.pipeline(dot, node)
        else:
            value = self.command(dot, Command(node.pos, (node,)), _NO_FINAL)
        return self.check_type(value, typ, node)

    def literal(self, node: Literal, typ: str) -> object:
        if typ in ("any", "raw"):
            return node.value
        if typ == "str" and isinstance(node.value, str):
            return node.value
        if typ == "int" and node.int_value is not None and not isinstance(node.value, bool):
            return node.int_value
        if typ == "strs":
            self.fail(node, f"can't handle {node} for arg of type []string")
        self.fail(node, f"expected {'integer' if typ == 'int' else 'string'}; found {node}")

    def check_type(self, value: object, typ: str, node: Node) -> object:
        """Go's ``validateType``: a missing value becomes nil; a typed parameter refuses it."""
        if typ == "raw":
            return value
        if typ == "any":
            return None if value is MISSING else value
        if value is MISSING:
            self.fail(node, f"invalid value; expected {_GO_TYPES[typ]}")
        if value is None:  # a nil interface{} from a map: Go names its static type
            self.fail(node, f"wrong type for value; expected {_GO_TYPES[typ]}; "
                      "got interface {}")
        ok = {"str": isinstance(value, str),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "strs": isinstance(value, (list, tuple))
              and all(isinstance(v, str) for v in value)}[typ]
        if not ok:
            self.fail(node, f"wrong type for value; expected {_GO_TYPES[typ]}; "
                      f"got {go_type(value)}")
        return list(value) if typ == "strs" else value  # type: ignore[call-overload]


def _arity_error(method: object, count: int) -> str | None:
    """How many arguments ``method`` wants (``2``, ``at least 1``) when ``count`` is wrong."""
    try:
        signature = inspect.signature(method)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # a builtin without a signature: let the call decide
    try:
        signature.bind(*range(count))
        return None
    except TypeError:
        params = signature.parameters.values()
        fixed = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
        return f"at least {fixed}" if variadic else str(fixed)


_GO_TYPES = {"str": "string", "int": "int", "strs": "[]string", "any": "interface {}"}
