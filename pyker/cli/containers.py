"""Container commands: ``run``, ``create``, ``start``, ``stop``, ``kill``, ``rm``, ``ps``,
``logs``, ``wait`` (``pyker container …`` reaches them too)."""

from __future__ import annotations

import argparse
import os
import sys

from pyker.cli.main import Parser
from pyker.engine import Engine
from pyker.errors import PykerError, UsageError

PS_TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedSince}}\t{{.Status}}\t"
            "{{.Ports}}\t{{.Names}}")
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
              "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Status": "STATUS",
              "Ports": "PORTS", "Names": "NAMES", "State": "STATE", "Labels": "LABELS",
              "Size": "SIZE", "RunningFor": "CREATED"}


def _create(engine: Engine, args: argparse.Namespace):
    from pyker.cli.run_flags import run_options
    from pyker.runtime.container import create

    opts = run_options(args)
    image = _image(engine, opts.image, args.pull)
    if args.cidfile and os.path.exists(args.cidfile):
        raise UsageError(f"container ID file found, make sure the other container isn't "
                         f"running or delete {args.cidfile}")
    record = create(engine.containers, image, opts)
    if args.cidfile:
        with open(args.cidfile, "x") as f:
            f.write(record.id)
    return record


def _image(engine: Engine, text: str, policy: str):
    """The store's image, or Docker's pull for ``--pull`` (the registry code is loaded
    only when the store does not answer, or when asked to always pull)."""
    from pyker.errors import ImageNotFound

    if policy == "missing":
        try:
            return engine.images.resolve(text)
        except ImageNotFound:
            pass
    from pyker.cli.registry import image_for_run

    return image_for_run(engine, text, policy)


def cmd_run(args: argparse.Namespace) -> int:
    from pyker.runtime.launch import Attach, start

    engine = Engine()
    record = _create(engine, args)
    front = None
    if not args.detach and not args.tty:
        from pyker.cli.forkchild import client_front

        front = client_front()  # served by a fork server: this process is the monitor
    attach = Attach(foreground=not args.detach, interactive=args.interactive, front=front)
    try:
        code = start(engine.images, engine.containers, record, attach=attach, remove=args.rm,
                     run_root=engine.config.run_root)
    except PykerError:
        if args.rm:  # the container never ran: --rm still means it does not stay
            from pyker.runtime.container import remove

            remove(engine.containers, engine.containers.load(record.id), force=True,
                   volumes=True)
        raise
    if args.detach:
        print(record.id)
    return code


def cmd_create(args: argparse.Namespace) -> int:
    print(_create(Engine(), args).id)
    return 0


def _each(names: list[str], action) -> int:
    """Docker's multi-container commands: go on after a failure, exit 1 if any failed."""
    status = 0
    for name in names:
        try:
            action(name)
        except PykerError as err:
            print(f"pyker: {err}", file=sys.stderr)
            status = 1
    return status


def cmd_start(args: argparse.Namespace) -> int:
    from pyker.runtime.launch import Attach, start

    engine = Engine()
    if args.attach:
        if len(args.containers) != 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        record = engine.containers.resolve(args.containers[0])
        return start(engine.images, engine.containers, record,
                     attach=Attach(foreground=True, interactive=args.interactive),
                     remove=bool(record.options.get("auto_remove")),
                     run_root=engine.config.run_root)

    def one(name: str) -> None:
        record = engine.containers.resolve(name)
        if record.state.status not in ("running", "paused", "restarting"):
            start(engine.images, engine.containers, record,
                  attach=Attach(foreground=False, interactive=False),
                  remove=bool(record.options.get("auto_remove")),
                  run_root=engine.config.run_root)
        print(name)
    return _each(args.containers, one)


def _stop_flags(args: argparse.Namespace) -> dict[str, object]:
    """-t and -s when given; else each container's own (--stop-timeout, --stop-signal or
    the image's STOPSIGNAL)."""
    from pyker.runtime.options import signal_number

    return {"timeout": args.time,
            "stop_signal": signal_number(args.signal) if args.signal else None}


def cmd_stop(args: argparse.Namespace) -> int:
    from pyker.runtime.container import stop

    engine = Engine()
    flags = _stop_flags(args)

    def one(name: str) -> None:
        stop(engine.containers, engine.containers.resolve(name), **flags)
        print(name)
    return _each(args.containers, one)


def cmd_restart(args: argparse.Namespace) -> int:
    """Docker's restart: stop (grace period, then SIGKILL) and start again, detached."""
    from pyker.runtime.container import stop
    from pyker.runtime.launch import Attach, start

    engine = Engine()
    flags = _stop_flags(args)

    def one(name: str) -> None:
        record = stop(engine.containers, engine.containers.resolve(name), restarting=True,
                      **flags)
        start(engine.images, engine.containers, engine.containers.load(record.id),
              attach=Attach(foreground=False, interactive=False),
              remove=bool(record.options.get("auto_remove")), run_root=engine.config.run_root)
        from pyker import events

        events.container(engine.data_root, "restart", record)  # after its die/start pair
        print(name)
    return _each(args.containers, one)


def cmd_kill(args: argparse.Namespace) -> int:
    from pyker.runtime.container import kill

    from pyker.runtime.options import signal_number

    engine = Engine()
    sig = signal_number(args.signal)

    def one(name: str) -> None:
        kill(engine.containers, engine.containers.resolve(name), sig)
        print(name)
    return _each(args.containers, one)


def cmd_rm(args: argparse.Namespace) -> int:
    from pyker.runtime.container import remove

    engine = Engine()

    def one(name: str) -> None:
        remove(engine.containers, engine.containers.resolve(name), force=args.force,
               volumes=args.volumes)
        print(name)
    return _each(args.containers, one)


def cmd_wait(args: argparse.Namespace) -> int:
    from pyker.runtime.container import wait_stopped

    engine = Engine()

    def one(name: str) -> None:
        record = engine.containers.resolve(name)
        print(wait_stopped(engine.containers, record.id, None).state.exit_code)
    return _each(args.containers, one)


def _ports_column(engine: Engine, record) -> str:
    """``ps``'s PORTS: what the container's last start published (docker/cli's format)."""
    from pyker.runtime.network_bridge import settings

    state = settings(engine.containers.dir(record.id))
    if not state or not state.get("ports") or record.state.status not in ("running", "paused"):
        return ""
    from pyker.network.ports import PortBinding
    from pyker.network.ports_display import format_ps_ports, inspect_ports

    return format_ps_ports(inspect_ports(
        PortBinding(host_ip=p["host_ip"], host_port=p["host_port"],
                    container_port=p["container_port"], proto=p["proto"])
        for p in state["ports"]))


def cmd_ps(args: argparse.Namespace) -> int:
    from pyker.cli.gotemplate import format_rows
    from pyker.cli.ps import rows

    engine = Engine()
    records = list(engine.containers.all())
    table = rows(records, show_all=args.all or args.last is not None or args.latest,
                 no_trunc=args.no_trunc, filters=args.filter,
                 ports=lambda r: _ports_column(engine, r))
    if args.latest:
        table = table[:1]
    elif args.last is not None:
        table = table[:args.last]
    if args.quiet:
        out = "".join(f"{r['ID']}\n" for r in table)
    else:
        out = format_rows(args.format or PS_TABLE, table, PS_HEADERS)
    sys.stdout.write(out)
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from pyker.runtime.attach import client

    engine = Engine()
    record = engine.containers.resolve(args.container)
    if record.state.status not in ("running", "paused", "restarting"):
        raise PykerError("You cannot attach to a stopped container, start it first")
    detached = client(engine.config.run_root / record.id / "attach.sock",
                      stdin=not args.no_stdin and bool(record.options.get("interactive")),
                      tty=bool(record.options.get("tty")))
    if detached:
        return 0
    from pyker.runtime.container import wait_stopped

    return wait_stopped(engine.containers, record.id, 10).state.exit_code


def cmd_logs(args: argparse.Namespace) -> int:
    from pyker.cli.ps import print_logs

    engine = Engine()
    return print_logs(engine.containers, engine.containers.resolve(args.container),
                      follow=args.follow, tail=args.tail, timestamps=args.timestamps,
                      since=args.since)


def _add_names(p: Parser, handler) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.set_defaults(handler=handler)


def add(name: str, p: Parser) -> None:
    from pyker.cli.run_flags import add_run_flags

    if name in ("run", "create"):
        add_run_flags(p)
        p.set_defaults(handler=cmd_run if name == "run" else cmd_create)
    elif name == "start":
        p.add_argument("-a", "--attach", action="store_true")
        p.add_argument("-i", "--interactive", action="store_true")
        _add_names(p, cmd_start)
    elif name in ("stop", "restart"):
        p.add_argument("-t", "--time", "--timeout", type=int, default=None,
                       help="seconds to wait before killing (default: the container's, 10)")
        p.add_argument("-s", "--signal", default="",
                       help="signal to send first (default: the container's, SIGTERM)")
        _add_names(p, cmd_stop if name == "stop" else cmd_restart)
    elif name == "kill":
        p.add_argument("-s", "--signal", default="KILL")
        _add_names(p, cmd_kill)
    elif name in ("rm",):
        p.add_argument("-f", "--force", action="store_true")
        p.add_argument("-v", "--volumes", action="store_true")
        _add_names(p, cmd_rm)
    elif name == "inspect":
        from pyker.cli.inspect import add_inspect

        add_inspect(p, "container")
    elif name == "wait":
        _add_names(p, cmd_wait)
    elif name in ("ps", "ls"):
        p.add_argument("-a", "--all", action="store_true")
        p.add_argument("-q", "--quiet", action="store_true")
        p.add_argument("-l", "--latest", action="store_true")
        p.add_argument("-n", "--last", type=int)
        p.add_argument("--no-trunc", action="store_true")
        p.add_argument("-f", "--filter", action="append", default=[])
        p.add_argument("--format")
        p.set_defaults(handler=cmd_ps)
    elif name == "attach":
        p.add_argument("container")
        p.add_argument("--no-stdin", action="store_true")
        p.add_argument("--sig-proxy", default="true")
        p.set_defaults(handler=cmd_attach)
    elif name == "logs":
        p.add_argument("container")
        p.add_argument("-f", "--follow", action="store_true")
        p.add_argument("-n", "--tail", default="all")
        p.add_argument("-t", "--timestamps", action="store_true")
        p.add_argument("--since", default="")
        p.set_defaults(handler=cmd_logs)


def parser(name: str) -> Parser:
    """``pyker NAME`` for a command of this module, or the ``pyker container`` group, whose
    subcommands may live in other modules (main.CONTAINER_GROUP says which)."""
    if name != "container":
        p = Parser(prog=f"pyker {name}", allow_abbrev=False, add_help=name not in ("run", "create"))
        add(name, p)
        return p
    import importlib

    from pyker.cli.main import CONTAINER_GROUP

    p = Parser(prog="pyker container", allow_abbrev=False)
    sub = p.add_subparsers(title="Commands", metavar="COMMAND", required=True, parser_class=Parser)
    for cmd, module in CONTAINER_GROUP.items():
        owner = importlib.import_module(f"pyker.cli.{module}")
        owner.add(cmd, sub.add_parser(cmd, prog=f"pyker container {cmd}",
                                      add_help=cmd not in ("run", "create")))
    return p
