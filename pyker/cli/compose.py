"""``pyker compose …``: Docker Compose v2's commands, flags and output.

The project is loaded (and checked: a bad file fails here, exit 1, before anything exists)
by :mod:`pyker.compose.loader`; the work is :mod:`pyker.compose.convergence` and
:class:`pyker.compose.project.ComposeProject`. This module parses, picks containers and
prints.
"""

from __future__ import annotations

import argparse
import os
import sys

from pyker.cli.main import Parser, new_parser
from pyker.errors import ComposeError

PS_TABLE = ("table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.CreatedSince}}\t"
            "{{.Status}}\t{{.Ports}}")
PS_HEADERS = {"Name": "NAME", "Image": "IMAGE", "Command": "COMMAND", "Service": "SERVICE",
              "CreatedSince": "CREATED", "Status": "STATUS", "Ports": "PORTS", "ID": "ID",
              "State": "STATE", "Project": "PROJECT", "ExitCode": "EXIT CODE"}
LS_TABLE = "table {{.Name}}\t{{.Status}}\t{{.ConfigFiles}}"
LS_HEADERS = {"Name": "NAME", "Status": "STATUS", "ConfigFiles": "CONFIG FILES"}


def load_project(args: argparse.Namespace, *, need_file: bool = True):
    """The project the global flags name. Without a compose file, commands that only need
    the project's name (``down``, ``ps``, ``logs`` with ``-p``) get an empty model."""
    from pyker.compose import loader, model

    try:
        return loader.load(args.file, project_name=args.project_name,
                           project_directory=args.project_directory,
                           env_files=args.env_file, environ=dict(os.environ),
                           profiles=args.profile, services=_named_services(args))
    except ComposeError as err:
        if need_file or not args.project_name or not str(err).startswith("no configuration"):
            raise
        return model.Project(name=args.project_name, working_dir=os.getcwd(), files=(),
                             services=())


def _named_services(args: argparse.Namespace) -> list[str]:
    """The services a command names: they run whatever their profiles (Compose's rule)."""
    named = getattr(args, "services", None) or getattr(args, "service", None) or []
    return [named] if isinstance(named, str) else list(named)


def _compose(args: argparse.Namespace, *, need_file: bool = True):
    from pyker.compose.project import ComposeProject, Progress

    return ComposeProject(load_project(args, need_file=need_file),
                          progress=Progress(quiet=getattr(args, "quiet_progress", False)))


def _check_services(project, names) -> None:
    known = {svc.name for svc in project.services}
    for name in names:
        if name not in known:
            raise ComposeError(f"no such service: {name}")


def _scale(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise ComposeError(f'invalid --scale value "{item}": want SERVICE=NUM')
        out[name] = int(count)
    return out


# -- up / down -------------------------------------------------------------------------------

def cmd_up(args: argparse.Namespace) -> int:
    from pyker.compose.convergence import UpOptions, up

    if args.detach and (args.abort_on_container_exit or args.exit_code_from):
        raise ComposeError("--abort-on-container-exit and -d cannot be combined")
    if args.force_recreate and args.no_recreate:
        raise ComposeError("--force-recreate and --no-recreate are incompatible")
    cp = _compose(args)
    _check_services(cp.project, args.services)
    if args.exit_code_from:
        _check_services(cp.project, [args.exit_code_from])
    scale = _scale(args.scale)
    _check_services(cp.project, scale)
    records = up(cp, UpOptions(services=tuple(args.services), build=args.build,
                               no_build=args.no_build, force_recreate=args.force_recreate,
                               no_recreate=args.no_recreate, no_start=args.no_start,
                               no_deps=args.no_deps, remove_orphans=args.remove_orphans,
                               scale=scale))
    if args.detach or args.no_start:
        return 0
    from pyker.cli.compose_attach import attach

    return attach(cp, records, abort=args.abort_on_container_exit or bool(args.exit_code_from),
                  exit_code_from=args.exit_code_from, color=False if args.no_color else None,
                  prefix=not args.no_log_prefix, timeout=args.timeout)


def cmd_down(args: argparse.Namespace) -> int:
    from pyker.compose.convergence import DownOptions, down

    if args.rmi not in ("", "local", "all"):
        raise ComposeError(f'invalid --rmi value "{args.rmi}": use local or all')
    down(_compose(args, need_file=False),
         DownOptions(volumes=args.volumes, rmi=args.rmi, remove_orphans=args.remove_orphans,
                     timeout=args.timeout))
    return 0


# -- listing -----------------------------------------------------------------------------------

def cmd_ps(args: argparse.Namespace) -> int:
    from pyker.cli.containers import _ports_column
    from pyker.cli.gotemplate import format_rows
    from pyker.cli.ps import command_text, status_text
    from pyker.cli.humanize import since
    from pyker.compose.project import label

    cp = _compose(args, need_file=False)
    if args.services:
        for svc in cp.project.services:
            print(svc.name)
        return 0
    records = cp.containers(args.service, stopped=args.all, oneoff=None)
    for flt in args.filter:
        key, _, value = flt.partition("=")
        if key != "status":
            raise ComposeError(f'invalid filter "{flt}": only status=… is supported')
        records = [r for r in records if r.state.status == value]
    if args.quiet:
        for r in records:
            print(r.id)
        return 0
    rows = [{"ID": r.id, "Name": r.name, "Image": r.image_ref,
             "Command": command_text(r, args.no_trunc), "Project": cp.project.name,
             "Service": label(r, "com.docker.compose.service"),
             "CreatedSince": since(r.created), "Status": status_text(r),
             "State": r.state.status, "ExitCode": r.state.exit_code,
             "Ports": _ports_column(cp.engine, r)} for r in records]
    sys.stdout.write(format_rows(args.format or PS_TABLE, rows, PS_HEADERS))
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from collections import defaultdict

    from pyker.cli.gotemplate import format_rows
    from pyker.compose.project import RUNNING, label
    from pyker.engine import Engine

    projects: dict[str, list] = defaultdict(list)
    for record in Engine().containers.all():
        name = label(record, "com.docker.compose.project")
        if name:
            projects[name].append(record)
    rows = []
    for name, records in sorted(projects.items()):
        running = sum(r.state.status in RUNNING for r in records)
        if not args.all and not running:
            continue
        states = {}
        for r in records:
            states[r.state.status] = states.get(r.state.status, 0) + 1
        rows.append({"Name": name, "ConfigFiles": label(records[0],
                                                        "com.docker.compose.project.config_files"),
                     "Status": ", ".join(f"{s}({n})" for s, n in sorted(states.items()))})
    if args.quiet:
        for row in rows:
            print(row["Name"])
        return 0
    sys.stdout.write(format_rows(args.format or LS_TABLE, rows, LS_HEADERS))
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from pyker.compose import render

    project = load_project(args)
    if args.services:
        print("\n".join(svc.name for svc in project.services))
        return 0
    if args.volumes:
        print("\n".join(vol.key for vol in project.volumes))
        return 0
    if args.quiet:
        return 0
    doc = render.to_document(project)
    if args.format == "json":
        import json

        print(json.dumps(doc, indent=4))
    else:
        sys.stdout.write(render.dump_yaml(doc))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from pyker.cli.compose_attach import log_sources
    from pyker.compose.logs import Follower, Printer, merged

    cp = _compose(args, need_file=False)
    _check_services(cp.project, args.service) if cp.project.services else None
    if args.tail != "all" and not args.tail.lstrip("-").isdigit():
        raise ComposeError(f'invalid argument "{args.tail}" for "--tail" flag')
    tail = None if args.tail == "all" or int(args.tail) < 0 else int(args.tail)
    records = cp.containers(args.service, oneoff=None)
    sources = log_sources(cp, records, from_end=False)
    printer = Printer([s.name for s in sources], color=False if args.no_color else None,
                      prefix=not args.no_log_prefix, timestamps=args.timestamps)
    merged(sources, printer, tail=tail)
    if args.follow:
        from dataclasses import replace

        # Each log goes on from where its first read stopped: nothing lost, nothing twice.
        going_on = [replace(src, start=src.reader.end()) for src in sources]
        try:
            Follower(going_on, printer).start().run()
        except KeyboardInterrupt:
            return 130
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    cp = _compose(args)
    _check_services(cp.project, args.services)
    for svc in cp.project.services:
        if svc.build is not None and (not args.services or svc.name in args.services):
            cp.build(svc, no_cache=args.no_cache, quiet=args.quiet)
    return 0


def parser(name: str) -> Parser:
    from pyker.cli.compose_flags import add_commands

    p = new_parser("pyker compose", "Define and run multi-container applications")
    p.add_argument("-f", "--file", action="append", default=[], help="Compose configuration files")
    p.add_argument("-p", "--project-name", default=None, help="Project name")
    p.add_argument("--project-directory", default=None,
                   help="Alternate working directory (default: the first file's directory)")
    p.add_argument("--env-file", action="append", default=[], help="Alternate environment files")
    p.add_argument("--profile", action="append", default=[], help="Profiles to enable")
    p.add_argument("--ansi", default="auto", choices=("never", "always", "auto"))
    p.add_argument("--progress", default="auto")
    add_commands(p)
    return p

