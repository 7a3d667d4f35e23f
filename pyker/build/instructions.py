"""One frozen dataclass per Dockerfile instruction, and the stages they form.

Each instruction keeps ``line`` (the first physical line of the instruction, which is what
Docker's errors cite) and ``original`` (the logical line: continuations joined, comment
lines dropped), from which ``docker history`` shows ``/bin/sh -c #(nop) …``.

Words are kept *raw*: quotes and ``$VAR`` are still in them. Expansion needs the environment
at that step of the build (an ``ENV`` two lines above, a ``--build-arg``), so it is the
builder's job, with :func:`pyker.build.substitution.expand` for the instructions listed in
:data:`pyker.build.substitution.EXPANDING`. The exception is a form Docker decides at parse
time: exec form (a JSON array, already unquoted) against shell form (one string).
"""

from __future__ import annotations

from dataclasses import dataclass

# A command in exec form (argv, run as is) or shell form (run by the stage's SHELL).
Command = str | tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    line: int
    original: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Heredoc:
    """A here-document: ``<<EOF`` in the line, its body on the lines after it.

    ``content`` ends with a newline per line; with ``<<-EOF`` (``chomp``) the leading tabs
    of every line are already removed. ``expand`` is False when the delimiter was quoted
    (``<<'EOF'``, ``<<"EOF"``): then the body is taken literally, as in sh.
    """

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0  # ``3<<EOF`` opens the body on descriptor 3 of RUN's command


@dataclass(frozen=True, slots=True, kw_only=True)
class From(Instruction):
    base: str              # an image reference, a stage name, or ``scratch``
    name: str = ""         # ``AS name``, lowercased as Docker does
    platform: str = ""     # ``--platform``: kept for a warning, pyker builds for its host


@dataclass(frozen=True, slots=True, kw_only=True)
class Run(Instruction):
    command: Command
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[str, ...] = ()   # ``--mount=type=cache,target=/root/.cache``, unparsed
    network: str = ""              # ``--network=none|host|default``
    security: str = ""             # ``--security=insecure|sandbox``


@dataclass(frozen=True, slots=True, kw_only=True)
class Cmd(Instruction):
    command: Command


@dataclass(frozen=True, slots=True, kw_only=True)
class Entrypoint(Instruction):
    command: Command


@dataclass(frozen=True, slots=True, kw_only=True)
class Shell(Instruction):
    shell: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Maintainer(Instruction):
    """Deprecated: the builder records it as the image's ``author``."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Expose(Instruction):
    ports: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Add(Instruction):
    sources: tuple[str, ...]            # context paths, globs or URLs
    dest: str
    heredocs: tuple[Heredoc, ...] = ()  # ``ADD <<EOF /dest``: inline files, named by delimiter
    chown: str = ""
    chmod: str = ""
    link: bool = False
    checksum: str = ""                  # ``--checksum=sha256:…`` of a URL source


@dataclass(frozen=True, slots=True, kw_only=True)
class Copy(Instruction):
    sources: tuple[str, ...]
    dest: str
    heredocs: tuple[Heredoc, ...] = ()
    from_: str = ""                     # ``--from``: a stage name or index, or an image
    from_stage: int | None = None       # the index of that stage, when it names one
    chown: str = ""
    chmod: str = ""
    link: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgSpec:
    name: str
    default: str | None = None  # None: declared without ``=``; "" is an empty default


@dataclass(frozen=True, slots=True, kw_only=True)
class Arg(Instruction):
    args: tuple[ArgSpec, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Stopsignal(Instruction):
    signal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Onbuild(Instruction):
    """A trigger stored in the image, run when a child build starts ``FROM`` it.

    ``expression`` is what the image config's ``OnBuild`` list holds (the text after
    ``ONBUILD``, heredoc bodies appended); ``trigger`` is it parsed, so that an error in it
    shows now rather than in some later build.
    """

    expression: str
    trigger: Instruction


@dataclass(frozen=True, slots=True, kw_only=True)
class Healthcheck(Instruction):
    """``test`` as the image config wants it: ``("NONE",)``, ``("CMD", argv…)`` or
    ``("CMD-SHELL", command)``; durations in nanoseconds, 0 meaning Docker's default."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """From one FROM to the next. ``base_stage`` is the index of the stage ``base`` names,
    None for an image (or a name still to expand, ``FROM $BASE``)."""

    index: int
    name: str
    base: str
    base_stage: int | None
    platform: str
    line: int
    original: str
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Directives:
    """Parser directives (``# escape=`` ``# syntax=``) from the top of the file.

    ``syntax`` names a frontend image for BuildKit; pyker has one parser, so it is accepted
    and ignored (a warning is the builder's to give).
    """

    escape: str = "\\"
    syntax: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Dockerfile:
    file: str
    directives: Directives
    global_args: tuple[Arg, ...]  # ARG before the first FROM: usable in FROM lines only
    stages: tuple[Stage, ...]
    warnings: tuple[str, ...] = ()

    def stage(self, name_or_index: str) -> Stage | None:
        """The stage named so (case-insensitive), or at that index (``--target``)."""
        if name_or_index.isdigit():
            index = int(name_or_index)
            return self.stages[index] if index < len(self.stages) else None
        wanted = name_or_index.lower()
        return next((s for s in self.stages if s.name and s.name == wanted), None)
