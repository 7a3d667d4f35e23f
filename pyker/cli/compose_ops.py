"""``compose start/stop/restart/rm/exec/run/top/port``: one service's containers at a time.

Each one acts on the containers the labels designate and does what the plain command does
on each (``pyker exec``, ``pyker top``, ``pyker port``…), so their output is the same.
"""

from __future__ import annotations

import argparse
import sys

from pyker.cli.compose import _check_services, _compose
from pyker.compose.project import RUNNING, label
from pyker.errors import ComposeError


def _selected(cp, services, *, oneoff: bool | None = False, stopped: bool = True):
    _check_services(cp.project, services)
    return cp.containers(services, oneoff=oneoff, stopped=stopped)


def cmd_start(args: argparse.Namespace) -> int:
    from pyker.compose import graph

    cp = _compose(args)
    _check_services(cp.project, args.services)
    for name in graph.start_order(cp.project, args.services):
        for record in cp.containers([name]):
            if record.state.status not in RUNNING:
                cp.start(record)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from pyker.compose import graph

    cp = _compose(args, need_file=False)
    order = graph.stop_order(cp.project) if cp.project.services else []
    records = _selected(cp, args.services, oneoff=None)
    rank = {name: i for i, name in enumerate(order)}
    for record in sorted(records, key=lambda r: rank.get(label(r, "com.docker.compose.service"),
                                                         -1)):
        cp.stop(record, timeout=args.timeout)
    return 0


def cmd_restart(args: argparse.Namespace) -> int:
    cp = _compose(args)
    for record in _selected(cp, args.services):
        cp.stop(record, timeout=args.timeout)
        cp.progress.event("Container", record.name, "Restarting")
        cp.start(cp.engine.containers.load(record.id))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    cp = _compose(args, need_file=False)
    records = _selected(cp, args.services)
    if args.stop:
        for record in records:
            cp.stop(record)
        records = [cp.engine.containers.load(r.id) for r in records]
    doomed = [r for r in records if r.state.status not in RUNNING]
    if not doomed:
        print("No stopped containers", file=sys.stderr)
        return 0
    if not args.force and sys.stdin.isatty():
        answer = input(f"Going to remove {', '.join(r.name for r in doomed)}\n"
                       "Are you sure? [yN] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    for record in doomed:
        cp.remove(record, volumes=args.volumes)
    return 0


def _one(cp, service: str, index: int):
    records = [r for r in _selected(cp, [service], stopped=False)
               if label(r, "com.docker.compose.container-number") == str(index)]
    if not records:
        raise ComposeError(f"service \"{service}\" is not running")
    return records[0]


def cmd_exec(args: argparse.Namespace) -> int:
    from pyker.cli.execute import relay
    from pyker.runtime.execute import ExecRequest, exec_in

    if not args.command:
        raise ComposeError('"compose exec" requires a service and a command')
    cp = _compose(args)
    record = _one(cp, args.service, args.index)
    tty = not args.no_tty and sys.stdin.isatty()  # Compose: a tty unless -T or no terminal
    req = ExecRequest(args=tuple(args.command), env=tuple(args.env), user=args.user or "",
                      workdir=args.workdir or "", interactive=not args.detach, tty=tty,
                      detach=args.detach)
    running = exec_in(cp.engine.containers, record, req)
    return 0 if running is None else relay(running, interactive=req.interactive, tty=tty)


def cmd_run(args: argparse.Namespace) -> int:
    import secrets

    from pyker.compose.convergence import UpOptions, up
    from pyker.compose.project import ComposeProject, Progress
    from pyker.runtime.launch import Attach, start

    cp = _compose(args)
    _check_services(cp.project, [args.service])
    svc = cp.project.service(args.service)
    deps = tuple(d.service for d in svc.depends_on)
    if deps and not args.no_deps:
        up(cp, UpOptions(services=deps))
    cp.ensure_networks(cp.networks_of([svc.name]))
    cp.ensure_volumes(cp.volumes_of([svc.name]))
    image = cp.image_for(svc, build=args.build)
    tty = not args.no_tty and sys.stdin.isatty()
    overrides = {
        "name": args.name or f"{cp.project.name}-{svc.name}-run-{secrets.token_hex(6)}",
        "auto_remove": args.rm, "detach": args.detach, "tty": tty,
        "interactive": not args.detach, "restart": "no",
        "publish": tuple(args.publish) if not args.service_ports else
        tuple(p.publish_flag() for p in svc.ports)}
    if args.command:
        overrides["command"] = tuple(args.command)
    if args.entrypoint is not None:
        overrides["entrypoint"] = (args.entrypoint,) if args.entrypoint else ()
    if args.env:
        overrides["env"] = (*(f"{k}={v}" for k, v in svc.environment), *args.env)
    if args.user:
        overrides["user"] = args.user
    if args.workdir:
        overrides["workdir"] = args.workdir
    # No progress lines for the one-off container itself: only the command's output.
    quiet = ComposeProject(cp.project, cp.engine, Progress(quiet=True))
    record = quiet.create(svc, 1, image, oneoff=True, overrides=overrides)
    code = start(cp.engine.images, cp.engine.containers, record,
                 attach=Attach(foreground=not args.detach, interactive=not args.detach),
                 remove=args.rm, run_root=cp.engine.config.run_root)
    if args.detach:
        print(record.name)
    return code


def cmd_top(args: argparse.Namespace) -> int:
    from pyker.cli.main import command_parser

    cp = _compose(args, need_file=False)
    for record in _selected(cp, args.services, stopped=False):
        print(record.name)
        top = command_parser("top").parse_args([record.id])
        top.handler(top)
        print()
    return 0


def cmd_port(args: argparse.Namespace) -> int:
    from pyker.cli.main import command_parser

    cp = _compose(args)
    record = _one(cp, args.service, args.index)
    port = command_parser("port").parse_args([record.id, f"{args.private_port}/{args.protocol}"])
    return port.handler(port)


def cmd_images(args: argparse.Namespace) -> int:
    cp = _compose(args, need_file=False)
    seen = set()
    print(f"{'CONTAINER':<24}{'REPOSITORY':<28}{'TAG':<10}{'IMAGE ID':<14}")
    for record in cp.containers(args.services):
        ref = record.image_ref
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        key = (record.name, ref)
        if key in seen:
            continue
        seen.add(key)
        image_id = record.image_id.removeprefix("sha256:")[:12]
        print(f"{record.name:<24}{repo:<28}{tag:<10}{image_id:<14}")
    return 0

