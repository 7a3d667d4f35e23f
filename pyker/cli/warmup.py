"""The fork server's warm-up: the commands whose latency matters run a few times in the
server itself, on a throwaway data root, before it serves its first client.

Why. CPython specialises a function's bytecode in place the first times it runs (PEP 659,
3.11+), and pyker fills small caches on first use (compiled regular expressions, parsed
image files). A forked child starts from the server's memory: whatever the server never ran,
every child warms up again, and pays the copy-on-write of each page that warming writes.
Measured on this project's 2-core VM with benchmarks/build_cache.py's Dockerfile: a cached
rebuild took 14-17 ms of Python in a child of a server that had only imported pyker, 9-10 ms
in a child of one that had built the same way once; ``run --rm --network none busybox true``
67 ms against 57.

What runs: ``pyker bootstrap busybox``; ``pyker build`` of a small Dockerfile on it (every
kind of step: metadata, WORKDIR, COPY, RUN), rebuilt from the cache; ``run --rm --network
none`` of it; then read-only commands (``images``, ``ps -a``, ``inspect``, ``history``).
Everything goes to a temporary directory used as data root, run root and daemon
configuration, removed afterwards; the output is discarded. Nothing of the user's store is
read or written; the containers have no network, so nothing of the host's network is touched;
``--rm`` removes their mounts and cgroups. The first failure ends the warm-up and only leaves
the server colder: it is written to the server's log, never raised.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROUNDS = 3  # runs of each command: enough for the interpreter to specialise the hot loops

DOCKERFILE = """\
FROM busybox
ENV APP_HOME=/opt/app
WORKDIR $APP_HOME
COPY app/ ./
RUN true
LABEL org.example.warmup="pyker"
COPY app/etc/app.conf /etc/app.conf
CMD ["true"]
"""

FILES = {"app/bin/hello": "#!/bin/sh\necho hello\n", "app/etc/app.conf": "answer=42\n"}

_ROOT_VARIABLES = ("PYKER_DATA_ROOT", "PYKER_RUN_ROOT", "PYKER_DAEMON_CONFIG")


def warm_up() -> list[str]:
    """Run the warm-up commands; the one that failed and ended it, with its status (empty:
    all ran)."""
    from pyker.cli.main import main
    from pyker.image import parsed
    from pyker.runtime import launch

    failures: list[str] = []
    saved = {name: os.environ.get(name) for name in _ROOT_VARIABLES}
    tmp = Path(tempfile.mkdtemp(prefix="pyker-warmup-"))
    try:
        context = _context(tmp)
        os.environ.update(PYKER_DATA_ROOT=str(tmp / "data"), PYKER_RUN_ROOT=str(tmp / "run"),
                          PYKER_DAEMON_CONFIG=str(tmp / "daemon.json"))
        tag = "pyker-warmup:latest"
        commands = [["bootstrap", "busybox"],
                    *[["build", "-q", "-t", tag, str(context)]] * (1 + ROUNDS),
                    *[["run", "--rm", "--network", "none", tag]] * ROUNDS,
                    ["images"], ["images", "-q"], ["ps", "-a"], ["image", "inspect", tag],
                    ["history", tag]]
        for argv in commands:
            failure = _quietly(main, argv)
            if failure:  # each command needs the ones before: stop at the first failure
                failures.append(f"pyker {' '.join(argv)}: {failure}")
                break
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(tmp, ignore_errors=True)
        parsed.forget()  # the warm-up's image files: nothing a command should find cached
        launch.reap_monitors()  # its runs' monitors: not the server's zombies
    return failures


def _context(tmp: Path) -> Path:
    context = tmp / "context"
    for name, text in FILES.items():
        path = context / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (context / "Dockerfile").write_text(DOCKERFILE)
    return context


def _quietly(main, argv: list[str]) -> str:
    """Run ``main(argv)`` with no input and its output discarded; "" if it exited 0, else
    what went wrong (its status and last line of error, or the exception)."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err), \
                open(os.devnull, "rb") as null:
            stdin, sys.stdin = sys.stdin, io.TextIOWrapper(null)
            try:
                status = main(argv)
            finally:
                sys.stdin = stdin
    except Exception as exc:  # noqa: BLE001 — a warm-up never stops the server
        return f"{type(exc).__name__}: {exc}"
    lines = err.getvalue().strip().splitlines()
    return "" if status == 0 else f"exit {status}" + (f" ({lines[-1]})" if lines else "")
