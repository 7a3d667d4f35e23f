"""The subcommands of ``pyker compose`` and their flags, as Docker Compose v2 spells them.

A table names each command's handler (module, function) and summary; the handlers are
imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib

from pyker.cli.main import Parser

#: command -> (module under pyker.cli, handler, summary)
COMMANDS = {
    "build": ("compose", "cmd_build", "Build or rebuild services"),
    "config": ("compose", "cmd_config", "Parse, resolve and render compose file in canonical format"),
    "down": ("compose", "cmd_down", "Stop and remove containers, networks"),
    "exec": ("compose_ops", "cmd_exec", "Execute a command in a running container"),
    "images": ("compose_ops", "cmd_images", "List images used by the created containers"),
    "logs": ("compose", "cmd_logs", "View output from containers"),
    "ls": ("compose", "cmd_ls", "List running compose projects"),
    "port": ("compose_ops", "cmd_port", "Print the public port for a port binding"),
    "ps": ("compose", "cmd_ps", "List containers"),
    "restart": ("compose_ops", "cmd_restart", "Restart service containers"),
    "rm": ("compose_ops", "cmd_rm", "Removes stopped service containers"),
    "run": ("compose_ops", "cmd_run", "Run a one-off command on a service"),
    "start": ("compose_ops", "cmd_start", "Start services"),
    "stop": ("compose_ops", "cmd_stop", "Stop services"),
    "top": ("compose_ops", "cmd_top", "Display the running processes"),
    "up": ("compose", "cmd_up", "Create and start containers"),
}


def _handler(module: str, name: str):
    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(f"pyker.cli.{module}"), name)(args)
    return run


def _timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--timeout", type=float, default=None,
                   help="Specify a shutdown timeout in seconds")


def _up(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode")
    p.add_argument("--build", action="store_true", help="Build images before starting")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--force-recreate", action="store_true")
    p.add_argument("--no-recreate", action="store_true")
    p.add_argument("--no-start", action="store_true")
    p.add_argument("--no-deps", action="store_true")
    p.add_argument("--remove-orphans", action="store_true")
    p.add_argument("--abort-on-container-exit", action="store_true")
    p.add_argument("--exit-code-from", default="", metavar="SERVICE")
    p.add_argument("--scale", action="append", default=[], metavar="SERVICE=NUM")
    p.add_argument("--no-color", action="store_true")
    p.add_argument("--no-log-prefix", action="store_true")
    p.add_argument("--wait", action="store_true", help="accepted: -d already waits for "
                   "depends_on conditions")
    p.add_argument("--quiet-pull", action="store_true")
    _timeout(p)


def _down(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--volumes", action="store_true",
                   help="Remove named volumes declared in the volumes section and anonymous "
                        "volumes attached to containers")
    p.add_argument("--rmi", default="", metavar="TYPE", help="local or all")
    p.add_argument("--remove-orphans", action="store_true")
    _timeout(p)


def _ps(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", nargs="*", metavar="SERVICE")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--services", action="store_true")
    p.add_argument("--format")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("--no-trunc", action="store_true")


def _ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format")


def _logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", nargs="*", metavar="SERVICE")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--no-color", action="store_true")
    p.add_argument("--no-log-prefix", action="store_true")


def _build(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--pull", action="store_true", help="accepted (no registry to pull from)")


def _config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--services", action="store_true")
    p.add_argument("--volumes", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format", default="yaml", choices=("yaml", "json"))


def _exec(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("--index", type=int, default=1)


def _run(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--rm", action="store_true")
    p.add_argument("--name", default="")
    p.add_argument("--entrypoint", default=None)
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("--service-ports", action="store_true")
    p.add_argument("--no-deps", action="store_true")
    p.add_argument("--build", action="store_true")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")


def _services_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE")
    _timeout(p)


def _rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-s", "--stop", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true")


def _services(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _port(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("private_port", metavar="PRIVATE_PORT")
    p.add_argument("--protocol", default="tcp", choices=("tcp", "udp"))
    p.add_argument("--index", type=int, default=1)


FLAGS = {"up": _up, "down": _down, "ps": _ps, "ls": _ls, "logs": _logs, "build": _build,
         "config": _config, "exec": _exec, "run": _run, "start": _services,
         "stop": _services_timeout, "restart": _services_timeout, "rm": _rm, "top": _services,
         "port": _port, "images": _services}


def add_commands(p: Parser) -> None:
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, (module, handler, summary) in COMMANDS.items():
        cp = sub.add_parser(name, help=summary, description=summary,
                            prog=f"pyker compose {name}")
        FLAGS[name](cp)
        cp.set_defaults(handler=_handler(module, handler))
