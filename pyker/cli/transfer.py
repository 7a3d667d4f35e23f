"""Commands that move images in and out of the store as tarballs: ``import``, ``save``, ``load``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pyker.cli.main import Parser
from pyker.errors import UsageError


def _open_source(path: str):
    if path == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("requested import from stdin, but stdin is a terminal")
        return sys.stdin.buffer
    if "://" in path:
        raise UsageError(f'"{path}": importing from a URL is not supported; '
                         "download it, then import the file")
    return open(path, "rb")


# -- import -------------------------------------------------------------------------------------

def cmd_import(args: argparse.Namespace) -> int:
    from pyker.engine import Engine
    from pyker.build.changes import apply_changes
    from pyker.image.importer import import_tarball
    from pyker.spec.image import ContainerConfig
    from pyker.image.reference import parse_tagged

    tags = [parse_tagged(args.repository)] if args.repository else []
    # -c is checked before anything is read or written.
    config = apply_changes(ContainerConfig(), list(args.change))
    stream = _open_source(args.file)
    try:
        image = import_tarball(Engine().images, stream, source=args.file, config=config,
                               message=args.message, tags=tags)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    print(image.id)
    return 0


def add_import(p: Parser) -> None:
    p.add_argument("file", metavar="file|-")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-c", "--change", action="append", default=[],
                   help="apply a Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="set commit message for imported image")
    p.add_argument("--platform", help="accepted; the host's platform is used")
    p.set_defaults(handler=cmd_import)


# -- save ---------------------------------------------------------------------------------------

def cmd_save(args: argparse.Namespace) -> int:
    from pyker.engine import Engine
    from pyker.image.archive import save
    from pyker.image.reference import parse_tagged
    from pyker.errors import InvalidReference

    engine = Engine()
    chosen = []
    for name in args.images:
        image = engine.images.resolve(name)
        try:
            ref = parse_tagged(name)
            tags = [ref] if ref in image.tags else []
        except InvalidReference:
            tags = []
        chosen.append((image, tags))
    if not args.output:
        if sys.stdout.isatty():
            raise UsageError("cowardly refusing to save to a terminal. "
                             "Use the -o flag or redirect")
        sys.stdout.flush()
        save(engine.images, chosen, sys.stdout.buffer)
        return 0
    target = Path(args.output)
    # Written beside the target then renamed: a failed save never leaves half an archive.
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as out:
            save(engine.images, chosen, out)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return 0


def add_save(p: Parser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="write to a file, instead of STDOUT")
    p.set_defaults(handler=cmd_save)


# -- load ---------------------------------------------------------------------------------------

def cmd_load(args: argparse.Namespace) -> int:
    from pyker.engine import Engine
    from pyker.image.archive import load

    if args.input:
        with open(args.input, "rb") as f:
            loaded = load(Engine().images, f, archive=args.input)
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty")
        loaded = load(Engine().images, sys.stdin.buffer, archive="stdin")
    if not args.quiet:
        for item in loaded:
            lines = [f"Loaded image: {t}" for t in item.tags] or [f"Loaded image ID: {item.image.id}"]
            print("\n".join(lines))
    return 0


def add_load(p: Parser) -> None:
    p.add_argument("-i", "--input", help="read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    p.set_defaults(handler=cmd_load)
