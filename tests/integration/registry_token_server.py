"""A minimal token server for the distribution registry's ``token`` auth (spec/auth/token.md),
run by test_registry.py as a subprocess in the tests' network namespace.

``GET /token?service=S&scope=repository:app:pull,push`` with HTTP Basic credentials of a known
user answers ``{"token": JWT}`` granting the actions asked; anonymous or wrong credentials get
401. The JWT is RS256, signed by ``openssl dgst`` with a key whose self-signed certificate is
the registry's ``rootcertbundle`` and travels in the header's ``x5c``.

    python registry_token_server.py DIR PORT ISSUER USER:PASSWORD
    (DIR holds key.pem and cert.pem; prints "ready" once listening on 127.0.0.1:PORT)
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(directory: Path, issuer: str, service: str, user: str,
               scopes: list[str]) -> str:
    der = subprocess.run(["openssl", "x509", "-in", str(directory / "cert.pem"), "-outform",
                          "DER"], check=True, capture_output=True).stdout
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    access = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    claims = {"iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": os.urandom(8).hex(), "access": access}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(directory / "key.pem")],
                               input=signing_input.encode(), check=True,
                               capture_output=True).stdout
    return f"{signing_input}.{b64url(signature)}"


def main() -> None:
    directory, port, issuer, account = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    expected = "Basic " + base64.b64encode(account.encode()).decode()
    user = account.split(":", 1)[0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            if self.headers.get("Authorization") != expected:
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED",
                                               "message": "incorrect username or password"}]})
                self.send_response(401)
            else:
                token = make_token(directory, issuer, query.get("service", [""])[0], user,
                                   query.get("scope", []))
                body = json.dumps({"token": token, "expires_in": 300})
                self.send_response(200)
            data = body.encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args: object) -> None:
            sys.stderr.write(f"token-server: {fmt % args}\n")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
