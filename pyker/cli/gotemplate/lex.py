"""Lexer of Go's ``text/template`` language, the one behind Docker's ``--format``.

A template is text with *actions* between ``{{`` and ``}}``. This follows Go's lexer
(src/text/template/parse/lex.go) token for token, with one simplification: Go emits a token
for each run of spaces inside an action, and here each token instead records whether a space
came before it. The parser needs space only to tell ``.A.B`` (one field chain) from ``.A .B``
(two arguments). ``{{- `` and `` -}}`` trim the white space of the text beside them, and
``{{/* … */}}`` is a comment.

:class:`TemplateError` lives here, the lowest layer, because the lexer, the parser and the
executor all raise it.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from typing import NoReturn

from pyker.errors import UsageError

_SPACE = " \t\r\n"
_DIGITS = "0123456789"
_KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range",
                       "template", "with"})


class TemplateError(UsageError):
    """A ``--format`` template that does not parse or fails while executing.

    The message is Docker's: ``template parsing error: template: :LINE: REASON`` for a parse
    error, ``template parsing error: template: :LINE:COL: executing "" at <NODE>: REASON`` for
    an execution error (COL counts bytes from 0, as Go's ``ErrorContext`` does).
    """

    def __init__(self, template: str, pos: int, reason: str, context: str | None = None) -> None:
        before = template[:pos]
        line = 1 + before.count("\n")
        column = len(before[before.rfind("\n") + 1:].encode())
        if context is None:
            where = f"template: :{line}: {reason}"
        else:
            if len(context) > 20:  # Go truncates the node it quotes to 20 runes
                context = context[:20] + "..."
            where = f'template: :{line}:{column}: executing "" at <{context}>: {reason}'
        super().__init__(f"template parsing error: {where}")
        self.template = template
        self.line = line
        self.column = column
        self.reason = reason


class Kind(enum.Enum):
    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    FIELD = "field"        # .Name
    IDENT = "identifier"   # a function name
    VARIABLE = "variable"  # $ or $name
    DOT = "."
    STRING = "string"      # "quoted" or `raw`
    CHAR_CONST = "char constant"
    NUMBER = "number"
    BOOL = "bool"
    NIL = "nil"
    KEYWORD = "keyword"
    PIPE = "|"
    LPAREN = "("
    RPAREN = ")"
    DECLARE = ":="
    ASSIGN = "="
    CHAR = "char"          # any other printable ASCII character, such as ','
    EOF = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    val: str
    pos: int            # offset of the token in the template, in characters
    space: bool = False  # white space came right before it, inside an action

    def describe(self) -> str:
        """Go's ``item.String()``, which parse errors quote: ``"}}"``, ``<end>``, ``EOF``."""
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind is Kind.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``: printable characters stay, others become Go escapes."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and not 0xD800 <= code < 0xE000:
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code < 0xE000:
            out.append("\\ufffd")  # a lone surrogate is invalid UTF-8 to Go
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                  "\v": "\\v"}


def is_alnum(ch: str) -> bool:
    """Go's ``isAlphaNumeric``: underscore, a Unicode letter, or a decimal digit."""
    return ch == "_" or ch.isalpha() or unicodedata.category(ch) == "Nd"


def lex(template: str) -> list[Token]:
    """Split ``template`` into tokens; the list always ends with an EOF token.

    Raises:
        TemplateError: an unclosed action, comment or quote, or a character Go rejects.
    """
    return _Lexer(template).run()


class _Lexer:
    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0
        self.tokens: list[Token] = []
        self.trim_next = False  # the last action ended with " -}}"
        self.space = False

    def fail(self, pos: int, reason: str) -> NoReturn:
        raise TemplateError(self.src, pos, reason)

    def emit(self, kind: Kind, start: int, end: int) -> None:
        self.tokens.append(Token(kind, self.src[start:end], start, self.space))
        self.space = False

    def run(self) -> list[Token]:
        src = self.src
        while True:
            start = self.pos
            left = src.find("{{", start)
            end = len(src) if left < 0 else left
            if self.trim_next:
                while start < end and src[start] in _SPACE:
                    start += 1
                self.trim_next = False
            if left >= 0 and self._left_trim(left):
                while end > start and src[end - 1] in _SPACE:
                    end -= 1
            if end > start:
                self.emit(Kind.TEXT, start, end)
            if left < 0:
                break
            self._action(left)
        self.tokens.append(Token(Kind.EOF, "", len(src)))
        return self.tokens

    def _left_trim(self, left: int) -> bool:
        after = self.src[left + 2:left + 4]
        return len(after) == 2 and after[0] == "-" and after[1] in _SPACE

    def _right_delim(self) -> tuple[int, bool] | None:
        """Length of the ``}}`` or `` -}}`` at the current position, and whether it trims."""
        src, pos = self.src, self.pos
        if src.startswith("}}", pos):
            return 2, False
        if pos < len(src) and src[pos] in _SPACE and src.startswith("-}}", pos + 1):
            return 4, True
        return None

    def _action(self, left: int) -> None:
        self.pos = left + 2 + (2 if self._left_trim(left) else 0)
        if self.src.startswith("/*", self.pos):
            self._comment()
            return
        self.emit(Kind.LEFT, left, left + 2)
        depth = 0
        while True:
            delim = self._right_delim()
            if delim is not None:
                if depth:
                    self.fail(self.pos, "unclosed left paren")
                self.emit(Kind.RIGHT, self.pos, self.pos + delim[0])
                self.pos += delim[0]
                self.trim_next = delim[1]
                return
            if self.pos >= len(self.src):
                self.fail(self.pos, "unclosed action")
            ch = self.src[self.pos]
            if ch in _SPACE:
                self.pos += 1
                self.space = True
            elif ch == "(":
                depth += 1
                self._single(Kind.LPAREN)
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    self.fail(self.pos, "unexpected right paren")
                self._single(Kind.RPAREN)
            else:
                self._token(ch)

    def _comment(self) -> None:
        end = self.src.find("*/", self.pos + 2)
        if end < 0:
            self.fail(self.pos, "unclosed comment")
        self.pos = end + 2
        delim = self._right_delim()
        if delim is None:
            self.fail(self.pos, "comment ends before closing delimiter")
        self.pos += delim[0]
        self.trim_next = delim[1]

    def _single(self, kind: Kind) -> None:
        self.emit(kind, self.pos, self.pos + 1)
        self.pos += 1

    def _token(self, ch: str) -> None:
        src, start = self.src, self.pos
        nxt = src[start + 1:start + 2]
        if ch == "|":
            self._single(Kind.PIPE)
        elif ch == "=":
            self._single(Kind.ASSIGN)
        elif ch == ":":
            if nxt != "=":
                self.fail(start, "expected :=")
            self.emit(Kind.DECLARE, start, start + 2)
            self.pos += 2
        elif ch == '"':
            self._quoted('"', Kind.STRING, "unterminated quoted string")
        elif ch == "'":
            self._quoted("'", Kind.CHAR_CONST, "unterminated character constant")
        elif ch == "`":
            end = src.find("`", start + 1)
            if end < 0:
                self.fail(start, "unterminated raw quoted string")
            self.pos = end + 1
            self.emit(Kind.STRING, start, self.pos)
        elif ch == "$" or (ch == "." and not (nxt and nxt in _DIGITS)):
            self._field_or_variable(ch)
        elif ch in "+-." or ch in _DIGITS:
            self._number()
        elif is_alnum(ch):
            self._identifier()
        elif ch.isascii() and ch.isprintable():
            self._single(Kind.CHAR)
        else:
            self.fail(start, f"unrecognized character in action: {_rune(ch)}")

    def _quoted(self, quote: str, kind: Kind, unterminated: str) -> None:
        src, pos = self.src, self.pos + 1
        while True:
            if pos >= len(src) or src[pos] == "\n":
                self.fail(pos, unterminated)
            if src[pos] == "\\":
                if pos + 1 >= len(src) or src[pos + 1] == "\n":
                    self.fail(pos, unterminated)
                pos += 2
                continue
            if src[pos] == quote:
                break
            pos += 1
        self.emit(kind, self.pos, pos + 1)
        self.pos = pos + 1

    def _scan_alnum(self, pos: int) -> int:
        while pos < len(self.src) and is_alnum(self.src[pos]):
            pos += 1
        return pos

    def _at_terminator(self, pos: int) -> bool:
        """Go's ``atTerminator``: what may follow a name without a space."""
        if pos >= len(self.src):
            return True
        return self.src[pos] in _SPACE + ".,|:()" or self.src.startswith("}}", pos)

    def _field_or_variable(self, sigil: str) -> None:
        start = self.pos
        end = self._scan_alnum(start + 1)
        if not self._at_terminator(end):
            self.fail(end, f"bad character {_rune(self.src[end])}")
        kind = Kind.VARIABLE if sigil == "$" else (Kind.FIELD if end > start + 1 else Kind.DOT)
        self.pos = end
        self.emit(kind, start, end)

    def _identifier(self) -> None:
        start = self.pos
        end = self._scan_alnum(start)
        if not self._at_terminator(end):
            self.fail(end, f"bad character {_rune(self.src[end])}")
        word = self.src[start:end]
        if word in _KEYWORDS:
            kind = Kind.KEYWORD
        elif word in ("true", "false"):
            kind = Kind.BOOL
        else:
            kind = Kind.NIL if word == "nil" else Kind.IDENT
        self.pos = end
        self.emit(kind, start, end)

    def _number(self) -> None:
        """Go's ``scanNumber``: sign, base prefix, digits, fraction, exponent, ``i``."""
        src, start = self.src, self.pos
        pos = start

        def accept(chars: str) -> bool:
            nonlocal pos
            if pos < len(src) and src[pos] in chars:
                pos += 1
                return True
            return False

        def accept_run(chars: str) -> None:
            while accept(chars):
                pass

        accept("+-")
        digits = "0123456789_"
        if accept("0"):
            for prefix, run in (("xX", "0123456789abcdefABCDEF_"), ("oO", "01234567_"),
                                ("bB", "01_")):
                if accept(prefix):
                    digits = run
                    break
        accept_run(digits)
        if accept("."):
            accept_run(digits)
        if len(digits) == 11 and accept("eE"):
            accept("+-")
            accept_run("0123456789_")
        if len(digits) == 23 and accept("pP"):
            accept("+-")
            accept_run("0123456789_")
        accept("i")
        if pos < len(src) and is_alnum(src[pos]):
            self.fail(start, f"bad number syntax: {go_quote(src[start:pos + 1])}")
        self.pos = pos
        self.emit(Kind.NUMBER, start, pos)


def _rune(ch: str) -> str:
    """Go's ``%#U``: ``U+003D '='``."""
    return f"U+{ord(ch):04X} '{ch}'"
