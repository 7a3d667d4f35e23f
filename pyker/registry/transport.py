"""HTTP to one registry: which scheme to use, authentication, redirects, errors.

**Scheme.** As Docker: a registry is reached over verified HTTPS unless it is *insecure*,
that is listed in daemon.json's ``insecure-registries`` (``host:port`` or a CIDR holding its
address) or on loopback (127.0.0.0/8, ::1, ``localhost``). An insecure registry is tried over
HTTPS without checking its certificate, then over plain HTTP. A CA for a private registry
can be put in ``/etc/pyker/certs.d/<host:port>/ca.crt`` (Docker's ``certs.d`` layout).

**Auth.** The first request is ``GET /v2/`` (the *ping*): 200 means no auth, 401 brings the
challenge (:mod:`.challenge`). Basic sends the stored credentials with every request; Bearer
trades them (or nothing) at the token server for a token per scope, cached for the life of
the transport and fetched again once when a 401 says it no longer fits.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pyker.errors import RegistryError, RegistryUnauthorized
from pyker.registry import challenge
from pyker.registry.credentials import Credentials
from pyker.image.reference import DEFAULT_DOMAIN

HUB_HOST = "registry-1.docker.io"
CERTS_DIR = Path("/etc/pyker/certs.d")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
BLOCK = 1 << 16


def _host_only(netloc: str) -> str:
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def is_insecure(registry: str, insecure: Iterable[str]) -> bool:
    """Docker's rule for plain HTTP: listed by name or CIDR, or on loopback."""
    listed = list(insecure)
    if registry in listed:
        return True
    host = _host_only(registry)
    if host == "localhost":
        return True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        networks = [n for n in listed if "/" in n]
        if not networks:
            return False
        try:  # a name is looked up only when a CIDR could hold it
            addresses = [ipaddress.ip_address(a[4][0]) for a in socket.getaddrinfo(host, None)]
        except (socket.gaierror, ValueError):
            return False
    for addr in addresses:
        if addr.is_loopback:
            return True
        for net in listed:
            try:
                if "/" in net and addr in ipaddress.ip_network(net, strict=False):
                    return True
            except ValueError:
                continue
    return False


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str  # "https" or "http"
    netloc: str  # host[:port]
    verify: bool = True

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}"


class Response:
    """An answer whose body is read (or streamed) by the caller, then closed."""

    def __init__(self, raw: http.client.HTTPResponse, url: str) -> None:
        self.raw, self.url, self.status = raw, url, raw.status

    def header(self, name: str) -> str | None:
        return self.raw.getheader(name)

    def read(self, n: int = -1) -> bytes:
        return self.raw.read() if n < 0 else self.raw.read(n)

    def close(self) -> None:
        self.raw.read()  # drained, the connection can carry the next request
        self.raw.close()


def _error_detail(body: bytes) -> tuple[str, str]:
    """(code, "message") of a distribution API error body, ("", text) otherwise."""
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return str(first.get("code", "")), str(first.get("message", "")).strip()
    except (ValueError, AttributeError, IndexError, TypeError):
        return "", body.decode(errors="replace").strip()[:200]


class Transport:
    def __init__(self, registry: str, *, insecure_registries: Iterable[str] = (),
                 credentials: Credentials | None = None, timeout: float = 60.0,
                 certs_dir: Path = CERTS_DIR) -> None:
        self.registry = registry
        self.netloc = HUB_HOST if registry == DEFAULT_DOMAIN else registry
        self.insecure = is_insecure(self.netloc, insecure_registries)
        self.credentials = credentials
        self.timeout = timeout
        self.certs_dir = certs_dir
        self.endpoint: Endpoint | None = None
        self.challenge: challenge.Challenge | None = None
        self._tokens: dict[tuple[str, ...], str] = {}
        self._conns: dict[tuple[str, str, bool], http.client.HTTPConnection] = {}

    # -- connections --------------------------------------------------------------------------

    def _ssl_context(self, netloc: str, verify: bool) -> ssl.SSLContext:
        if not verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        ca = self.certs_dir / netloc / "ca.crt"
        return ssl.create_default_context(cafile=str(ca) if ca.is_file() else None)

    def _conn(self, scheme: str, netloc: str, verify: bool) -> http.client.HTTPConnection:
        key = (scheme, netloc, verify)
        conn = self._conns.get(key)
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout, blocksize=BLOCK,
                                                   context=self._ssl_context(netloc, verify))
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout, blocksize=BLOCK)
            self._conns[key] = conn
        return conn

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def _send(self, method: str, url: str, headers: dict[str, str],
              body: bytes | BinaryIO | None, verify: bool) -> Response:
        """One request on a kept-alive connection; a connection the server closed while idle
        is opened again once, if the body can be sent again."""
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": _user_agent(), **headers}
        start = body.tell() if hasattr(body, "tell") else None
        replayable = body is None or isinstance(body, bytes) or start is not None
        for attempt in (1, 2):
            conn = self._conn(parts.scheme, parts.netloc, verify)
            try:
                conn.request(method, target, body=body, headers=headers)
                return Response(conn.getresponse(), url)
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as err:
                conn.close()
                if attempt == 2 or not replayable:
                    raise RegistryError(f'{method} "{url}": {err}',
                                        registry=self.registry) from err
                if start is not None:
                    body.seek(start)  # type: ignore[union-attr]  # a file: from its start
            except (OSError, http.client.HTTPException):
                conn.close()  # the next request opens a fresh connection
                raise
        raise AssertionError("not reached")

    # -- the ping -----------------------------------------------------------------------------

    def _candidates(self) -> list[Endpoint]:
        if not self.insecure:
            return [Endpoint("https", self.netloc)]
        return [Endpoint("https", self.netloc, verify=False), Endpoint("http", self.netloc)]

    def ping(self) -> Endpoint:
        """Find the scheme the registry speaks and the challenge it sets (once)."""
        if self.endpoint is not None:
            return self.endpoint
        last: Exception | None = None
        for endpoint in self._candidates():
            url = f"{endpoint.base}/v2/"
            try:
                resp = self._send("GET", url, {}, None, endpoint.verify)
            except (OSError, http.client.HTTPException) as err:
                last = err
                continue
            body = resp.read()
            resp.close()
            if resp.status == 401:
                found = challenge.parse_all(resp.raw.headers.get_all("WWW-Authenticate") or [])
                self.challenge = next((c for c in found if c.scheme == "bearer"),
                                      found[0] if found else None)
            elif resp.status != 200:
                code, message = _error_detail(body)
                raise RegistryError(f'GET "{url}": status {resp.status}: '
                                    f'{message or "not a registry (distribution API v2)"}',
                                    registry=self.registry, status=resp.status, code=code)
            self.endpoint = endpoint
            return endpoint
        reason = getattr(last, "strerror", None) or str(last)
        raise RegistryError(f'Get "{self._candidates()[-1].base}/v2/": {reason}',
                            registry=self.registry)

    # -- auth ---------------------------------------------------------------------------------

    def _token(self, scopes: tuple[str, ...], *, fresh: bool = False) -> str:
        if not fresh and scopes in self._tokens:
            return self._tokens[scopes]
        chal = self.challenge
        assert chal is not None
        realm = urllib.parse.urlsplit(chal.realm)
        if realm.scheme not in ("http", "https") or not realm.netloc:
            raise RegistryError(f"registry {self.registry} names a bad token realm "
                                f"{chal.realm!r}", registry=self.registry)
        query = [("service", chal.params["service"])] if "service" in chal.params else []
        query += [("scope", s) for s in scopes]
        url = urllib.parse.urlunsplit((realm.scheme, realm.netloc, realm.path,
                                       urllib.parse.urlencode(query), ""))
        headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
        verify = not is_insecure(realm.netloc, ()) if realm.scheme == "https" else True
        resp = self._send("GET", url, headers, None, verify)
        body = resp.read()
        resp.close()
        if resp.status in (401, 403):
            _, message = _error_detail(body)
            if self.credentials is None:
                message = (f"authentication required (run 'pyker login {self.registry}' "
                           "first)")
            raise RegistryUnauthorized(f"unauthorized: {message or 'access denied'}",
                                       registry=self.registry, status=resp.status)
        if resp.status != 200:
            raise RegistryError(f'token server "{chal.realm}" answered {resp.status}',
                                registry=self.registry, status=resp.status)
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f'token server "{chal.realm}" sent no token',
                                registry=self.registry)
        self._tokens[scopes] = token
        return token

    def _authorization(self, scopes: tuple[str, ...], *, fresh: bool = False) -> dict[str, str]:
        chal = self.challenge
        if chal is None:
            return {}
        if chal.scheme == "bearer":
            return {"Authorization": f"Bearer {self._token(scopes, fresh=fresh)}"}
        if self.credentials is not None:
            return {"Authorization": self.credentials.basic()}
        return {}

    def _unauthorized(self, resp: Response, body: bytes) -> RegistryUnauthorized:
        code, message = _error_detail(body)
        if self.challenge and self.challenge.scheme == "basic" and self.credentials is None:
            message = (f"no basic auth credentials (run 'pyker login {self.registry}' "
                       "first)")
        elif message and not message.startswith("unauthorized"):
            message = f"unauthorized: {message}"
        return RegistryUnauthorized(message or "unauthorized: authentication required",
                                    registry=self.registry, status=resp.status, code=code)

    # -- requests -----------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """An absolute URL for an API path or for a ``Location`` the registry gave."""
        endpoint = self.ping()
        return urllib.parse.urljoin(f"{endpoint.base}/", path_or_url)

    def request(self, method: str, path: str, *, scopes: Iterable[str] = (),
                headers: dict[str, str] | None = None,
                body: bytes | BinaryIO | None = None) -> Response:
        """Send ``method path`` with auth, following redirects; the caller checks the status.

        Raises:
            RegistryUnauthorized: the registry refused the credentials (or wants some).
            RegistryError: no answer (connection refused, TLS failure).
        """
        endpoint = self.ping()
        scopes = tuple(sorted(set(scopes)))
        url = self.url(path)
        fresh = False
        for _ in range(6):
            same_host = urllib.parse.urlsplit(url).netloc == endpoint.netloc
            auth = self._authorization(scopes, fresh=fresh) if same_host else {}
            try:
                resp = self._send(method, url, {**(headers or {}), **auth}, body,
                                  endpoint.verify if same_host else True)
            except (OSError, http.client.HTTPException) as err:
                raise RegistryError(f'{method} "{url}": {getattr(err, "strerror", None) or err}',
                                    registry=self.registry) from err
            if resp.status == 401 and same_host:
                data = resp.read()
                resp.close()
                wanted = challenge.parse_all(resp.raw.headers.get_all("WWW-Authenticate") or [])
                bearer = next((c for c in wanted if c.scheme == "bearer"), None)
                if bearer is None or fresh or self.challenge is None or \
                        self.challenge.scheme != "bearer":
                    raise self._unauthorized(resp, data)
                if "scope" in bearer.params:  # the registry says which scope it wants
                    scopes = tuple(sorted(set(scopes) | {bearer.params["scope"]}))
                fresh = True
                continue
            if resp.status in REDIRECTS and resp.header("Location") and method in ("GET", "HEAD"):
                location = resp.header("Location") or ""
                resp.close()
                url = urllib.parse.urljoin(url, location)
                continue
            return resp
        raise RegistryError(f'{method} "{url}": too many redirects or auth retries',
                            registry=self.registry)

    def check(self, resp: Response, ok: Iterable[int], what: str) -> None:
        """Raise the registry's own error for a status not in ``ok`` (the body is read)."""
        if resp.status in tuple(ok):
            return
        body = resp.read() if resp.raw.length != 0 else b""
        resp.close()
        code, message = _error_detail(body)
        detail = f"{message}" if message else f"status {resp.status}"
        raise RegistryError(f"{what}: {detail}", registry=self.registry,
                            status=resp.status, code=code)

    def login(self) -> None:
        """Check the credentials: a 200 on ``/v2/`` with them (the token flow for Bearer).

        Raises:
            RegistryUnauthorized: the registry refused them.
        """
        self.ping()
        if self.challenge is None:
            return
        status = 401
        try:
            resp = self.request("GET", "/v2/")
            resp.close()
            status = resp.status
        except RegistryUnauthorized as err:
            status = err.status or status
        if status != 200:
            reason = http.client.responses.get(status, "")
            raise RegistryUnauthorized(
                f"login attempt to {self.url('/v2/')} failed with status: {status} {reason}",
                registry=self.registry, status=status)


def _user_agent() -> str:
    from pyker import __version__

    return f"pyker/{__version__}"
