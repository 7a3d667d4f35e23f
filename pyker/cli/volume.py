"""``pyker volume …``: Docker's volume commands (local driver), flags and output."""

from __future__ import annotations

import argparse
import sys

from pyker.cli.main import Parser, new_parser
from pyker.engine import Engine
from pyker.errors import PykerError, UsageError

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE",
              "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def _store(engine: Engine):
    from pyker.runtime.volumes import store_of

    return store_of(engine.containers_dir)


def _users(engine: Engine):
    from pyker.runtime.volumes import users

    return users(engine.containers_dir)


def _labels(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise UsageError(f'invalid argument "{item}" for "--label" flag: want key=value')
        out[key] = value
    return out


def cmd_create(args: argparse.Namespace) -> int:
    if args.driver != "local":
        raise PykerError(f'plugin "{args.driver}" not found: pyker has the local volume '
                         "driver only")
    if args.opt:
        raise UsageError("--opt: the local driver of pyker takes no options")
    name = args.name or args.name_flag or ""
    labels = _labels(args.label)
    store = _store(Engine())
    with store.locked():
        volume = store.create(name, labels=labels)
    print(volume.name)
    return 0


def _matches(volume, dangling: bool, spec: str) -> bool:
    key, _, value = spec.partition("=")
    if key == "name":
        return value in volume.name
    if key == "dangling":
        if value.lower() not in ("true", "false", "1", "0"):
            raise UsageError(f"invalid filter 'dangling={value}'")
        return dangling == (value.lower() in ("true", "1"))
    if key == "driver":
        return volume.driver == value
    if key == "label":
        k, sep, v = value.partition("=")
        return k in volume.labels and (not sep or volume.labels[k] == v)
    raise UsageError(f"invalid filter '{key}'")


def cmd_ls(args: argparse.Namespace) -> int:
    from pyker.cli.gotemplate import format_rows

    engine = Engine()
    users = _users(engine)
    rows = []
    for v in _store(engine).list():
        dangling = not users(v.name) if any(f.startswith("dangling=") for f in args.filter) \
            else False
        if all(_matches(v, dangling, f) for f in args.filter):
            rows.append({"Driver": v.driver, "Name": v.name, "Scope": v.scope,
                         "Mountpoint": v.mountpoint, "CreatedAt": v.created,
                         "Labels": ",".join(f"{k}={x}" for k, x in v.labels.items())})
    if args.quiet:
        for row in rows:
            print(row["Name"])
        return 0
    sys.stdout.write(format_rows(args.format or LS_TABLE, rows, LS_HEADERS))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from pyker.cli.inspect import print_documents

    store, docs, status = _store(Engine()), [], 0
    for name in args.names:
        try:
            docs.append(store.get(name).to_dict())
        except PykerError as err:
            print(f"Error: {err}", file=sys.stderr)
            status = 1
    print_documents(docs, args.format)
    return status


def cmd_rm(args: argparse.Namespace) -> int:
    engine, status = Engine(), 0
    store, users = _store(engine), _users(engine)
    for name in args.names:
        try:
            store.remove(name, users, force=args.force)
            print(name)
        except PykerError as err:
            print(f"Error response from daemon: {err}", file=sys.stderr)
            status = 1
    return status


def cmd_prune(args: argparse.Namespace) -> int:
    if not args.force:
        what = "volumes" if args.all else "anonymous local volumes"
        sys.stdout.write(f"WARNING! This will remove all {what} not used by at least one "
                         "container.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    engine = Engine()
    removed = _store(engine).prune(_users(engine), all_volumes=args.all)
    if removed:
        print("Deleted Volumes:\n" + "\n".join(removed))
    return 0


def parser(name: str) -> Parser:
    p = new_parser("pyker volume", "Manage volumes")
    sub = p.add_subparsers(title="Commands", metavar="COMMAND", required=True,
                           parser_class=Parser)
    c = sub.add_parser("create", help="Create a volume", prog="pyker volume create")
    c.add_argument("name", nargs="?", metavar="VOLUME")
    c.add_argument("--name", dest="name_flag", help=argparse.SUPPRESS)
    c.add_argument("-d", "--driver", default="local")
    c.add_argument("--label", action="append", default=[])
    c.add_argument("-o", "--opt", action="append", default=[])
    c.set_defaults(handler=cmd_create)
    ls = sub.add_parser("ls", aliases=["list"], help="List volumes", prog="pyker volume ls")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("-f", "--filter", action="append", default=[])
    ls.add_argument("--format")
    ls.set_defaults(handler=cmd_ls)
    i = sub.add_parser("inspect", help="Display detailed information on one or more volumes",
                       prog="pyker volume inspect")
    i.add_argument("names", nargs="+", metavar="VOLUME")
    i.add_argument("-f", "--format")
    i.set_defaults(handler=cmd_inspect)
    r = sub.add_parser("rm", aliases=["remove"], help="Remove one or more volumes",
                       prog="pyker volume rm")
    r.add_argument("names", nargs="+", metavar="VOLUME")
    r.add_argument("-f", "--force", action="store_true")
    r.set_defaults(handler=cmd_rm)
    pr = sub.add_parser("prune", help="Remove unused local volumes", prog="pyker volume prune")
    pr.add_argument("-a", "--all", action="store_true")
    pr.add_argument("-f", "--force", action="store_true")
    pr.set_defaults(handler=cmd_prune)
    return p
