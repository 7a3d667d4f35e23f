"""``pull``: an image from a registry into the store, every byte checked on the way.

The order makes a kill at any moment harmless. The manifest is checked against its digest
and the config against the manifest's; layers the store lacks are downloaded outside the
store (:mod:`.downloads`, resumable) and checked against their digests. Only then, under the
store's lock, each layer is unpacked (``ImageStore.add_layer``: temporary names, renamed when
whole) and checked against the config's diffID, and the image is committed: index.json,
replaced atomically, is the last thing written. A pull killed before that leaves at most
unreferenced layers, which ``system check`` reports as garbage, not as errors.

As ``pyker load``, a pull stores the image in the store's own form (an OCI manifest over
uncompressed layers): the image ID (its config's digest) is the registry's, the manifest
digest is the registry's too when the image was pushed by pyker, and the registry's digest
is kept in :mod:`.records` otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from pyker.errors import DigestMismatch, ImageNotFound, RegistryError
from pyker.image.reference import Reference
from pyker.image.store import Image, ImageStore
from pyker.registry import manifests
from pyker.registry.api import Repository
from pyker.registry.downloads import Downloads
from pyker.registry.progress import (
    ALREADY_EXISTS, EXTRACTING, PULL_COMPLETE, PULLING, Event, Progress, Throttle, ignore,
)
from pyker.registry.records import Records
from pyker.spec.digest import hex_of, sha256_bytes, validate
from pyker.spec.image import (
    INDEX_TYPES, MEDIA_DOCKER_CONFIG, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER, Descriptor,
    ImageConfig, Manifest, parse_json,
)

CONFIG_TYPES = frozenset({MEDIA_OCI_CONFIG, MEDIA_DOCKER_CONFIG})
MAX_CONFIG = 8 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class PullResult:
    reference: Reference  # as pulled: with its tag, or its digest
    digest: str           # the registry's digest of what the reference names
    image: Image
    updated: bool         # False when the reference already named this image here


def short(digest: str) -> str:
    return hex_of(digest)[:12]


def resolve_manifest(repo: Repository, target: str,
                     platform: str | None = None) -> tuple[str, Manifest]:
    """The registry's digest for ``target`` and the image manifest for ``platform``
    (``os/arch[/variant]``, the host's by default), through an index when the target is
    multi-platform."""
    fetched = repo.get_manifest(target)
    what = f"manifest {repo.where}:{target}"
    kind = manifests.kind_of(fetched.data, fetched.media_type, what)
    if kind not in INDEX_TYPES:
        return fetched.digest, manifests.parse_manifest(fetched.data, what)
    index = manifests.parse_index(fetched.data, what)
    if platform:
        os_name, _, rest = platform.partition("/")
        arch, _, variant = rest.partition("/")
        entry = manifests.select_platform(index, os=os_name, architecture=arch or None,
                                          variant=variant or None, what=what)
    else:
        entry = manifests.select_platform(index, what=what)
    chosen = repo.get_manifest(entry.digest)
    what = f"manifest {repo.where}@{entry.digest}"
    if manifests.kind_of(chosen.data, chosen.media_type, what) in INDEX_TYPES:
        raise RegistryError(f"{what}: an index inside an index is not supported",
                            registry=repo.transport.registry)
    return fetched.digest, manifests.parse_manifest(chosen.data, what)


def fetch_config(repo: Repository, manifest: Manifest) -> tuple[bytes, ImageConfig]:
    desc = manifest.config
    what = f"{repo.where}: image config {desc.digest}"
    if desc.media_type not in CONFIG_TYPES:
        raise RegistryError(f"{what}: not a container image (config media type "
                            f"{desc.media_type})", registry=repo.transport.registry)
    if desc.size > MAX_CONFIG:
        raise RegistryError(f"{what}: {desc.size} bytes is too big for an image config",
                            registry=repo.transport.registry)
    resp, _ = repo.open_blob(desc.digest)
    data = resp.read(desc.size + 1)
    resp.close()
    if sha256_bytes(data) != desc.digest:
        raise DigestMismatch(what, desc.digest, sha256_bytes(data))
    config = parse_json(data, what, ImageConfig.from_dict)
    if len(config.diff_ids) != len(manifest.layers):
        raise RegistryError(f"{what}: lists {len(config.diff_ids)} layers, the manifest "
                            f"{len(manifest.layers)}", registry=repo.transport.registry)
    return data, config  # type: ignore[return-value]


class _Reporting(io.RawIOBase):
    """A file read through, reporting how far (the bar of ``Extracting``)."""

    def __init__(self, raw: BinaryIO, report: Throttle) -> None:
        super().__init__()
        self.raw, self.report, self.done = raw, report, 0
        report(0)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.done += n
        self.report(self.done)
        return n


def _present(store: ImageStore, diff_id: str) -> Descriptor | None:
    """The store's descriptor of a layer it has unpacked, blob included."""
    if not (store.has_layer(diff_id) and store.layout.has_blob(diff_id)):
        return None
    size = store.layout.blob_path(diff_id).stat().st_size
    return Descriptor(media_type=MEDIA_OCI_LAYER, digest=diff_id, size=size)


def _existing(store: ImageStore, image_id: str) -> Image | None:
    try:
        return store.get(image_id)
    except ImageNotFound:
        return None


def _tag_points_at(store: ImageStore, ref: Reference, image_id: str) -> bool:
    try:
        return store.resolve(str(ref)).id == image_id
    except ImageNotFound:
        return False


def pull(store: ImageStore, repo: Repository, ref: Reference, *, records: Records,
         downloads: Downloads, progress: Progress = ignore,
         platform: str | None = None) -> PullResult:
    """Pull ``ref`` (with a tag or a digest) from ``repo`` into ``store``; ``platform``
    (``linux/arm64``) picks an image of a multi-platform index other than the host's.

    Raises:
        RegistryError: the registry refused or failed (MANIFEST_UNKNOWN for a missing tag).
        RegistryUnauthorized: it wants credentials (or refused those given).
        DigestMismatch: a manifest, config or layer is not what its digest says; nothing of
            it is stored.
        SpecError, ArchiveError, LayerEscape: a document or a layer is refused.
    """
    if ref.digest:
        validate(ref.digest)
    target = ref.digest or ref.tag or "latest"
    digest, manifest = resolve_manifest(repo, target, platform)
    progress(Event(target, f"Pulling from {repo.name}"))
    config_bytes, config = fetch_config(repo, manifest)
    image_id = manifest.config.digest
    tags = [ref] if ref.tag and not ref.digest else []
    updated = not all(_tag_points_at(store, t, image_id) for t in tags) if tags else \
        _existing(store, image_id) is None
    pairs = list(zip(manifest.layers, config.diff_ids))
    have = _existing(store, image_id) is not None
    needed: dict[str, Descriptor] = {}
    for layer, diff_id in pairs:
        if have or _present(store, diff_id) is not None:
            progress(Event(short(layer.digest), ALREADY_EXISTS))
        elif layer.digest not in needed:
            needed[layer.digest] = layer
            progress(Event(short(layer.digest), PULLING))
    files = {d: downloads.fetch(repo, desc, short(d), progress) for d, desc in needed.items()}
    try:
        image = _commit(store, pairs, files, config, config_bytes, tags, repo, progress)
    finally:
        for d in files:
            downloads.discard(d)
    records.remember(registry=repo.transport.registry, repository=repo.name,
                     blobs=[d.digest for d in (manifest.config, *manifest.layers)],
                     manifest_digest=digest, image_id=image.id)
    from pyker import events

    events.image(store.root, "pull", ref.familiar(), ref.familiar(), config.config.labels)
    return PullResult(reference=ref, digest=digest, image=image, updated=updated)


def _commit(store: ImageStore, pairs: list[tuple[Descriptor, str]], files: dict,
            config: ImageConfig, config_bytes: bytes, tags: list[Reference],
            repo: Repository, progress: Progress) -> Image:
    """Unpack the downloaded layers and commit the image, all under the store's lock (a
    prune between the two would take unpacked layers no image references yet)."""
    with store.locked():
        descs: list[Descriptor] = []
        for layer, diff_id in pairs:
            ident = short(layer.digest)
            desc = _present(store, diff_id)
            if desc is None:
                with open(files[layer.digest], "rb") as f:
                    reader = _Reporting(f, Throttle(progress, ident, EXTRACTING, layer.size))
                    desc, unpacked = store.add_layer(reader,  # type: ignore[arg-type]
                                                     name=f"{repo.where}@{layer.digest}")
                if unpacked.diff_id != diff_id:
                    raise DigestMismatch(f"{repo.where}: layer {layer.digest} diffID",
                                         diff_id, unpacked.diff_id)
            if layer.digest in files:
                progress(Event(ident, PULL_COMPLETE))
            descs.append(desc)
        return store.commit(config, descs, tags=tags, config_bytes=config_bytes)


def ensure_image(store: ImageStore, text: str, *, policy: str = "missing",
                 insecure_registries: tuple[str, ...] = (), progress: Progress = ignore,
                 announce: Callable[[Reference], None] | None = None,
                 hub: bool = False) -> Image:
    """The image ``text`` names, pulled first when ``policy`` says so, as ``run --pull``
    and a build's ``FROM`` do: ``missing`` (only when the store lacks it), ``always``,
    ``never``. ``announce`` is called before a pull (``Unable to find image … locally``).
    A Docker Hub reference is pulled only with ``hub`` (``pyker pull`` says so explicitly).

    Raises:
        ImageNotFound: ``never`` and the store lacks it, or ``text`` is an ID, not a name.
        UsageError: an unknown policy; and what :func:`pull` raises.
    """
    from pyker.errors import InvalidReference, UsageError
    from pyker.image import reference
    from pyker.registry.api import connect

    if policy not in ("missing", "always", "never"):
        raise UsageError(f'invalid pull option: "{policy}": must be one of "always", '
                         '"missing" or "never"')
    if policy != "always":
        try:
            return store.resolve(text)
        except ImageNotFound:
            if policy == "never":
                raise
    try:
        ref = reference.parse_tagged(text)
    except InvalidReference:
        raise ImageNotFound(text) from None
    if ref.domain == reference.DEFAULT_DOMAIN and not hub:
        # The lab never reaches out to Docker Hub on its own (it is out of reach here, and
        # tests and notebooks may only talk to addresses the project made): an implicit
        # pull names its registry, as 127.0.0.1:5000/app does.
        from pyker.errors import HubOutOfReach

        raise HubOutOfReach(text, ref.familiar())
    if announce is not None:
        announce(ref)
    transport = connect(ref.domain, insecure_registries=insecure_registries)
    root = store.root / "distribution"
    try:
        return pull(store, Repository(transport, ref.path), ref, records=Records(root),
                    downloads=Downloads(root), progress=progress).image
    finally:
        transport.close()
