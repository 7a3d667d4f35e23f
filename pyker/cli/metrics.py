"""``pyker metrics …``: the engine's and containers' metrics for Prometheus.

``serve`` answers ``GET /metrics`` on 127.0.0.1:9323 (Docker's ``metrics-addr`` port) until
stopped; ``show`` prints one scrape, to read the same numbers without a server.
"""

from __future__ import annotations

import argparse
import sys

from pyker.cli.main import Parser, new_parser


def cmd_serve(args: argparse.Namespace) -> int:
    from pyker.engine import Engine
    from pyker.metrics.server import DEFAULT_LISTEN, serve

    serve(Engine(), args.listen or DEFAULT_LISTEN, explicit=args.listen is not None,
          verbose=args.verbose)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from pyker.metrics import render

    sys.stdout.write(render())
    return 0


def parser(name: str) -> Parser:
    p = new_parser("pyker metrics", "Expose container and engine metrics for Prometheus")
    sub = p.add_subparsers(title="Commands", metavar="COMMAND", required=True,
                           parser_class=Parser)
    s = sub.add_parser("serve", help="Serve the metrics over HTTP for Prometheus to scrape",
                       prog="pyker metrics serve")
    s.add_argument("--listen", metavar="IP:PORT",
                   help="address to listen on (default 127.0.0.1:9323; port 0: any free "
                        "port); a non-loopback address is served with a warning")
    s.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    s.set_defaults(handler=cmd_serve)
    show = sub.add_parser("show", help="Print the metrics once, as a scrape would see them",
                          prog="pyker metrics show")
    show.set_defaults(handler=cmd_show)
    return p
