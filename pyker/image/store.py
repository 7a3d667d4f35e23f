"""The image store: OCI blobs and index, unpacked layers for overlay, tags.

On disk, under the data root::

    image/                 an OCI image layout (blobs/sha256/…, index.json, oci-layout)
    layers/<diffid-hex>/   one unpacked layer in overlay's native form (diff/) + layer.json
    meta/<image-hex>.json  what the OCI config cannot say (the parent image of a build step)
    tmp/                   work in progress; swept under the lock
    lock                   flock(2) taken by every writing command

An image's ID is the digest of its config (as Docker's). A tag is an annotation on a manifest
descriptor of index.json; an image without tags keeps one bare descriptor (``<none>``).

Crash safety comes from ordering: content-addressed pieces (blobs, layer dirs) are completed
under temporary names and renamed into place first; index.json, which makes them reachable,
is replaced atomically last. A command killed at any point leaves unreachable garbage at worst,
which ``system check`` reports and the next prune removes.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pyker.errors import ArchiveError, ImageInUse, ImageNotFound, InvalidReference
from pyker.fs import atomic, lock
from pyker.image import parsed, reference
from pyker.image.index_tags import retag
from pyker.image.layout import HashingWriter, Layout
from pyker.image.reference import Reference
from pyker.spec.digest import chain_ids, hex_of
from pyker.spec.image import (
    ANNOTATION_IMAGE_NAME, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER,
    MEDIA_OCI_MANIFEST, Descriptor, ImageConfig, Index,
    Manifest, canonical_json,
)

if TYPE_CHECKING:
    from pyker.fs.unpack import IdShift

# Who uses an image: given an image ID, the IDs of the containers created from it.
UsersOf = Callable[[str], list[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Layer:
    diff_id: str
    size: int
    path: Path  # the layer's diff/ directory, an overlay lowerdir


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    id: str
    manifest_digest: str
    manifest: Manifest
    config: ImageConfig
    tags: tuple[Reference, ...]
    size: int
    parent: str = ""

    @property
    def repo_tags(self) -> list[str]:
        return [t.familiar() for t in self.tags]


class _Tee:
    """A read-only stream that copies what is read into a writer (stream once, two uses)."""

    def __init__(self, stream: BinaryIO, sink: HashingWriter) -> None:
        self.stream, self.sink = stream, sink

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        if data:
            self.sink.write(data)
        return data


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class ImageStore:
    def __init__(self, root: Path, shift: IdShift | None = None) -> None:
        self.root = root
        self.shift = shift  # a remapped store: owners shifted into the range (userns-remap)
        self.layout = Layout(root / "image")
        self.layers_dir = root / "layers"
        self.meta_dir = root / "meta"
        self.tmp_dir = root / "tmp"
        # What the last index.json read gave: (its Index, manifest digest -> tags, and
        # image ID -> manifest digest once a get() needed it).
        self._view: tuple[Index | None, dict[str, tuple[Reference, ...]],
                          dict[str, str] | None] = (None, {}, None)

    def create(self) -> None:
        for d in (self.root, self.layers_dir, self.meta_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.layout.create()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize writers; sweep what killed writers left behind."""
        self.create()
        with lock.exclusive(self.root / "lock"):
            atomic.sweep_temporaries(self.tmp_dir)
            atomic.sweep_temporaries(self.layout.blobs)
            atomic.sweep_temporaries(self.layers_dir)
            yield

    # -- layers -----------------------------------------------------------------------------

    def layer(self, diff_id: str) -> Layer:
        d = self.layers_dir / hex_of(diff_id)
        try:
            meta = json.loads((d / "layer.json").read_bytes())
        except FileNotFoundError:
            raise ImageNotFound(f"layer {diff_id}") from None
        return Layer(diff_id=diff_id, size=int(meta["size"]), path=d / "diff")

    def has_layer(self, diff_id: str) -> bool:
        # A string path, not pathlib: asked for every layer of every image loaded.
        return os.path.isfile(f"{self.layers_dir}/{hex_of(diff_id)}/layer.json")

    def add_layer(self, stream: BinaryIO, *, name: str) -> tuple[Descriptor, Layer]:
        """Unpack a layer tar (plain or gzip) and keep its blob, in one pass over ``stream``.

        Must be called under :meth:`locked`. Raises what ``apply_layer`` raises (an escaping
        entry, a broken archive); then nothing of the layer is left in the store.
        """
        from pyker.fs.compression import decompressed  # only writers unpack: `run` never does
        from pyker.fs.layer import apply_layer

        work = Path(tempfile.mkdtemp(prefix=atomic.temp_prefix(), dir=self.layers_dir))
        out, tmp_blob = self.layout.new_blob_file()
        try:
            with out, decompressed(stream, name=name) as plain:
                sink = HashingWriter(out)
                applied = apply_layer(_Tee(plain, sink), work / "diff", name=name,
                                      shift=self.shift)
            # Layers are kept uncompressed, as Docker's own store does: the blob digest is
            # then the diffID, and compression is a matter for the wire (push), not the disk.
            if sink.digest != applied.diff_id:
                raise ArchiveError(name, "layer digest changed while reading it")
            media = MEDIA_OCI_LAYER
            self.layout.commit_blob(tmp_blob, sink.digest)
            final = self.layers_dir / hex_of(applied.diff_id)
            if final.exists():
                shutil.rmtree(work)
            else:
                atomic.atomic_write(work / "layer.json", canonical_json(
                    {"diff_id": applied.diff_id, "size": applied.size,
                     "blob": sink.digest, "mediaType": media}))
                os.rename(work, final)
                atomic.fsync_dir(self.layers_dir)
            desc = Descriptor(media_type=media, digest=sink.digest, size=sink.size)
            return desc, self.layer(applied.diff_id)
        finally:
            tmp_blob.unlink(missing_ok=True)
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)

    def lower_dirs(self, image: Image, scratch: Path) -> list[Path]:
        """The image's layer dirs as overlay lowerdirs, top-most first.

        Layer dirs are shared by diffID, so two identical layers of one image (two RUN
        steps that wrote the same bytes in the same second) would be the same directory
        twice, which overlayfs refuses (ELOOP: overlapping layers). Each repeat gets its own
        copy under ``scratch``, so the stack keeps its meaning.
        """
        seen: set[Path] = set()
        out: list[Path] = []
        for layer in reversed(self.layers_of(image)):
            path = layer.path
            if path in seen:
                copy = scratch / f"dup-{len(out)}"
                if not copy.exists():
                    subprocess.run(["cp", "-a", str(path), str(copy)], check=True)
                path = copy
            seen.add(layer.path)
            out.append(path)
        return out

    def layers_of(self, image: Image) -> list[Layer]:
        """The image's layers bottom first (the reverse of overlay's lowerdir order)."""
        return [self.layer(d) for d in image.config.diff_ids]

    # -- images -----------------------------------------------------------------------------

    def commit(self, config: ImageConfig, layers: Iterable[Descriptor], *,
               tags: Iterable[Reference] = (), parent: str = "",
               config_bytes: bytes | None = None) -> Image:
        """Write config and manifest blobs, then make the image reachable (under the lock).

        ``config_bytes``, when given, are the config's original bytes (a loaded image keeps
        its ID); they must be what ``config`` was parsed from.
        """
        if config_bytes is None:
            config_bytes = canonical_json(config.to_dict())
        config_digest = self.layout.put_blob(config_bytes)
        manifest = Manifest(
            config=Descriptor(media_type=MEDIA_OCI_CONFIG, digest=config_digest,
                              size=len(config_bytes)),
            layers=tuple(layers))
        manifest_bytes = canonical_json(manifest.to_dict())
        manifest_digest = self.layout.put_blob(manifest_bytes)
        if parent:
            atomic.atomic_write(self.meta_dir / f"{hex_of(config_digest)}.json",
                                canonical_json({"parent": parent}))
        desc = Descriptor(media_type=MEDIA_OCI_MANIFEST, digest=manifest_digest,
                          size=len(manifest_bytes))
        self._write_index(retag(self.layout.read_index(), desc, add=list(tags)))
        return self.get(config_digest)

    def images(self) -> list[Image]:
        """Every image, one entry per image ID, newest first."""
        out = [self._load(digest, refs) for digest, refs in self._entries().items()]
        return sorted(out, key=lambda i: i.config.created, reverse=True)

    def get(self, image_id: str) -> Image:
        """The image whose ID is ``image_id``; only that one is read (a build asks for one
        image per step: reading the whole store each time made a cached step cost ~10 ms
        for ten images)."""
        entries = self._entries()
        by_id = self._view[2]
        if by_id is None:  # the first get since index.json changed: one pass over it
            by_id = {}
            for digest in entries:
                by_id.setdefault(parsed.config_digest(self.layout, digest), digest)
            self._view = (*self._view[:2], by_id)
        digest = by_id.get(image_id)
        if digest is None:
            raise ImageNotFound(image_id)
        return self._load(digest, entries[digest])

    def _entries(self) -> dict[str, tuple[Reference, ...]]:
        """index.json as manifest digest -> its tags, in the index's order. Read from disk at
        each call; worked out again only when its content changed (the layout hands back
        the same Index then)."""
        index = self.layout.read_index()
        if self._view[0] is index:
            return self._view[1]
        by_manifest: dict[str, list[Reference]] = {}
        for desc in index.manifests:
            refs = by_manifest.setdefault(desc.digest, [])
            name = desc.annotations.get(ANNOTATION_IMAGE_NAME)
            if name:
                refs.append(parsed.tag_reference(name))
        entries = {digest: tuple(refs) for digest, refs in by_manifest.items()}
        self._view = (index, entries, None)
        return entries

    def _load(self, manifest_digest: str, tags: tuple[Reference, ...]) -> Image:
        manifest = parsed.manifest(self.layout, manifest_digest)
        config = parsed.config(self.layout, manifest.config.digest)
        size = sum(self._layer_size(d) for d in set(config.diff_ids))
        try:
            with open(f"{self.meta_dir}/{hex_of(manifest.config.digest)}.json", "rb") as f:
                parent = json.loads(f.read())["parent"]
        except FileNotFoundError:
            parent = ""
        return Image(id=manifest.config.digest, manifest_digest=manifest_digest,
                     manifest=manifest, config=config, tags=tags, size=size, parent=parent)

    def _layer_size(self, diff_id: str) -> int:
        """The unpacked size of a layer the store has (asked each time: a prune may have
        removed it), 0 for one it lacks."""
        if not self.has_layer(diff_id):
            return 0
        return parsed.layer_size(diff_id, lambda: self.layer(diff_id).size)

    def resolve(self, text: str) -> Image:
        """Find an image by reference (``busybox``, ``name@sha256:…``) or by ID prefix.

        Only the image found is read in full: tags and digests are in index.json, IDs in
        the manifests.

        Raises:
            ImageNotFound: nothing matches (or an ID prefix is ambiguous).
        """
        entries = self._entries()
        try:
            ref = reference.parse_tagged(text)
        except InvalidReference:
            ref = None
        if ref is not None:
            for digest, refs in entries.items():
                if (ref.digest and ref.digest == digest) or (ref.tag and ref in refs):
                    return self._load(digest, refs)
        hex_part = text.removeprefix("sha256:")
        if hex_part and all(c in "0123456789abcdef" for c in hex_part):
            found = [d for d in entries
                     if hex_of(parsed.config_digest(self.layout, d)).startswith(hex_part)]
            if len(found) == 1:
                return self._load(found[0], entries[found[0]])
        raise ImageNotFound(text)

    # -- tags -------------------------------------------------------------------------------

    def tag(self, image: Image, ref: Reference) -> None:
        """Point ``ref`` at ``image`` (moving it from another image if needed); index.json
        is left as it is when the tag is already there (a rebuild retags the same image)."""
        desc = self._manifest_desc(image)
        index = self.layout.read_index()
        retagged = retag(index, desc, add=[ref.tagged()])
        if retagged != index:
            self._write_index(retagged)
        self._event("tag", image, ref.tagged().familiar())

    def untag(self, image: Image, ref: Reference) -> None:
        desc = self._manifest_desc(image)
        self._write_index(retag(self.layout.read_index(), desc, remove=[ref.tagged()]))
        self._event("untag", image, image.id)  # Docker names the ID, not the tag

    def _event(self, action: str, image: Image, name: str) -> None:
        """Docker's image event (pyker.events): the image's labels, ``name``."""
        from pyker import events

        events.image(self.root, action, image.id, name, image.config.config.labels)

    def _manifest_desc(self, image: Image) -> Descriptor:
        for desc in self.layout.read_index().manifests:
            if desc.digest == image.manifest_digest:
                return replace(desc, annotations={})
        raise ImageNotFound(image.id)

    def _write_index(self, index: Index) -> None:
        self.layout.write_index(index)

    # -- removal ----------------------------------------------------------------------------

    def remove_image(self, image: Image, users: UsersOf) -> None:
        """Drop every descriptor of ``image`` from the index (the caller checked policy)."""
        if users(image.id):
            raise ImageInUse(f"image {image.id[7:19]} is used by a container", image.id)
        index = self.layout.read_index()
        keep = tuple(d for d in index.manifests if d.digest != image.manifest_digest)
        self._write_index(Index(manifests=keep))
        (self.meta_dir / f"{hex_of(image.id)}.json").unlink(missing_ok=True)
        for _ in image.tags:  # Docker: an untag per tag, then the delete
            self._event("untag", image, image.id)
        self._event("delete", image, image.id)

    def collect_garbage(self) -> int:
        """Delete blobs and layer dirs no image reaches; return the layer bytes freed.

        The figure is the unpacked size of the layers removed, which is what Docker reports
        as reclaimed space; the blobs (tar copies of the same content) go too.
        """
        live_blobs: set[str] = set()
        live_layers: set[str] = set()
        for image in self.images():
            live_blobs |= {image.manifest_digest, image.id}
            live_blobs |= {d.digest for d in image.manifest.layers}
            live_layers |= {hex_of(d) for d in image.config.diff_ids}
        freed = 0
        for digest in self.layout.blob_digests() - live_blobs:
            self.layout.delete_blob(digest)
        for d in self.layers_dir.iterdir():
            if d.name not in live_layers and not d.name.startswith(atomic.TMP_PREFIX):
                try:
                    freed += int(json.loads((d / "layer.json").read_bytes())["size"])
                except (FileNotFoundError, ValueError, KeyError):
                    pass
                shutil.rmtree(d)
        return freed

    def chain_of(self, image: Image) -> list[str]:
        return chain_ids(image.config.diff_ids)

