"""The ``pyker`` command: Docker's command names, flags, output and exit codes.

Start-up stays lean: this module imports nothing of the engine. The command table names the
module that owns each command; only that module is imported, once the command is known.
Errors are translated here, at one boundary: a :class:`PykerError` or an ``OSError`` becomes
one line ``pyker: <message>`` on stderr and Docker's exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# command -> (module under pyker.cli, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "attach": ("containers", "Attach to a running container's input and output"),
    "commit": ("fscmds", "Create a new image from a container's changes"),
    "container": ("containers", "Manage containers"),
    "cp": ("fscmds", "Copy files/folders between a container and the local filesystem"),
    "create": ("containers", "Create a new container"),
    "diff": ("fscmds", "Inspect changes to files or directories on a container's filesystem"),
    "kill": ("containers", "Kill one or more running containers"),
    "logs": ("containers", "Fetch the logs of a container"),
    "ps": ("containers", "List containers"),
    "rename": ("fscmds", "Rename a container"),
    "restart": ("containers", "Restart one or more containers"),
    "rm": ("containers", "Remove one or more containers"),
    "run": ("containers", "Create and run a new container from an image"),
    "start": ("containers", "Start one or more stopped containers"),
    "stop": ("containers", "Stop one or more running containers"),
    "wait": ("containers", "Block until one or more containers stop, then print their exit codes"),
    "exec": ("execute", "Execute a command in a running container"),
    "pause": ("execute", "Pause all processes within one or more containers"),
    "stats": ("execute", "Display a live stream of container(s) resource usage statistics"),
    "top": ("execute", "Display the running processes of a container"),
    "unpause": ("execute", "Unpause all processes within one or more containers"),
    "update": ("execute", "Update configuration of one or more containers"),
    "build": ("build", "Build an image from a Dockerfile"),
    "builder": ("build", "Manage builds"),
    "bootstrap": ("system", "Build a base image (busybox, debian) from the host's packages"),
    "history": ("images", "Show the history of an image"),
    "image": ("images", "Manage images"),
    "images": ("images", "List images"),
    "import": ("images", "Import the contents from a tarball to create a filesystem image"),
    "inspect": ("images", "Return low-level information on Docker objects"),
    "load": ("images", "Load an image from a tar archive or STDIN"),
    "rmi": ("images", "Remove one or more images"),
    "save": ("images", "Save one or more images to a tar archive (streamed to STDOUT by default)"),
    "system": ("system", "Manage pyker"),
    "network": ("network", "Manage networks"),
    "port": ("network", "List port mappings or a specific mapping for the container"),
    "tag": ("images", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "info": ("system", "Display system-wide information"),
    "version": ("system", "Show the pyker version information"),
    "volume": ("volume", "Manage volumes"),
    "metrics": ("metrics", "Expose container and engine metrics for Prometheus"),
    "login": ("registry", "Log in to a registry"),
    "logout": ("registry", "Log out from a registry"),
    "pull": ("registry", "Download an image from a registry"),
    "push": ("registry", "Upload an image to a registry"),
    "compose": ("compose", "Define and run multi-container applications"),
    "events": ("events", "Get real time events from the server"),
}

# `pyker container <cmd>` -> the module under pyker.cli that owns <cmd> (its add(name, parser))
CONTAINER_GROUP: dict[str, str] = {
    "diff": "fscmds", "commit": "fscmds", "cp": "fscmds", "rename": "fscmds", "prune": "fscmds",
    "run": "containers", "create": "containers", "start": "containers", "stop": "containers",
    "kill": "containers", "restart": "containers", "rm": "containers", "ls": "containers",
    "ps": "containers", "exec": "execute", "top": "execute", "pause": "execute",
    "unpause": "execute", "stats": "execute", "update": "execute", "logs": "containers",
    "wait": "containers", "inspect": "containers", "attach": "containers",
    "port": "network",
}

EXIT_ENGINE = 125


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors follow Docker: one line, a pointer to --help, exit 125."""

    def error(self, message: str) -> None:  # type: ignore[override]
        from pyker.errors import UsageError

        raise UsageError(f"{message}\nSee '{self.prog} --help'.")


Handler = Callable[[argparse.Namespace], int]


def flag_bool(flag: str):
    """An argparse type for Docker's boolean flag values (``-H=false``, ``--pause true``)."""
    def parse(text: str) -> bool:
        from pyker.errors import UsageError

        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: want true or false')
    return parse


def new_parser(prog: str, description: str) -> Parser:
    return Parser(prog=prog, description=description, allow_abbrev=False)


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["Usage:  pyker [OPTIONS] COMMAND", "",
             "A container engine in Python, for teaching", "", "Commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in sorted(COMMANDS.items())]
    lines += ["", "Run 'pyker COMMAND --help' for more information on a command."]
    return "\n".join(lines)


def _report(message: str) -> None:
    print(f"pyker: {message}", file=sys.stderr)


_PARSERS: dict[str, Parser] = {}


def command_parser(name: str) -> Parser:
    """The parser of command ``name``, built once per process: building ``run``'s ~80 flags
    costs more than parsing them, and the fork server builds them all before it forks."""
    if name not in _PARSERS:
        module = importlib.import_module(f"pyker.cli.{COMMANDS[name][0]}")
        _PARSERS[name] = module.parser(name)
    return _PARSERS[name]


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-v", "--version"):
        from pyker import __version__

        print(f"pyker version {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        _report(f"'{name}' is not a pyker command.\nSee 'pyker --help'")
        return 1
    args = command_parser(name).parse_args(argv[1:])
    handler: Handler = args.handler
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI; ``argv`` None means the program itself (console script, ``python -m pyker``).

    As the program, it ends with ``os._exit`` once its output is flushed: tearing down the
    interpreter (module dicts, a full collection) costs ~30-40 ms and frees nothing the
    kernel would not. It also raises the collector's first threshold: start-up builds tens of
    thousands of objects (dataclasses, enums) and creates almost no cycles, so the default
    700 triggers dozens of useless collections. Called with ``argv`` (tests, the notebooks),
    it returns normally and leaves the collector alone.
    """
    if argv is not None:
        return _main(argv)
    import gc

    gc.set_threshold(50_000, 20, 20)
    code = _main(None)
    _exit_now(code)
    return code  # not reached


# Called with the exit status once output is flushed, just before os._exit (see on_exit).
_exit_hooks: list[Callable[[int], None]] = []


def on_exit(hook: Callable[[int], None]) -> None:
    """Have ``hook(status)`` called when the program ends through :func:`main`, its output
    flushed; the fork server's child reports its status to the waiting client this way."""
    _exit_hooks.append(hook)


def _exit_now(code: int) -> None:
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`pyker ps | head -1`) or stream
            pass
    for hook in _exit_hooks:
        hook(code)
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    from pyker.errors import PykerError

    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except PykerError as err:
        _report(str(err))
        return err.exit_code
    except BrokenPipeError:
        # `pyker images | head -1`: the reader left, which is not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not complain either.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:
        # The kernel's own answer, with the file it was about: "pyker: open /x: Permission denied"
        where = f"{err.filename}: " if err.filename else ""
        _report(f"{where}{err.strerror or err}")
        return EXIT_ENGINE
    except KeyboardInterrupt:
        return 130
