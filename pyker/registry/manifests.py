"""What a registry's manifest is, and which image of a multi-platform index to take.

A tag names either one image's manifest (OCI ``image.manifest.v1`` or Docker schema 2
``distribution.manifest.v2``) or an index of them, one per platform (OCI ``image.index.v1`` or
Docker's ``manifest.list.v2``). A pull takes the entry for ``linux`` and the host's
architecture (and variant, for ARM), as Docker does; entries for ``unknown/unknown``
(BuildKit's attestations) are never images. Docker schema 1 (signed JWS manifests,
deprecated since 2015) is refused with a message that says so.
"""

from __future__ import annotations

import json

from pyker.errors import RegistryError, SpecError
from pyker.image.platform import host_architecture, host_variant
from pyker.spec.image import (
    INDEX_TYPES, MANIFEST_TYPES, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, Descriptor, Index,
    Manifest,
)

SCHEMA1_TYPES = frozenset({"application/vnd.docker.distribution.manifest.v1+json",
                           "application/vnd.docker.distribution.manifest.v1+prettyjws"})


def kind_of(data: bytes, content_type: str, what: str) -> str:
    """The media type of a manifest document: its own ``mediaType``, else the header's,
    else told by its shape (an OCI document may omit the field)."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SpecError(f"{what}: not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise SpecError(f"{what}: must be a JSON object")
    media = doc.get("mediaType") or content_type
    if media in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise RegistryError(f"{what}: Docker schema 1 manifests are not supported "
                            "(push the image again with a current client)")
    if media in INDEX_TYPES or media in MANIFEST_TYPES:
        return media
    if isinstance(doc.get("manifests"), list):
        return MEDIA_OCI_INDEX
    if isinstance(doc.get("layers"), list):
        return MEDIA_OCI_MANIFEST
    raise SpecError(f"{what}: unsupported manifest media type {media!r}")


def parse_manifest(data: bytes, what: str) -> Manifest:
    return Manifest.from_dict(_object(data, what), what)


def parse_index(data: bytes, what: str) -> Index:
    return Index.from_dict(_object(data, what), what)


def _object(data: bytes, what: str) -> dict:
    doc = json.loads(data)  # kind_of() has already checked it is a JSON object
    if not isinstance(doc, dict):
        raise SpecError(f"{what}: must be a JSON object")
    return doc


def _normal_variant(arch: str, variant: str | None) -> str | None:
    # arm64 images rarely state a variant, and "v8" is the only one: the same thing.
    if arch == "arm64" and variant in (None, "", "v8"):
        return None
    return variant or None


def select_platform(index: Index, *, os: str = "linux", architecture: str | None = None,
                    variant: str | None = None, what: str = "index") -> Descriptor:
    """The entry of ``index`` for the platform (the host's by default).

    An exact variant match wins over an entry that names no variant; an index whose only
    entry states no platform at all is taken as it is (a single-image OCI layout).

    Raises:
        RegistryError: no entry fits, as Docker says it.
    """
    arch = architecture or host_architecture()
    want_variant = _normal_variant(arch, variant if architecture else host_variant())
    images = [d for d in index.manifests if d.media_type in MANIFEST_TYPES]
    loose = None
    for desc in images:
        plat = desc.platform
        if plat is None or plat.os != os or plat.architecture != arch:
            continue
        got = _normal_variant(arch, plat.variant)
        if got == want_variant:
            return desc
        if got is None and loose is None:
            loose = desc
    if loose is not None:
        return loose
    if len(images) == 1 and images[0].platform is None:
        return images[0]
    platform = f"{os}/{arch}" + (f"/{want_variant}" if want_variant else "")
    raise RegistryError(f"{what}: no matching manifest for {platform} in the manifest list "
                        "entries")
