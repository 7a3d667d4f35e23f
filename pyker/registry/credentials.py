"""Registry credentials in Docker's own file: ``$DOCKER_CONFIG/config.json``
(``~/.docker/config.json`` by default), so ``docker login`` and ``pyker login`` share it.

The file maps a registry to ``{"auth": base64("user:password")}``; Docker Hub's key is the
legacy URL ``https://index.docker.io/v1/``. The password is only encoded, not encrypted (Docker
warns about it too), so the file is written mode 0600 in a 0700 directory, atomically, keeping
every key pyker does not use (``credsStore``, ``proxies``, ``HttpHeaders``…) as it was.
Credential helpers (``credsStore``/``credHelpers``) are not run: their entries are left alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pyker.errors import ConfigError
from pyker.fs.atomic import atomic_write
from pyker.image.reference import DEFAULT_DOMAIN

HUB_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        """The ``Authorization`` header value of the Basic scheme."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def config_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".docker"


def server_key(registry: str) -> str:
    """The key of ``registry`` (a host, ``docker.io``) in ``auths``."""
    return HUB_KEY if registry in (DEFAULT_DOMAIN, "index.docker.io") else registry


def _normalize(key: str) -> str:
    """``https://host:5000/v2/`` and ``host:5000`` name one registry (as Docker's lookup)."""
    if key == HUB_KEY:
        return key
    if "://" in key:
        key = key.split("://", 1)[1]
    return key.split("/", 1)[0]


class CredentialStore:
    """``config.json`` of one Docker config directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / "config.json"

    def _read(self) -> dict[str, object]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        try:
            doc = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as err:
            raise ConfigError(str(self.path), f"line {err.lineno}: {err.msg}") from err
        if not isinstance(doc, dict):
            raise ConfigError(str(self.path), "top level must be a JSON object")
        if not isinstance(doc.get("auths", {}), dict):
            raise ConfigError(str(self.path), '"auths" must be an object')
        return doc

    def _write(self, doc: dict[str, object]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(doc, indent="\t").encode() + b"\n", mode=0o600)

    def get(self, registry: str) -> Credentials | None:
        """The credentials stored for ``registry`` (a host as in a reference), if any."""
        want = server_key(registry)
        auths = self._read().get("auths", {})
        for key, entry in auths.items():  # type: ignore[union-attr]
            if _normalize(key) != want or not isinstance(entry, dict):
                continue
            encoded = entry.get("auth")
            if isinstance(encoded, str) and encoded:
                try:
                    text = base64.b64decode(encoded, validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    text = ""
                user, sep, password = text.partition(":")
                if not sep:
                    raise ConfigError(str(self.path),
                                      f'auths["{key}"].auth: not base64 of user:password')
                return Credentials(username=user, password=password)
            if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
                return Credentials(username=entry["username"], password=entry["password"])
        return None

    def store(self, registry: str, creds: Credentials) -> None:
        doc = self._read()
        auths = doc.setdefault("auths", {})
        want = server_key(registry)
        for key in [k for k in auths if _normalize(k) == want]:  # type: ignore[union-attr]
            del auths[key]  # type: ignore[union-attr]
        encoded = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
        auths[want] = {"auth": encoded}  # type: ignore[index]
        self._write(doc)

    def erase(self, registry: str) -> bool:
        """Forget ``registry``'s credentials; False when there were none."""
        doc = self._read()
        auths = doc.get("auths", {})
        want = server_key(registry)
        keys = [k for k in auths if _normalize(k) == want]  # type: ignore[union-attr]
        if not keys:
            return False
        for key in keys:
            del auths[key]  # type: ignore[union-attr]
        self._write(doc)
        return True
