"""Tags in an OCI image index: which descriptor carries which ``org.opencontainers.image
.ref.name`` annotations (pyker's tags, as the OCI image layout records them)."""

from __future__ import annotations

from dataclasses import replace

from pyker.image import reference
from pyker.image.reference import Reference
from pyker.spec.image import ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor, Index


def retag(index: Index, desc: Descriptor, *, add: list[Reference] = (),
          remove: list[Reference] = ()) -> Index:
    """A new index where ``desc`` carries its old tags plus ``add`` minus ``remove``.

    Tags are unique: adding one takes it from whichever image had it; an image left
    with no tag keeps a bare descriptor, so it stays listed as ``<none>``.
    """
    moved = {str(r) for r in add}
    gone = {str(r) for r in remove}
    entries: dict[str, list[str]] = {}
    for d in index.manifests:
        names = entries.setdefault(d.digest, [])
        name = d.annotations.get(ANNOTATION_IMAGE_NAME)
        if name and name not in moved and name not in gone:
            names.append(name)
    own = entries.setdefault(desc.digest, [])
    own.extend(n for n in sorted(moved) if n not in own)
    base = {d.digest: replace(d, annotations={}) for d in index.manifests}
    base.setdefault(desc.digest, desc)
    manifests = []
    for digest, names in entries.items():
        if not names:
            manifests.append(base[digest])
        for name in names:
            ref = reference.parse(name)
            manifests.append(replace(base[digest], annotations={
                ANNOTATION_IMAGE_NAME: name, ANNOTATION_REF_NAME: ref.tag or ""}))
    return Index(manifests=tuple(manifests))
