"""The endpoints of the distribution API v2 for one repository (spec/api.md of distribution).

    GET/HEAD /v2/<name>/manifests/<tag|digest>   a manifest or an index, by content negotiation
    PUT      /v2/<name>/manifests/<tag|digest>   publish one (after its blobs)
    HEAD/GET /v2/<name>/blobs/<digest>           existence / content (``Range`` to resume)
    POST     /v2/<name>/blobs/uploads/           open an upload (``?mount=&from=`` to mount)
    PATCH    <upload location>                   send a chunk (``Content-Range: start-end``)
    PUT      <upload location>&digest=<digest>   close it; the registry checks the digest
    GET      /v2/<name>/tags/list                the tags (paginated by ``Link``)

Every manifest received is checked against its digest (the one asked for, or the one the
registry announced); blobs are checked by their reader (:mod:`.pull`).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

from pyker.errors import DigestMismatch, RegistryError
from pyker.registry.challenge import repository_scope
from pyker.registry.credentials import CredentialStore
from pyker.registry.transport import Response, Transport
from pyker.spec.digest import sha256_bytes
from pyker.spec.image import (
    MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
)

ACCEPT = ", ".join((MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST))
MAX_MANIFEST = 4 << 20  # the registry's own limit; a bigger answer is not a manifest
Sent = Callable[[int], None]  # called with the bytes sent so far


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchedManifest:
    data: bytes
    media_type: str
    digest: str


class _Counting:
    """A file-like body that reports progress and stops after ``limit`` bytes."""

    def __init__(self, stream: BinaryIO, limit: int, sent: Sent | None, base: int) -> None:
        self.stream, self.left, self.sent, self.done = stream, limit, sent, base

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.stream.read(n) if n else b""
        self.left -= len(data)
        self.done += len(data)
        if self.sent and data:
            self.sent(self.done)
        return data


class Repository:
    def __init__(self, transport: Transport, name: str) -> None:
        self.transport = transport
        self.name = name  # the path part of a reference: "app", "library/busybox"

    @property
    def where(self) -> str:
        return f"{self.transport.registry}/{self.name}"

    def _pull(self) -> tuple[str, ...]:
        return (repository_scope(self.name, "pull"),)

    def _push(self) -> tuple[str, ...]:
        return (repository_scope(self.name, "pull", "push"),)

    # -- manifests ----------------------------------------------------------------------------

    def get_manifest(self, reference: str) -> FetchedManifest:
        """The manifest (or index) ``reference`` (a tag or a digest) names, verified.

        Raises:
            RegistryError: unknown (``code`` MANIFEST_UNKNOWN), or the registry failed.
            DigestMismatch: the bytes do not hash to the digest asked for or announced.
        """
        t = self.transport
        resp = t.request("GET", f"/v2/{self.name}/manifests/{reference}", scopes=self._pull(),
                         headers={"Accept": ACCEPT})
        if resp.status == 404:
            t.check(resp, (), f"manifest for {self.where}:{reference} not found: manifest unknown")
        t.check(resp, (200,), f"get manifest {self.where}:{reference}")
        data = resp.read(MAX_MANIFEST + 1)
        resp.close()
        if len(data) > MAX_MANIFEST:
            raise RegistryError(f"manifest {self.where}:{reference} is over {MAX_MANIFEST} bytes",
                                registry=t.registry)
        digest = sha256_bytes(data)
        expected = reference if ":" in reference else resp.header("Docker-Content-Digest")
        if expected and expected != digest:
            raise DigestMismatch(f"manifest {self.where}:{reference}", expected, digest)
        media = (resp.header("Content-Type") or "").split(";")[0].strip()
        return FetchedManifest(data=data, media_type=media, digest=digest)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        """Publish a manifest under a tag (or its digest); return the registry's digest."""
        t = self.transport
        resp = t.request("PUT", f"/v2/{self.name}/manifests/{reference}", scopes=self._push(),
                         headers={"Content-Type": media_type,
                                  "Content-Length": str(len(data))}, body=data)
        t.check(resp, (201,), f"put manifest {self.where}:{reference}")
        resp.close()
        digest = resp.header("Docker-Content-Digest") or sha256_bytes(data)
        if digest != sha256_bytes(data):
            raise DigestMismatch(f"manifest {self.where}:{reference} as stored by the registry",
                                 sha256_bytes(data), digest)
        return digest

    def tags(self) -> list[str]:
        t = self.transport
        out: list[str] = []
        path: str | None = f"/v2/{self.name}/tags/list"
        while path:
            resp = t.request("GET", path, scopes=self._pull())
            if resp.status == 404:
                t.check(resp, (), f"repository {self.where} not found")
            t.check(resp, (200,), f"list tags of {self.where}")
            doc = json.loads(resp.read() or b"{}")
            resp.close()
            out += [str(tag) for tag in doc.get("tags") or []]
            link = resp.header("Link") or ""  # <next?last=x&n=y>; rel="next"
            path = link[link.find("<") + 1:link.find(">")] if 'rel="next"' in link else None
        return out

    # -- blobs --------------------------------------------------------------------------------

    def blob_size(self, digest: str, *, push: bool = False) -> int | None:
        """The blob's size when the repository has it, None when not (HEAD)."""
        t = self.transport
        resp = t.request("HEAD", f"/v2/{self.name}/blobs/{digest}",
                         scopes=self._push() if push else self._pull())
        resp.close()
        if resp.status == 404:
            return None
        t.check(resp, (200,), f"check blob {digest} in {self.where}")
        return int(resp.header("Content-Length") or 0)

    def open_blob(self, digest: str, offset: int = 0) -> tuple[Response, bool]:
        """A streaming answer for the blob, from ``offset`` when the registry can do it:
        the flag says whether the answer starts there (206) or from the beginning (200)."""
        t = self.transport
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = t.request("GET", f"/v2/{self.name}/blobs/{digest}", scopes=self._pull(),
                         headers=headers)
        if resp.status == 404:
            t.check(resp, (), f"blob {digest} of {self.where} not found: blob unknown")
        t.check(resp, (200, 206), f"get blob {digest} of {self.where}")
        return resp, resp.status == 206

    # -- uploads ------------------------------------------------------------------------------

    def _location(self, resp: Response, what: str) -> str:
        location = resp.header("Location")
        if not location:
            raise RegistryError(f"{what}: the registry gave no upload location",
                                registry=self.transport.registry)
        return location

    def mount(self, digest: str, source: str) -> str | None:
        """Ask the registry to link ``digest`` from repository ``source``: None when it did
        (201), else the location of the upload it opened instead (202)."""
        t = self.transport
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        resp = t.request("POST", f"/v2/{self.name}/blobs/uploads/?{query}",
                         scopes=(*self._push(), repository_scope(source, "pull")),
                         headers={"Content-Length": "0"}, body=b"")
        t.check(resp, (201, 202), f"mount blob {digest} from {source} into {self.where}")
        resp.close()
        return None if resp.status == 201 else self._location(resp, "mount")

    def start_upload(self) -> str:
        t = self.transport
        resp = t.request("POST", f"/v2/{self.name}/blobs/uploads/", scopes=self._push(),
                         headers={"Content-Length": "0"}, body=b"")
        t.check(resp, (202,), f"start upload to {self.where}")
        resp.close()
        return self._location(resp, "start upload")

    def upload(self, location: str, stream: BinaryIO, size: int, digest: str, *,
               chunk_size: int = 0, sent: Sent | None = None) -> None:
        """Send ``size`` bytes of ``stream`` to an open upload and close it with ``digest``.

        ``chunk_size`` 0 sends the blob in the closing PUT (a *monolithic* upload); otherwise
        it goes in PATCH requests of that size, each answered with the new location and the
        range received, and an empty PUT closes it (a *chunked* upload).
        """
        t = self.transport
        what = f"upload blob {digest} to {self.where}"
        offset = 0
        if chunk_size:
            while offset < size:
                n = min(chunk_size, size - offset)
                resp = t.request("PATCH", location, scopes=self._push(), headers={
                    "Content-Type": "application/octet-stream", "Content-Length": str(n),
                    "Content-Range": f"{offset}-{offset + n - 1}"},
                    body=_Counting(stream, n, sent, offset))  # type: ignore[arg-type]
                t.check(resp, (202,), what)
                resp.close()
                location = self._location(resp, what)
                received = resp.header("Range") or ""
                if received and received.rsplit("-", 1)[-1] != str(offset + n - 1):
                    raise RegistryError(f"{what}: registry holds {received}, sent up to "
                                        f"{offset + n - 1}", registry=t.registry)
                offset += n
        sep = "&" if "?" in location else "?"
        close_at = f"{location}{sep}{urllib.parse.urlencode({'digest': digest})}"
        left = size - offset
        body = _Counting(stream, left, sent, offset) if left else b""
        resp = t.request("PUT", close_at, scopes=self._push(), body=body,  # type: ignore[arg-type]
                         headers={"Content-Type": "application/octet-stream",
                                  "Content-Length": str(left)})
        t.check(resp, (201,), what)
        resp.close()


def connect(registry: str, *, insecure_registries: Iterable[str] = (),
            credentials: CredentialStore | None = None) -> Transport:
    """A transport to ``registry`` (a reference's host) with the credentials stored for it."""
    store = credentials if credentials is not None else CredentialStore()
    return Transport(registry, insecure_registries=insecure_registries,
                     credentials=store.get(registry))
