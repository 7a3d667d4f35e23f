"""``pyker events``: the engine's events, replayed from the journal and streamed live.

As ``docker events``: without ``--since``/``--until`` only what happens from now on, until
Ctrl-C (exit 130, as the Docker CLI exits on SIGINT); ``--since`` replays the journal from
then and goes on live; ``--until`` stops at that time (at once if it has passed). One line
per event, Docker's::

    2026-11-28T05:00:00.123456789Z container die 4f…e2 (exitCode=0, image=busybox, name=web)

or ``--format`` (a Go template on Docker's ``events.Message``; ``json`` is ``{{json .}}``).
"""

from __future__ import annotations

import argparse
import sys

from pyker.cli.main import Parser, new_parser
from pyker.errors import UsageError


def _printer(fmt: str | None):
    """A function from an event to its output line; a bad template fails before any event,
    as Docker's CLI runs it on an empty message first."""
    from pyker.events.message import Message, pretty

    if not fmt:
        return lambda event: pretty(event) + "\n"
    from pyker.cli.gotemplate import format_rows

    format_rows(fmt, [Message()])
    return lambda event: format_rows(fmt, [Message(event)])


def _bounds(args: argparse.Namespace) -> tuple[int | None, int | None]:
    from pyker.events import timestamps

    since = timestamps.parse(args.since, "--since") if args.since else None
    until = timestamps.parse(args.until, "--until") if args.until else None
    if since is not None and until is not None and until < since:
        raise UsageError(f"since time ({args.since}) cannot be after until time ({args.until})")
    return since, until


def cmd_events(args: argparse.Namespace) -> int:
    from pyker import config
    from pyker.events import Journal
    from pyker.events.filters import Filters

    filters = Filters.parse(args.filter)
    since, until = _bounds(args)
    show = _printer(args.format)
    journal = Journal.of(config.load().data_root)
    out = sys.stdout
    for event in journal.stream(since=since, until=until):
        if filters.match(event):
            out.write(show(event))
            out.flush()  # a stream: each event as it comes, to a pipe too
    return 0


def parser(name: str) -> Parser:
    p = new_parser("pyker events", "Get real time events from the server")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format output using a custom template: 'json' or a Go "
                                    "template")
    p.add_argument("--since", help="Show all events created since timestamp")
    p.add_argument("--until", help="Stream events until this timestamp")
    p.set_defaults(handler=cmd_events)
    return p
