"""``push``: an image of the store to a registry, sending only the blobs it lacks.

The store keeps layers uncompressed (its blob digest is the layer's diffID), and a push sends
them as they are, under the OCI media type ``application/vnd.oci.image.layer.v1.tar``, with the
store's own manifest. So a layer has one digest wherever it goes: the second push of an image
that shares layers with the first finds them with a ``HEAD`` (``Layer already exists``), a
push to another repository of the same registry can *mount* them from the first
(``Mounted from app``), and a pull of the pushed image gives back the same manifest digest.
Compression would save bandwidth, not correctness; on loopback it only costs time.

Each missing blob is sent in one request (monolithic) or, when ``chunk_size`` is set, in
PATCH chunks; the config follows the layers and the manifest comes last, so a registry
never holds a manifest whose blobs are missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyker.errors import DigestMismatch
from pyker.image.store import Image, ImageStore
from pyker.registry.api import Repository
from pyker.registry.progress import (
    LAYER_EXISTS, MOUNTED, PREPARING, PUSHED, PUSHING, Event, Progress, Throttle, ignore,
)
from pyker.registry.records import Records
from pyker.spec.digest import hex_of
from pyker.spec.image import Descriptor


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    tag: str
    digest: str  # of the manifest, as the registry stores it
    size: int    # the manifest's size in bytes


def _send(store: ImageStore, repo: Repository, desc: Descriptor, ident: str, *,
          location: str | None, chunk_size: int, progress: Progress) -> None:
    location = location or repo.start_upload()
    path = store.layout.blob_path(desc.digest)
    with store.layout.open_blob(desc.digest) as f:
        size = path.stat().st_size
        if size != desc.size:
            raise DigestMismatch(f"blob {desc.digest} in the store: size", str(desc.size),
                                 str(size))
        report = Throttle(progress, ident, PUSHING, size) if ident else None
        repo.upload(location, f, size, desc.digest, chunk_size=chunk_size, sent=report)


def push_blob(store: ImageStore, repo: Repository, desc: Descriptor, ident: str, *,
              records: Records, chunk_size: int = 0, mount: bool = True,
              progress: Progress = ignore) -> str:
    """Make sure ``repo`` holds blob ``desc``; return what was done (a progress word)."""
    if repo.blob_size(desc.digest, push=True) is not None:
        return LAYER_EXISTS
    location = None
    if mount:
        for source in records.sources(desc.digest, repo.transport.registry):
            if source == repo.name:
                continue  # recorded, but HEAD says it is gone (deleted from the registry)
            location = repo.mount(desc.digest, source)
            if location is None:
                return f"{MOUNTED} {source}"
            break  # the registry opened an upload instead of mounting: use it
    _send(store, repo, desc, ident, location=location, chunk_size=chunk_size,
          progress=progress)
    return PUSHED


def push(store: ImageStore, repo: Repository, image: Image, tag: str, *, records: Records,
         chunk_size: int = 0, mount: bool = True, progress: Progress = ignore) -> PushResult:
    """Push ``image`` to ``repo`` as ``tag``.

    Raises:
        RegistryUnauthorized: the registry wants credentials (``no basic auth credentials``)
            or refused those given.
        RegistryError: the registry refused or failed a request.
    """
    manifest = image.manifest
    manifest_bytes = store.layout.read_blob(image.manifest_digest)
    layers = list(zip(manifest.layers, image.config.diff_ids))[::-1]  # top first, as Docker
    for _, diff_id in layers:
        progress(Event(hex_of(diff_id)[:12], PREPARING))
    done: set[str] = set()
    for desc, diff_id in layers:
        ident = hex_of(diff_id)[:12]
        if desc.digest in done:
            progress(Event(ident, LAYER_EXISTS))
            continue
        outcome = push_blob(store, repo, desc, ident, records=records, chunk_size=chunk_size,
                            mount=mount, progress=progress)
        done.add(desc.digest)
        progress(Event(ident, outcome))
    push_blob(store, repo, manifest.config, "", records=records, mount=mount)
    digest = repo.put_manifest(tag, manifest_bytes, manifest.media_type)
    records.remember(registry=repo.transport.registry, repository=repo.name,
                     blobs=[d.digest for d in (manifest.config, *manifest.layers)],
                     manifest_digest=digest, image_id=image.id)
    from pyker import events
    from pyker.image import reference

    name = reference.parse(f"{repo.where}:{tag}").familiar()  # as the user named it
    events.image(store.root, "push", name, name, image.config.config.labels)
    return PushResult(tag=tag, digest=digest, size=len(manifest_bytes))
