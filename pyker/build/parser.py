"""The Dockerfile parser: text → :class:`~pyker.build.instructions.Dockerfile`.

Three steps, each in its module: :mod:`pyker.build.lexer` joins physical lines into logical
ones (directives, continuations, comments, heredoc bodies); :mod:`pyker.build.shellwords`
cuts a logical line into name, flags and arguments; here, one small function per
instruction checks the arguments as Docker does and builds its dataclass, and the stages
are assembled (ARG before the first FROM is global; anything else before it is an error).

Every error is a :class:`~pyker.errors.DockerfileSyntaxError` naming the file and the first
line of the instruction, in Docker's words: ``Dockerfile:4: ENV names can not be blank``.
Nothing is expanded here (see :mod:`pyker.build.substitution`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from pyker.build import instructions as ins
from pyker.build.lexer import LexError, heredoc_word, read_lines
from pyker.build.shellwords import (
    BLANKS, ArgumentError, blank_split, health_interval, health_retries, json_or_words,
    parse_flags, parse_json, parse_pairs, parse_words, split_command,
)
from pyker.build.substitution import SubstitutionError
from pyker.errors import DockerfileSyntaxError

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    """One logical line, cut: what every instruction function receives."""

    cmd: str  # upper case
    flags: list[str]
    args: str
    line: int
    original: str
    heredocs: tuple[ins.Heredoc, ...]
    escape: str

    def flag_values(self, spec: dict[str, str]) -> dict[str, str | bool | tuple[str, ...]]:
        return parse_flags(self.flags, spec, self.cmd)

    def base(self) -> dict[str, int | str]:
        return {"line": self.line, "original": self.original}


def _command(req: _Request) -> ins.Command:
    """Exec form when the arguments are a JSON array of strings, else the shell-form text."""
    array = parse_json(req.args)
    if array is not None:
        return array
    if not req.args:
        raise ArgumentError(f"{req.cmd} requires at least one argument")
    return req.args


def _one_argument(req: _Request) -> str:
    if not req.args:
        raise ArgumentError(f"{req.cmd} requires exactly one argument")
    return req.args


def _from(req: _Request) -> ins.From:
    flags = req.flag_values({"platform": "str"})
    args = blank_split(req.args)
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise ArgumentError(f'invalid name for build stage: "{args[2]}", name can\'t '
                                "start with a number or contain symbols")
    elif len(args) != 1:
        raise ArgumentError("FROM requires either one or three arguments")
    return ins.From(**req.base(), base=args[0], name=name,
                    platform=str(flags.get("platform", "")))


def _run(req: _Request) -> ins.Run:
    flags = req.flag_values({"mount": "list", "network": "str", "security": "str"})
    mounts = flags.get("mount", ())
    assert isinstance(mounts, tuple)
    return ins.Run(**req.base(), command=_command(req), heredocs=req.heredocs, mounts=mounts,
                   network=str(flags.get("network", "")),
                   security=str(flags.get("security", "")))


def _cmd(req: _Request) -> ins.Cmd:
    req.flag_values({})
    return ins.Cmd(**req.base(), command=_command(req))


def _entrypoint(req: _Request) -> ins.Entrypoint:
    req.flag_values({})
    return ins.Entrypoint(**req.base(), command=_command(req))


def _shell(req: _Request) -> ins.Shell:
    req.flag_values({})
    array = parse_json(req.args)
    if array is None:
        raise ArgumentError("SHELL requires the arguments to be in JSON form")
    if not array:
        raise ArgumentError("SHELL requires at least one argument")
    return ins.Shell(**req.base(), shell=array)


def _label(req: _Request) -> ins.Label:
    req.flag_values({})
    return ins.Label(**req.base(), pairs=parse_pairs(req.args, "LABEL", req.escape))


def _env(req: _Request) -> ins.Env:
    req.flag_values({})
    return ins.Env(**req.base(), pairs=parse_pairs(req.args, "ENV", req.escape))


def _maintainer(req: _Request) -> ins.Maintainer:
    req.flag_values({})
    return ins.Maintainer(**req.base(), name=_one_argument(req))


def _expose(req: _Request) -> ins.Expose:
    req.flag_values({})
    ports = blank_split(req.args)
    if not ports:
        raise ArgumentError("EXPOSE requires at least one argument")
    return ins.Expose(**req.base(), ports=ports)


def _volume(req: _Request) -> ins.Volume:
    req.flag_values({})
    paths, _ = json_or_words(req.args)
    if not paths:
        raise ArgumentError("VOLUME requires at least one argument")
    if any(not p.strip() for p in paths):
        raise ArgumentError("VOLUME specified can not be an empty string")
    return ins.Volume(**req.base(), paths=tuple(p.strip() for p in paths))


def _sources(req: _Request) -> tuple[tuple[str, ...], str, tuple[ins.Heredoc, ...]]:
    """ADD/COPY: the sources, the destination, and the heredocs used as inline sources."""
    words, _ = json_or_words(req.args)
    if len(words) < 2:
        raise ArgumentError(f"{req.cmd} requires at least two arguments, but only one was "
                            "provided. Destination could not be determined")
    *sources, dest = words
    if heredoc_word(dest) is not None:
        raise ArgumentError(f"{req.cmd} cannot accept a heredoc as a destination")
    by_name = {h.name: h for h in req.heredocs}
    paths, inline = [], []
    for src in sources:
        found = heredoc_word(src)
        if found is None:
            paths.append(src)
        elif found[0] in by_name:
            inline.append(by_name[found[0]])
    return tuple(paths), dest, tuple(inline)


def _add(req: _Request) -> ins.Add:
    flags = req.flag_values({"chown": "str", "chmod": "str", "link": "bool",
                             "checksum": "str"})
    sources, dest, heredocs = _sources(req)
    return ins.Add(**req.base(), sources=sources, dest=dest, heredocs=heredocs,
                   chown=str(flags.get("chown", "")), chmod=str(flags.get("chmod", "")),
                   link=bool(flags.get("link", False)),
                   checksum=str(flags.get("checksum", "")))


def _copy(req: _Request) -> ins.Copy:
    flags = req.flag_values({"from": "str", "chown": "str", "chmod": "str", "link": "bool"})
    sources, dest, heredocs = _sources(req)
    return ins.Copy(**req.base(), sources=sources, dest=dest, heredocs=heredocs,
                    from_=str(flags.get("from", "")), chown=str(flags.get("chown", "")),
                    chmod=str(flags.get("chmod", "")), link=bool(flags.get("link", False)))


def _arg(req: _Request) -> ins.Arg:
    req.flag_values({})
    words = parse_words(req.args, req.escape)
    if not words:
        raise ArgumentError("ARG requires at least one argument")
    specs = []
    for word in words:
        name, sep, default = word.partition("=")
        if sep and not name:
            raise ArgumentError("ARG names can not be blank")
        specs.append(ins.ArgSpec(name=name, default=default if sep else None))
    return ins.Arg(**req.base(), args=tuple(specs))


def _workdir(req: _Request) -> ins.Workdir:
    req.flag_values({})
    return ins.Workdir(**req.base(), path=_one_argument(req))


def _user(req: _Request) -> ins.User:
    req.flag_values({})
    return ins.User(**req.base(), user=_one_argument(req))


def _stopsignal(req: _Request) -> ins.Stopsignal:
    req.flag_values({})
    return ins.Stopsignal(**req.base(), signal=_one_argument(req))


def _onbuild(req: _Request) -> ins.Onbuild:
    req.flag_values({})
    if not req.args:
        raise ArgumentError("ONBUILD requires at least one argument")
    trigger = split_command(req.args)[0].upper()
    if trigger == "ONBUILD":
        raise ArgumentError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise ArgumentError(f"{trigger} isn't allowed as an ONBUILD trigger")
    inner = _instruction(req.args, line=req.line, heredocs=req.heredocs, escape=req.escape)
    expression = _ONBUILD_PREFIX.sub("", req.original, count=1)
    for heredoc in req.heredocs:  # the image keeps the bodies with the trigger's text
        expression += "\n" + heredoc.content + heredoc.name
    return ins.Onbuild(**req.base(), expression=expression, trigger=inner)


def _healthcheck(req: _Request) -> ins.Healthcheck:
    kind, rest = (BLANKS.split(req.args, maxsplit=1) + [""])[:2]
    kind, rest = kind.upper(), rest.strip()
    if not kind:
        raise ArgumentError("HEALTHCHECK requires at least one argument")
    if kind == "NONE":
        if rest:
            raise ArgumentError("HEALTHCHECK NONE takes no arguments")
        return ins.Healthcheck(**req.base(), test=("NONE",))
    flags = req.flag_values({"interval": "str", "timeout": "str", "start-period": "str",
                             "start-interval": "str", "retries": "str"})
    if kind != "CMD":
        raise ArgumentError(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    array = parse_json(rest)
    if array is not None and array:
        test: tuple[str, ...] = ("CMD", *array)
    elif array is None and rest:
        test = ("CMD-SHELL", rest)
    else:
        raise ArgumentError("Missing command after HEALTHCHECK CMD")
    durations = {name: health_interval(name, str(flags.get(name, "")))
                 for name in ("interval", "timeout", "start-period", "start-interval")}
    return ins.Healthcheck(**req.base(), test=test, interval=durations["interval"],
                           timeout=durations["timeout"],
                           start_period=durations["start-period"],
                           start_interval=durations["start-interval"],
                           retries=health_retries(str(flags.get("retries", ""))))


_DISPATCH: dict[str, Callable[[_Request], ins.Instruction]] = {
    "ADD": _add, "ARG": _arg, "CMD": _cmd, "COPY": _copy, "ENTRYPOINT": _entrypoint,
    "ENV": _env, "EXPOSE": _expose, "FROM": _from, "HEALTHCHECK": _healthcheck,
    "LABEL": _label, "MAINTAINER": _maintainer, "ONBUILD": _onbuild, "RUN": _run,
    "SHELL": _shell, "STOPSIGNAL": _stopsignal, "USER": _user, "VOLUME": _volume,
    "WORKDIR": _workdir,
}
INSTRUCTIONS = frozenset(_DISPATCH)


def _instruction(text: str, *, line: int, heredocs: tuple[ins.Heredoc, ...],
                 escape: str) -> ins.Instruction:
    cmd, flags, args = split_command(text)
    fn = _DISPATCH.get(cmd.upper())
    if fn is None:
        raise ArgumentError(f"unknown instruction: {cmd}")
    req = _Request(cmd=cmd.upper(), flags=flags, args=args, line=line, original=text,
                   heredocs=heredocs, escape=escape)
    return fn(req)


def parse_instruction(text: str, *, line: int = 1, escape: str = "\\",
                      file: str = "Dockerfile") -> ins.Instruction:
    """One instruction on one logical line (``import --change``, ONBUILD triggers).

    Raises:
        DockerfileSyntaxError: as :func:`parse`.
    """
    try:
        return _instruction(text.strip(), line=line, heredocs=(), escape=escape)
    except (ArgumentError, SubstitutionError) as err:
        raise DockerfileSyntaxError(file, line, _reason(err)) from None


def _reason(err: Exception) -> str:
    return err.reason if isinstance(err, SubstitutionError) else str(err)


def parse(text: str, *, file: str = "Dockerfile") -> ins.Dockerfile:
    """Parse a whole Dockerfile.

    Args:
        text: the file's content.
        file: how errors name it (``-f`` as given, ``Dockerfile`` by default).

    Raises:
        DockerfileSyntaxError: the first fault, with its line and Docker's message.
    """
    if not text.strip():
        raise DockerfileSyntaxError(file, 0, f"the Dockerfile ({file}) cannot be empty")
    try:
        lines = read_lines(text)
    except LexError as err:
        raise DockerfileSyntaxError(file, err.line, err.message) from None
    if not lines.lines:
        raise DockerfileSyntaxError(file, 0, f"{file}: file with no instructions")
    escape = lines.directives.escape
    parsed = []
    for logical in lines.lines:
        try:
            parsed.append(_instruction(logical.text, line=logical.start,
                                       heredocs=logical.heredocs, escape=escape))
        except (ArgumentError, SubstitutionError) as err:
            raise DockerfileSyntaxError(file, logical.start, _reason(err)) from None
    global_args, stages, warnings = _assemble(parsed, file)
    return ins.Dockerfile(file=file, directives=lines.directives, global_args=global_args,
                          stages=stages, warnings=(*lines.warnings, *warnings))


def _assemble(parsed: list[ins.Instruction], file: str
              ) -> tuple[tuple[ins.Arg, ...], tuple[ins.Stage, ...], list[str]]:
    """Group instructions into stages; ARGs before the first FROM are global.

    Raises:
        DockerfileSyntaxError: an instruction before the first FROM (other than ARG), a
            stage name used twice, a ``COPY --from`` that names no stage.
    """
    global_args: list[ins.Arg] = []
    heads: list[ins.From] = []
    bodies: list[list[ins.Instruction]] = []
    warnings = []
    for inst in parsed:
        if isinstance(inst, ins.From):
            if inst.name and any(h.name == inst.name for h in heads):
                raise DockerfileSyntaxError(file, inst.line,
                                            f'duplicate stage name "{inst.name}"')
            if inst.platform:
                warnings.append(f"line {inst.line}: FROM --platform={inst.platform} is "
                                "ignored: pyker builds for its own platform")
            heads.append(inst)
            bodies.append([])
        elif not heads and isinstance(inst, ins.Arg):
            global_args.append(inst)
        elif not heads:
            raise DockerfileSyntaxError(file, inst.line, "no build stage in current context")
        else:
            bodies[-1].append(inst)
    if not heads:
        raise DockerfileSyntaxError(file, 0, f"{file}: dockerfile contains no stages to build")
    names = [h.name for h in heads]
    stages = []
    for index, (head, body) in enumerate(zip(heads, bodies)):
        base = head.base.lower()
        base_stage = names.index(base) if base in names[:index] else None
        body = [_resolve_from(inst, index, names, file) for inst in body]
        stages.append(ins.Stage(index=index, name=head.name, base=head.base,
                                base_stage=base_stage, platform=head.platform,
                                line=head.line, original=head.original,
                                instructions=tuple(body)))
    return tuple(global_args), tuple(stages), warnings


def _resolve_from(inst: ins.Instruction, index: int, names: list[str],
                  file: str) -> ins.Instruction:
    """``COPY --from``: a stage index or name (any other stage, as buildkit orders stages by
    their dependencies), or else an image (``--from=busybox`` is busybox:latest), found in
    the store or pulled when the builder reaches it: a misspelt stage fails there, as
    Docker's does, on an image that cannot be found."""
    if not isinstance(inst, ins.Copy) or not inst.from_ or "$" in inst.from_:
        return inst  # an ARG in --from is expanded by the builder, which checks it then
    value = inst.from_.lower()
    if value.isdigit():
        if int(value) >= index:
            raise DockerfileSyntaxError(file, inst.line, f"invalid from flag value {value}: "
                                        "refers to current or future build stage")
        return replace(inst, from_stage=int(value))
    if value in names:
        if names.index(value) == index:
            raise DockerfileSyntaxError(file, inst.line,
                                        f"circular dependency detected on stage: {value}")
        return replace(inst, from_stage=names.index(value))
    return inst
