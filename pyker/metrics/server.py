"""``pyker metrics serve``: the scrape endpoint a Prometheus server polls.

Docker serves its metrics when ``metrics-addr`` is set, on port 9323 by convention; pyker
listens there too, on loopback by default. Each ``GET /metrics`` reads everything anew
(:func:`pyker.metrics.collect.collect`): the server holds no state, so what Prometheus
stores is exactly what the kernel counted at the scrape. A non-loopback address is served
only when asked for explicitly, with a warning: the endpoint has no authentication, and the
metrics name every container and image of the host.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pyker.errors import UsageError
from pyker.metrics.exposition import CONTENT_TYPE

DEFAULT_LISTEN = "127.0.0.1:9323"

INDEX = b"""<html><head><title>pyker metrics</title></head><body>
<h1>pyker metrics</h1><p><a href="/metrics">Metrics</a></p></body></html>
"""


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9323`` for IPv6) as ``(host, port)``; port 0 picks a free one.

    Raises:
        UsageError: no port, a port out of range, or a host that is not an IP address.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f'invalid --listen "{text}": want IP:PORT, like {DEFAULT_LISTEN}')
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f'invalid --listen "{text}": "{host}" is not an IP address') from None
    return host, int(port)


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "pyker-metrics"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                body = self.server.render().encode()
            except Exception as err:  # a scrape error is the scraper's to see, not a crash
                self._send(500, "text/plain; charset=utf-8",
                           f"error collecting metrics: {err}\n".encode())
                return
            self._send(200, CONTENT_TYPE, body)
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", INDEX)
        else:
            self._send(404, "text/plain; charset=utf-8", b"404 page not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class MetricsServer(ThreadingHTTPServer):
    """An HTTP server answering ``/metrics`` with the scrape of ``engine``."""

    daemon_threads = True

    def __init__(self, engine, host: str, port: int, *, verbose: bool = False) -> None:
        self.engine = engine
        self.verbose = verbose
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)

    def render(self) -> str:
        from pyker.metrics.collect import collect

        return collect(self.engine).render()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/metrics"


def serve(engine, listen: str = DEFAULT_LISTEN, *, explicit: bool = False,
          verbose: bool = False) -> None:
    """Serve until SIGINT/SIGTERM; the URL is printed once the socket is bound.

    Raises:
        UsageError: a bad address, or a non-loopback one that was not ``explicit``.
        OSError: the address cannot be bound (in use, not on this host).
    """
    import signal

    host, port = parse_listen(listen)
    if not is_loopback(host) and not explicit:
        raise UsageError(f"refusing to serve metrics on {listen}, which is not a loopback "
                         "address, unless --listen says so")
    try:
        server = MetricsServer(engine, host, port, verbose=verbose)
    except OSError as err:  # in use, or an address of no interface here: say which
        raise OSError(err.errno, f"listen tcp {listen}: bind: {err.strerror}") from err
    if not is_loopback(host):
        print(f"WARNING: serving metrics on {listen} without authentication: whoever reaches "
              "it reads the names and usage of every container", file=sys.stderr)

    def stop(signum, frame):  # SIGTERM ends it like ^C: the socket is closed on the way out
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"Serving metrics on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
