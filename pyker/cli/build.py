"""``pyker build``: Docker's classic ``docker build`` flags, output and exit status.

A failed build exits 1, as ``docker build`` does, whatever failed: the Dockerfile
(``pyker: Dockerfile:3: unknown instruction: RUNN``), a step, or the context. A failed RUN
prints Docker's own line, ``The command '/bin/sh -c false' returned a non-zero code: 1``.
"""

from __future__ import annotations

import argparse
import sys

from pyker.cli.main import Parser
from pyker.errors import PykerError, UsageError

EXIT_BUILD_FAILED = 1


def _pairs(items: list[str], flag: str, *, environ: bool) -> dict[str, str]:
    """``K=V`` pairs; for ``--build-arg``, a bare ``K`` takes its value from the environment
    (and is dropped when unset), as Docker does."""
    import os

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f'invalid argument "{item}" for "{flag}" flag')
        if sep:
            out[key] = value
        elif environ and key in os.environ:
            out[key] = os.environ[key]
        elif not environ:
            out[key] = ""
    return out


def cmd_build(args: argparse.Namespace) -> int:
    from pyker.build.builder import BuildOptions, Builder
    from pyker.build.context import BuildContext
    from pyker.build.output import Output
    from pyker.build.steps import RunFailed
    from pyker.engine import Engine
    from pyker.image import reference

    tags = tuple(reference.parse_tagged(t) for t in args.tag)
    options = BuildOptions(tags=tags, no_cache=args.no_cache, target=args.target or "",
                           network="none" if args.network == "none" else "host",
                           build_args=_pairs(args.build_arg, "--build-arg", environ=True),
                           labels=_pairs(args.label, "--label", environ=False),
                           pull="always" if args.pull else "missing")
    out = Output(quiet=args.quiet)
    try:
        with BuildContext.load(args.context, args.file, stdin=sys.stdin.buffer) as context:
            image = Builder(Engine(), context, options, out).build()
    except RunFailed as err:
        print(err, file=sys.stderr)
        return EXIT_BUILD_FAILED
    except PykerError as err:
        print(f"pyker: {err}", file=sys.stderr)
        return EXIT_BUILD_FAILED
    if args.quiet:
        print(image.id)
    return 0


def cmd_builder_prune(args: argparse.Namespace) -> int:
    from pyker.build.cache import BuildCache
    from pyker.engine import Engine

    count = BuildCache(Engine().images).prune()
    print(f"Deleted build cache entries: {count}")
    return 0


def add(name: str, p: Parser) -> None:
    if name == "builder":
        sub = p.add_subparsers(title="Commands", metavar="COMMAND", required=True,
                               parser_class=Parser)
        prune = sub.add_parser("prune", prog="pyker builder prune",
                               help="Remove build cache")
        prune.add_argument("-a", "--all", action="store_true")
        prune.add_argument("-f", "--force", action="store_true")
        prune.set_defaults(handler=cmd_builder_prune)
        return
    p.add_argument("-t", "--tag", action="append", default=[])
    p.add_argument("-f", "--file")
    p.add_argument("--build-arg", action="append", default=[])
    p.add_argument("--label", action="append", default=[])
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pull", action="store_true",
                   help="always pull a newer version of the base images")
    p.add_argument("--target")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--network", default="default", choices=["default", "host", "none"],
                   help="RUN's network: host (the default until pyker has a bridge) or none")
    p.add_argument("context", metavar="PATH | -")
    p.set_defaults(handler=cmd_build)


def parser(name: str) -> Parser:
    p = Parser(prog=f"pyker {name}", allow_abbrev=False)
    add(name, p)
    return p
