"""``pyker system check``: does the store agree with itself?

Checks, each naming what it found at fault: the index parses; every manifest and config it
reaches exists and hashes to its digest; every layer blob too; every diffID of a config has
an unpacked layer directory; a tag points at one image only. Unreachable blobs and layer
directories (what a killed command can leave) are *garbage*, reported but not errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyker.errors import PykerError
from pyker.image.store import ImageStore
from pyker.spec.digest import hex_of
from pyker.spec.image import ANNOTATION_IMAGE_NAME, ImageConfig, Manifest


@dataclass(slots=True)
class Report:
    problems: list[str] = field(default_factory=list)
    garbage: list[str] = field(default_factory=list)
    images: int = 0
    blobs: int = 0
    layers: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_manifest(store: ImageStore, digest: str, report: Report,
                    live_blobs: set[str], live_layers: set[str]) -> None:
    layout = store.layout
    problem = layout.verify_blob(digest)
    if problem:
        report.problems.append(f"manifest: {problem}")
        return
    manifest = layout.read_json(digest, "manifest", Manifest.from_dict)
    live_blobs.add(digest)
    for desc in (manifest.config, *manifest.layers):
        live_blobs.add(desc.digest)
        problem = layout.verify_blob(desc.digest)
        if problem:
            report.problems.append(f"image {digest}: {problem}")
    if layout.has_blob(manifest.config.digest):
        config = layout.read_json(manifest.config.digest, "image config", ImageConfig.from_dict)
        for diff_id in config.diff_ids:
            live_layers.add(hex_of(diff_id))
            if not store.has_layer(diff_id):
                report.problems.append(f"image {manifest.config.digest}: layer {diff_id} "
                                       "is not unpacked")


def check(store: ImageStore) -> Report:
    report = Report()
    try:
        index = store.layout.read_index()
    except PykerError as err:
        report.problems.append(str(err))
        return report
    live_blobs: set[str] = set()
    live_layers: set[str] = set()
    tags: dict[str, str] = {}
    for digest in dict.fromkeys(d.digest for d in index.manifests):
        report.images += 1
        _check_manifest(store, digest, report, live_blobs, live_layers)
    for desc in index.manifests:
        name = desc.annotations.get(ANNOTATION_IMAGE_NAME)
        if name and tags.setdefault(name, desc.digest) != desc.digest:
            report.problems.append(f"tag {name} points at two images")
    blobs = store.layout.blob_digests()
    report.blobs = len(blobs)
    report.garbage += [f"unreferenced blob {d}" for d in sorted(blobs - live_blobs)]
    dirs = {d.name for d in store.layers_dir.iterdir()} if store.layers_dir.is_dir() else set()
    report.layers = len(dirs)
    report.garbage += [f"unreferenced layer sha256:{d}" for d in sorted(dirs - live_layers)]
    return report
