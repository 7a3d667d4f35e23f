"""Parser of Go's ``text/template`` language: tokens to a tree of frozen nodes.

It follows Go's recursive descent (src/text/template/parse/parse.go) so that the same
templates are accepted and the same ones rejected, with Go's messages: an undefined function or
variable is a parse error (``function "foo" not defined``), not an execution error.
``{{else if}}`` and ``{{else with}}`` become an ``if``/``with`` nested in the else branch, as in
Go.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import NoReturn

from pyker.cli.gotemplate.lex import Kind, TemplateError, Token, go_quote, lex
from pyker.cli.gotemplate.nodes import (Action, Chain, Command, Control, Dot, Field,
                                         Identifier, Jump, Literal, Nil, Node, Pipe,
                                         TemplateCall, Text, Tree, Variable)


@dataclass(frozen=True, slots=True)
class _End:
    pos: int
    kind: str  # "end" or "else"

    def __str__(self) -> str:
        return f"{{{{{self.kind}}}}}"


_OPERAND_START = frozenset({Kind.BOOL, Kind.CHAR_CONST, Kind.DOT, Kind.FIELD, Kind.IDENT,
                            Kind.NUMBER, Kind.NIL, Kind.STRING, Kind.VARIABLE, Kind.LPAREN})


def parse(template: str, functions: frozenset[str]) -> Tree:
    """Parse ``template``; every function it calls must be in ``functions``.

    Raises:
        TemplateError: ``template parsing error: template: :LINE: REASON``.
    """
    try:
        return _Parser(template, lex(template), functions).parse()
    except RecursionError:  # parentheses nested hundreds deep
        raise TemplateError(template, 0, "template nests too deeply") from None


class _Parser:
    def __init__(self, src: str, tokens: list[Token], functions: frozenset[str]) -> None:
        self.src = src
        self.tokens = tokens
        self.i = 0
        self.functions = functions
        self.vars = ["$"]       # variables in scope, innermost last
        self.range_depth = 0    # break and continue are legal only inside a range
        self.defs: dict[str, tuple[Node, ...]] = {}

    # -- token stream ----------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: Token | int, reason: str) -> NoReturn:
        raise TemplateError(self.src, token if isinstance(token, int) else token.pos, reason)

    def unexpected(self, token: Token, context: str) -> NoReturn:
        self.fail(token, f"unexpected {token.describe()} in {context}")

    def expect(self, kind: Kind, context: str) -> Token:
        token = self.next()
        if token.kind is not kind:
            self.unexpected(token, context)
        return token

    def is_keyword(self, token: Token, *words: str) -> bool:
        return token.kind is Kind.KEYWORD and token.val in words

    # -- structure -------------------------------------------------------------------
    def parse(self) -> Tree:
        root: list[Node] = []
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT and self.is_keyword(self.peek(1), "define"):
                self.i += 2
                self.definition()
                continue
            node = self.text_or_action()
            if isinstance(node, _End):
                self.fail(node.pos, f"unexpected {node}")
            root.append(node)
        return Tree(tuple(root), types.MappingProxyType(dict(self.defs)))

    def text_or_action(self) -> Node | _End:
        token = self.next()
        if token.kind is Kind.TEXT:
            return Text(token.pos, token.val)
        if token.kind is Kind.LEFT:
            return self.action()
        self.unexpected(token, "input")

    def item_list(self) -> tuple[tuple[Node, ...], _End]:
        nodes: list[Node] = []
        while self.peek().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, _End):
                return tuple(nodes), node
            nodes.append(node)
        self.fail(self.peek(), "unexpected EOF")

    def action(self) -> Node | _End:
        token = self.peek()
        if token.kind is Kind.KEYWORD and token.val != "define":
            self.next()
            if token.val in ("if", "range", "with"):
                return self.control(token.val)
            if token.val == "else":
                # {{else if …}}: leave the "if" for control() to nest it in the else branch.
                if not self.is_keyword(self.peek(), "if", "with"):
                    self.expect(Kind.RIGHT, "else")
                return _End(token.pos, "else")
            if token.val == "end":
                self.expect(Kind.RIGHT, "end")
                return _End(token.pos, "end")
            if token.val in ("break", "continue"):
                self.expect(Kind.RIGHT, f"{{{{{token.val}}}}}")
                if not self.range_depth:
                    self.fail(token, f"{{{{{token.val}}}}} outside {{{{range}}}}")
                return Jump(token.val, token.pos)
            return self.template_call(token.val)
        pipe = self.pipeline("command", Kind.RIGHT)
        return Action(pipe.pos, pipe)

    def control(self, kind: str) -> Control:
        mark = len(self.vars)  # variables declared here go out of scope at {{end}}
        try:
            pipe = self.pipeline(kind, Kind.RIGHT)
            self.range_depth += kind == "range"
            body, end = self.item_list()
            self.range_depth -= kind == "range"
            else_: tuple[Node, ...] | None = None
            if end.kind == "else":
                if kind in ("if", "with") and self.is_keyword(self.peek(), kind):
                    self.next()
                    else_ = (self.control(kind),)
                else:
                    else_, end = self.item_list()
                    if end.kind != "end":
                        self.fail(end.pos, f"expected end; found {end}")
            return Control(kind, pipe.pos, pipe, body, else_)
        finally:
            del self.vars[mark:]

    def template_name(self, context: str) -> str:
        token = self.next()
        if token.kind is not Kind.STRING:
            self.unexpected(token, context)
        return self.unquote(token)

    def template_call(self, keyword: str) -> Node:
        context = f"{keyword} clause"
        pos = self.peek().pos
        name = self.template_name(context)
        if keyword == "block":
            pipe = self.pipeline(context, Kind.RIGHT)
            self.definition_body(name, context)
            return TemplateCall(pos, name, pipe)
        if self.peek().kind is Kind.RIGHT:
            self.next()
            return TemplateCall(pos, name, None)
        return TemplateCall(pos, name, self.pipeline(context, Kind.RIGHT))

    def definition(self) -> None:
        name = self.template_name("define clause")
        self.expect(Kind.RIGHT, "define clause")
        self.definition_body(name, "define clause")

    def definition_body(self, name: str, context: str) -> None:
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0  # a definition runs with its own $ and scope
        try:
            body, end = self.item_list()
        finally:
            self.vars, self.range_depth = saved
        if end.kind != "end":
            self.fail(end.pos, f"unexpected {end} in {context}")
        self.defs[name] = body

    # -- pipelines -------------------------------------------------------------------
    def pipeline(self, context: str, end: Kind) -> Pipe:
        pos = self.peek().pos
        decl: list[Variable] = []
        is_assign = False
        while self.peek().kind is Kind.VARIABLE:
            var, after = self.peek(), self.peek(1)
            if after.kind in (Kind.DECLARE, Kind.ASSIGN):
                self.i += 2
                is_assign = after.kind is Kind.ASSIGN
                decl.append(Variable(var.pos, (var.val,)))
                self.vars.append(var.val)
                break
            if after.kind is Kind.CHAR and after.val == ",":
                self.i += 2
                decl.append(Variable(var.pos, (var.val,)))
                self.vars.append(var.val)
                if context == "range" and len(decl) < 2:
                    if self.peek().kind in (Kind.VARIABLE, Kind.RIGHT, Kind.RPAREN):
                        continue  # the element variable of {{range $i, $e := …}}
                    self.fail(self.peek(), "range can only initialize variables")
                self.fail(self.peek(), f"too many declarations in {context}")
            break
        cmds: list[Command] = []
        while True:
            token = self.peek()
            if token.kind is end:
                self.next()
                break
            if token.kind not in _OPERAND_START:
                self.next()
                self.unexpected(token, context)
            cmds.append(self.command())
        if not cmds:
            self.fail(self.peek(-1) if self.i else pos, f"missing value for {context}")
        for stage, cmd in enumerate(cmds[1:], start=2):
            if isinstance(cmd.args[0], (Literal, Dot, Nil)):
                self.fail(cmd.pos, f"non executable command in pipeline stage {stage}")
        return Pipe(pos, tuple(decl), is_assign, tuple(cmds))

    def command(self) -> Command:
        pos = self.peek().pos
        args: list[Node] = []
        while True:
            operand = self.operand()
            token = self.peek()
            if operand is not None:
                args.append(operand)
                if token.space and token.kind not in (Kind.RIGHT, Kind.RPAREN, Kind.PIPE):
                    continue  # a space separates it from the next argument
            if token.kind in (Kind.RIGHT, Kind.RPAREN):
                break
            self.next()
            if token.kind is Kind.PIPE:
                break
            self.unexpected(token, "operand")
        if not args:
            self.fail(pos, "empty command")
        return Command(pos, tuple(args))

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().kind is not Kind.FIELD or self.peek().space:
            return node
        # Fields written right after a term chain onto it; Go positions the result at the
        # first chained field.
        pos = self.peek().pos
        fields: list[str] = []
        while self.peek().kind is Kind.FIELD and not self.peek().space:
            fields.append(self.next().val[1:])
        if isinstance(node, Field):
            return Field(pos, node.idents + tuple(fields))
        if isinstance(node, Variable):
            return Variable(pos, node.idents + tuple(fields))
        if isinstance(node, (Literal, Nil, Dot)):
            self.fail(pos, f"unexpected . after term {go_quote(str(node))}")
        return Chain(pos, node, tuple(fields))

    def term(self) -> Node | None:
        token = self.peek()
        kind = token.kind
        if kind not in _OPERAND_START:
            return None
        self.next()
        if kind is Kind.IDENT:
            if token.val not in self.functions:
                self.fail(token, f"function {go_quote(token.val)} not defined")
            return Identifier(token.pos, token.val)
        if kind is Kind.DOT:
            return Dot(token.pos)
        if kind is Kind.NIL:
            return Nil(token.pos)
        if kind is Kind.VARIABLE:
            if token.val not in self.vars:
                self.fail(token, f"undefined variable {go_quote(token.val)}")
            return Variable(token.pos, (token.val,))
        if kind is Kind.FIELD:
            return Field(token.pos, (token.val[1:],))
        if kind is Kind.BOOL:
            return Literal(token.pos, token.val, token.val == "true", None)
        if kind is Kind.STRING:
            return Literal(token.pos, token.val, self.unquote(token), None)
        if kind is Kind.LPAREN:
            return self.pipeline("parenthesized pipeline", Kind.RPAREN)
        return self.number(token)

    # -- constants -------------------------------------------------------------------
    def unquote(self, token: Token) -> str:
        text = token.val
        if text.startswith("`"):
            return text[1:-1].replace("\r", "")  # Go drops CRs from raw strings
        value = _unescape(text[1:-1], text[0])
        if value is None:
            self.fail(token, "invalid syntax")
        return value

    def number(self, token: Token) -> Literal:
        """Go's ``newNumber`` and ``idealConstant``: an int unless it is spelled as a float."""
        text = token.val
        if token.kind is Kind.CHAR_CONST:
            rune = _unescape(text[1:-1], "'")
            if rune is None or len(rune) != 1:
                self.fail(token, f"malformed character constant: {text}")
            return Literal(token.pos, text, ord(rune), ord(rune))
        if text.endswith("i"):
            self.fail(token, f"complex constants are not supported: {go_quote(text)}")
        as_int = _parse_int(text)
        if as_int is not None:
            return Literal(token.pos, text, as_int, as_int)
        try:
            value = float.fromhex(text) if text.lstrip("+-")[:2] in ("0x", "0X") \
                else float(text)
        except ValueError:
            self.fail(token, f"illegal number syntax: {go_quote(text)}")
        if not any(c in text for c in ".eEpP"):
            self.fail(token, f"integer overflow: {go_quote(text)}")
        exact = int(value) if value == value and abs(value) < 2**63 and value == int(value) \
            else None
        return Literal(token.pos, text, value, exact)


def _parse_int(text: str) -> int | None:
    body = text.lstrip("+-")
    if not body or body[0] == "_" or body.endswith("_"):
        return None
    try:
        if len(body) > 1 and body[0] == "0" and body[1] in "01234567_":
            value = int(body.replace("_", ""), 8)  # Go's legacy octal: 0777
        else:
            value = int(body, 0)
    except ValueError:
        return None
    value = -value if text.startswith("-") else value
    return value if -2**63 <= value < 2**64 else None


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\"}
_HEX_LEN = {"x": 2, "u": 4, "U": 8}


def _unescape(body: str, quote: str) -> str | None:
    """Go's ``strconv.Unquote`` of a quoted body; None where Go reports invalid syntax."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1:i + 2]
        if esc in _ESCAPES or esc == quote:
            out.append(_ESCAPES.get(esc, quote))
            i += 2
        elif esc in _HEX_LEN:
            digits = body[i + 2:i + 2 + _HEX_LEN[esc]]
            if len(digits) != _HEX_LEN[esc] or any(c not in "0123456789abcdefABCDEF"
                                                   for c in digits):
                return None
            out.append(chr(min(int(digits, 16), 0x10FFFF)))
            i += 2 + len(digits)
        elif esc and esc in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or any(c not in "01234567" for c in digits) \
                    or int(digits, 8) > 255:
                return None
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            return None
    return "".join(out)
