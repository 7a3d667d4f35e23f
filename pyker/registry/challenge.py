"""Parsing ``WWW-Authenticate``: how a registry says which credentials it wants (RFC 7235).

A registry answers ``401`` with one of two schemes. ``Basic realm="…"`` (an htpasswd
registry) wants ``user:password`` in every request. ``Bearer realm="https://auth/token",
service="registry",scope="repository:app:pull"`` (Docker Hub, a token server) sends the
client to ``realm`` to trade credentials (or nothing, for anonymous pulls) for a token valid
for a *scope*: ``repository:<name>:<actions>``, actions ``pull``, ``push`` or both.

A header may carry several challenges (``Basic realm="a", Bearer realm="b"``), and a
parameter value may be a token or a quoted string with ``\\`` escapes; both are handled.
See the distribution docs, spec/auth/token.md and spec/auth/scope.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SPACE = re.compile(r"[ \t]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    scheme: str  # lower case: "basic", "bearer"
    params: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def _skip(text: str, pos: int) -> int:
    return _SPACE.match(text, pos).end()


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """The value of a quoted string starting at ``text[pos] == '"'``, and the end."""
    out, pos = [], pos + 1
    while pos < len(text):
        c = text[pos]
        if c == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif c == '"':
            return "".join(out), pos + 1
        else:
            out.append(c)
            pos += 1
    return "".join(out), pos  # unterminated: take what there is, as Go's parser does


def _param(text: str, pos: int) -> tuple[str, str, int] | None:
    """``key=value`` at ``pos`` (a token not followed by ``=`` is the next challenge)."""
    m = _TOKEN.match(text, pos)
    if not m:
        return None
    eq = _skip(text, m.end())
    if eq >= len(text) or text[eq] != "=":
        return None
    vpos = _skip(text, eq + 1)
    if vpos < len(text) and text[vpos] == '"':
        value, end = _quoted(text, vpos)
    else:
        vm = _TOKEN.match(text, vpos)
        value, end = (vm.group(), vm.end()) if vm else ("", vpos)
    return m.group().lower(), value, end


def parse(header: str) -> list[Challenge]:
    """Every challenge of one ``WWW-Authenticate`` value, in order; junk is skipped."""
    out: list[Challenge] = []
    pos = 0
    while pos < len(header):
        pos = _skip(header, pos)
        m = _TOKEN.match(header, pos)
        if not m:
            pos += 1  # a stray comma or character between challenges
            continue
        scheme, pos = m.group().lower(), m.end()
        params: dict[str, str] = {}
        while True:
            pos = _skip(header, pos)
            found = _param(header, pos)
            if found is None:
                break
            key, value, pos = found
            params.setdefault(key, value)
            pos = _skip(header, pos)
            if pos < len(header) and header[pos] == ",":
                pos += 1
        out.append(Challenge(scheme=scheme, params=params))
    return out


def parse_all(headers: list[str]) -> list[Challenge]:
    return [c for h in headers for c in parse(h)]


def repository_scope(name: str, *actions: str) -> str:
    """``repository:app:pull,push``: the scope a token must grant for ``actions`` on ``name``."""
    return f"repository:{name}:{','.join(actions)}"
