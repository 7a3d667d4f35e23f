"""Commands on a container's filesystem and identity: ``diff``, ``commit``, ``cp``, ``rename``,
``container prune`` (``pyker container …`` reaches them too).

As Docker's CLI, these exit 1 when the command is refused (a missing container or file, a
bad ``--change``, two containers to ``cp``), and 125 only for flags argparse rejects.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

from pyker.cli.main import Parser, flag_bool
from pyker.engine import Engine
from pyker.errors import PykerError, UsageError


def _exit_one(handler):
    """Docker's CLI: any error past the flag parsing (which argparse reports, 125) is 1."""
    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except BrokenPipeError:
            # `pyker cp c:/ - | head`: the reader left, which is not an error.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except PykerError as err:
            print(f"pyker: {err}", file=sys.stderr)
            return 1
        except OSError as err:
            where = f"{err.filename}: " if err.filename else ""
            print(f"pyker: {where}{err.strerror or err}", file=sys.stderr)
            return 1
    return run


# -- diff -------------------------------------------------------------------------------------

@_exit_one
def cmd_diff(args: argparse.Namespace) -> int:
    from pyker.runtime.changes import diff
    from pyker.runtime.container import Paths

    engine = Engine()
    record = engine.containers.resolve(args.container)
    image = engine.images.get(record.image_id)
    lowers = [layer.path for layer in reversed(engine.images.layers_of(image))]
    changes = diff(Paths(root=engine.containers.dir(record.id)).upper, lowers)
    sys.stdout.write("".join(f"{c}\n" for c in changes))
    return 0


# -- commit -----------------------------------------------------------------------------------

@_exit_one
def cmd_commit(args: argparse.Namespace) -> int:
    from pyker.image.reference import parse_tagged
    from pyker.runtime.commit import CommitRequest, commit

    tags = (parse_tagged(args.repository),) if args.repository else ()
    engine = Engine()
    record = engine.containers.resolve(args.container)
    from pyker.build.changes import apply_changes
    from pyker.spec.image import ContainerConfig

    image = commit(engine.images, engine.containers, record, CommitRequest(
        changes=apply_changes(ContainerConfig(), list(args.change)), comment=args.message,
        author=args.author, tags=tags))
    print(image.id)
    return 0


# -- cp ---------------------------------------------------------------------------------------

def split_cp_arg(arg: str) -> tuple[str, str]:
    """Docker's splitCpArg: ``CONTAINER:PATH`` → (container, path); a local path → ("", path).

    A path that starts with ``/`` or ``.`` is local even with a colon in it (``./a:b``).
    """
    if arg.startswith(("/", ".")) or arg == "-":
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep:
        return "", arg
    return container, path


def _host_path(path: str) -> str:
    absolute = os.path.abspath(path)
    if path.endswith("/.") or path == ".":
        return absolute.rstrip("/") + "/."
    return absolute + "/" if path.endswith("/") and absolute != "/" else absolute


def _container_path(path: str) -> str:
    return path if path.startswith("/") else "/" + path


@_exit_one
def cmd_cp(args: argparse.Namespace) -> int:
    from pyker.runtime import copy

    (src_c, src_p), (dst_c, dst_p) = split_cp_arg(args.src), split_cp_arg(args.dest)
    if src_c and dst_c:
        raise UsageError("copying between containers is not supported")
    if not src_c and not dst_c:
        raise UsageError("must specify at least one container source")
    engine = Engine()
    name = src_c or dst_c
    record = engine.containers.resolve(name)
    with copy.container_root(engine.images, engine.containers, record) as root:
        if src_c:
            inside = copy.Side(root=root, path=_container_path(src_p), container=name)
            if dst_p == "-":
                source = copy.stat_source(inside, follow=args.follow_link)
                sys.stdout.flush()
                copy.write_archive(inside, source, sys.stdout.buffer)
                return 0
            host = copy.Side(root=Path("/"), path=_host_path(dst_p))
            copy.copy(inside, host, follow=args.follow_link,
                      owner=(os.geteuid(), os.getegid()))
            return 0
        inside = copy.Side(root=root, path=_container_path(dst_p), container=name)
        # Without -a the files belong to the container's root, as Docker makes them.
        owner = None if args.archive else (0, 0)
        if src_p == "-":
            into = copy.destination_dir(inside)
            copy.extract(inside, into, sys.stdin.buffer, owner=owner)
            return 0
        host = copy.Side(root=Path("/"), path=_host_path(src_p))
        copy.copy(host, inside, follow=args.follow_link, owner=owner)
    return 0


# -- rename, prune ----------------------------------------------------------------------------

@_exit_one
def cmd_rename(args: argparse.Namespace) -> int:
    from pyker.runtime.container import _check_name

    engine = Engine()
    new = args.new.lstrip("/")
    if not args.old or not new:
        raise PykerError("Neither old nor new names may be empty")
    record = engine.containers.resolve(args.old)
    if record.name == new:
        raise PykerError("Renaming a container with the same name as its current name")
    _check_name(new, engine.containers)
    engine.containers.rename(record.id, new)
    return 0


def prune_containers(engine: Engine) -> tuple[list[str], int]:
    """Remove every stopped container: (their ids, bytes of their layers reclaimed)."""
    from pyker.runtime.changes import upper_size
    from pyker.runtime.container import Paths, remove

    deleted, reclaimed = [], 0
    for record in list(engine.containers.all()):
        if record.state.status in ("running", "paused", "restarting", "removing"):
            continue
        size = upper_size(Paths(root=engine.containers.dir(record.id)).upper)
        remove(engine.containers, record)
        deleted.append(record.id)
        reclaimed += size
    return deleted, reclaimed


@_exit_one
def cmd_prune(args: argparse.Namespace) -> int:
    from pyker.cli.humanize import human_size

    if not args.force and sys.stdin.isatty():
        answer = input("WARNING! This will remove all stopped containers.\n"
                       "Are you sure you want to continue? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    deleted, reclaimed = prune_containers(Engine())
    if deleted:
        print("Deleted Containers:\n" + "\n".join(deleted) + "\n")
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


# -- the command table ------------------------------------------------------------------------

def add(name: str, p: Parser) -> None:
    if name == "diff":
        p.add_argument("container", metavar="CONTAINER")
        p.set_defaults(handler=cmd_diff)
    elif name == "commit":
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
        p.add_argument("-a", "--author", default="", help='author ("John Hannibal Smith")')
        p.add_argument("-c", "--change", action="append", default=[],
                       help="apply a Dockerfile instruction to the created image")
        p.add_argument("-m", "--message", default="", help="commit message")
        p.add_argument("-p", "--pause", type=flag_bool("-p, --pause"), nargs="?", const=True,
                       default=True,
                       help="accepted; the container is not frozen during the commit")
        p.set_defaults(handler=cmd_commit)
    elif name == "cp":
        p.add_argument("src", metavar="SRC_PATH")
        p.add_argument("dest", metavar="DEST_PATH")
        p.add_argument("-a", "--archive", action="store_true",
                       help="archive mode (copy all uid/gid information)")
        p.add_argument("-L", "--follow-link", action="store_true",
                       help="always follow symbol link in SRC_PATH")
        p.add_argument("-q", "--quiet", action="store_true", help="accepted (no progress shown)")
        p.set_defaults(handler=cmd_cp)
    elif name == "rename":
        p.add_argument("old", metavar="CONTAINER")
        p.add_argument("new", metavar="NEW_NAME")
        p.set_defaults(handler=cmd_rename)
    elif name == "prune":
        p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
        p.set_defaults(handler=cmd_prune)


def parser(name: str) -> Parser:
    p = Parser(prog=f"pyker {name}", allow_abbrev=False)
    add(name, p)
    return p
