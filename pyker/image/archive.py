"""``pyker save`` and ``pyker load``: images as one tar, in Docker's and OCI's formats at once.

``save`` writes what ``docker save`` writes since Docker 25: an OCI image layout (``oci-layout``,
``index.json``, ``blobs/sha256/…``) that is also a docker-archive, thanks to a ``manifest.json``
whose ``Config`` and ``Layers`` name the same blobs. skopeo reads it as ``docker-archive:`` or
``oci-archive:``, umoci unpacks it once extracted, Docker and Podman load it.

``load`` reads either format: docker-archive (``manifest.json``, layers as tar, plain or
compressed) or an OCI layout. The outer tar is extracted first into a private temporary
directory (regular files and directories only; symlinks between layers, which old docker
saves contain, are resolved inside the archive), every blob is checked against its digest and
every layer against its config's diffID before the image becomes visible.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from pyker.errors import ArchiveError, DigestMismatch, PykerError
from pyker.fs.atomic import temp_prefix
from pyker.fs.compression import decompressed
from pyker.image import reference
from pyker.image.layout import read_layout_version
from pyker.image.platform import host_architecture
from pyker.image.store import Image, ImageStore
from pyker.spec.digest import hex_of, sha256_bytes, sha256_stream
from pyker.spec.image import (
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, INDEX_TYPES, Descriptor, ImageConfig, Index,
    Manifest, canonical_json, parse_json,
)


# -- save ---------------------------------------------------------------------------------------

def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_blob(tar: tarfile.TarFile, store: ImageStore, digest: str, done: set[str]) -> None:
    if digest in done:
        return
    done.add(digest)
    path = store.layout.blob_path(digest)
    info = tarfile.TarInfo(f"blobs/sha256/{hex_of(digest)}")
    info.size, info.mode = path.stat().st_size, 0o644
    with open(path, "rb") as f:
        tar.addfile(info, f)


def save(store: ImageStore, images: list[tuple[Image, list[reference.Reference]]],
         out: BinaryIO) -> None:
    """Write ``images`` (each with the tags asked for) as one archive to ``out``."""
    done: set[str] = set()
    descs: list[Descriptor] = []
    docker_manifest: list[dict[str, object]] = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for image, tags in images:
            for digest in (image.id, *(d.digest for d in image.manifest.layers),
                           image.manifest_digest):
                _add_blob(tar, store, digest, done)
            base = Descriptor(media_type=image.manifest.media_type,
                              digest=image.manifest_digest,
                              size=store.layout.blob_path(image.manifest_digest).stat().st_size)
            descs += [Descriptor(media_type=base.media_type, digest=base.digest, size=base.size,
                                 annotations={ANNOTATION_IMAGE_NAME: str(t),
                                              ANNOTATION_REF_NAME: t.tag or ""})
                      for t in tags] or [base]
            docker_manifest.append({
                "Config": f"blobs/sha256/{hex_of(image.id)}",
                "RepoTags": [t.familiar() for t in tags] or None,
                "Layers": [f"blobs/sha256/{hex_of(d.digest)}" for d in image.manifest.layers],
            })
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add_bytes(tar, "index.json", canonical_json(Index(manifests=tuple(descs)).to_dict()))
        _add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode())


# -- load: extraction ---------------------------------------------------------------------------

def _safe_member_name(archive: str, name: str) -> str:
    path = PurePosixPath(name)
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or ".." in parts or not parts:
        raise ArchiveError(archive, f'entry "{name}" escapes the archive')
    return "/".join(parts)


def _extract(stream: BinaryIO, dest: Path, archive: str) -> None:
    links: list[tuple[str, str]] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                name = _safe_member_name(archive, member.name)
                target = dest / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, open(target, "xb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                elif member.issym() or member.islnk():
                    base = PurePosixPath(name).parent if member.issym() else PurePosixPath()
                    links.append((name, str(base / member.linkname)))
                else:
                    raise ArchiveError(archive, f'entry "{member.name}" is not a regular file')
    except tarfile.TarError as err:
        raise ArchiveError(archive, f"not a valid tar archive: {err}") from err
    except FileExistsError as err:
        raise ArchiveError(archive, f'entry "{err.filename}" appears twice') from err
    for name, linkname in links:
        # os.path.normpath folds "a/../b" lexically; a target that climbs out is refused.
        resolved = _safe_member_name(archive, os.path.normpath(linkname))
        source = dest / resolved
        if not source.is_file() or source.is_symlink():
            raise ArchiveError(archive, f'link "{name}" points to a missing entry "{linkname}"')
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(source, dest / name)


# -- load: formats ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    image: Image
    tags: tuple[str, ...]


def _read_json(path: Path, archive: str) -> object:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ArchiveError(archive, f"{path.name} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArchiveError(archive, f"{path.name}: not valid JSON: {err}") from err


def _member(root: Path, name: str, archive: str) -> Path:
    path = root / _safe_member_name(archive, name)
    if not path.is_file():
        raise ArchiveError(archive, f'"{name}" is missing from the archive')
    return path


def _import(store: ImageStore, config_bytes: bytes, layer_files: list[tuple[Path, str | None]],
            tags: list[reference.Reference], archive: str) -> Image:
    """Add layers, check them against the config's diffIDs, then commit the image."""
    config = parse_json(config_bytes, f"{archive}: image config", ImageConfig.from_dict)
    if len(config.diff_ids) != len(layer_files):
        raise ArchiveError(archive, f"config lists {len(config.diff_ids)} layers, "
                                    f"the manifest {len(layer_files)}")
    descs = []
    for (path, blob_digest), diff_id in zip(layer_files, config.diff_ids):
        if blob_digest is not None:
            with open(path, "rb") as f:
                actual, _ = sha256_stream(f)
            if actual != blob_digest:
                raise DigestMismatch(f"{archive}: layer", blob_digest, actual)
        with open(path, "rb") as f:
            desc, layer = store.add_layer(f, name=f"{archive}:{path.name}")
        if layer.diff_id != diff_id:
            raise DigestMismatch(f"{archive}: layer {path.name} diffID", diff_id, layer.diff_id)
        descs.append(desc)
    # The config's own bytes are kept: its digest is the image ID, which a load preserves.
    return store.commit(config, descs, tags=tags, config_bytes=config_bytes)


def _load_docker(store: ImageStore, root: Path, archive: str) -> list[Loaded]:
    doc = _read_json(root / "manifest.json", archive)
    if not isinstance(doc, list):
        raise ArchiveError(archive, "manifest.json must be a list")
    out = []
    for entry in doc:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ArchiveError(archive, "manifest.json: each entry needs a Config")
        config_bytes = _member(root, entry["Config"], archive).read_bytes()
        layers = [(_member(root, name, archive), None) for name in entry.get("Layers") or []]
        tags = [reference.parse_tagged(t) for t in entry.get("RepoTags") or []]
        image = _import(store, config_bytes, layers, tags, archive)
        out.append(Loaded(image=image, tags=tuple(t.familiar() for t in tags)))
    return out


def _blob(root: Path, digest: str, archive: str) -> bytes:
    data = _member(root, f"blobs/sha256/{hex_of(digest)}", archive).read_bytes()
    if sha256_bytes(data) != digest:
        raise DigestMismatch(f"{archive}: blob", digest, sha256_bytes(data))
    return data


def _oci_manifests(root: Path, index: Index, archive: str) -> Iterable[Descriptor]:
    """Manifests of an index; nested indexes contribute the host platform's manifest."""
    for desc in index.manifests:
        if desc.media_type in INDEX_TYPES:
            nested = parse_json(_blob(root, desc.digest, archive), archive, Index.from_dict)
            chosen = [d for d in nested.manifests
                      if d.platform is None or d.platform.architecture == host_architecture()]
            if chosen:
                yield Descriptor(media_type=chosen[0].media_type, digest=chosen[0].digest,
                                 size=chosen[0].size, annotations=desc.annotations)
        else:
            yield desc


def _load_oci(store: ImageStore, root: Path, archive: str) -> list[Loaded]:
    read_layout_version(root)
    index = parse_json(_member(root, "index.json", archive).read_bytes(), archive,
                       Index.from_dict)
    by_digest: dict[str, list[reference.Reference]] = {}
    for desc in _oci_manifests(root, index, archive):
        name = desc.annotations.get(ANNOTATION_IMAGE_NAME) or desc.annotations.get(
            ANNOTATION_REF_NAME, "")
        tags = by_digest.setdefault(desc.digest, [])
        try:  # a bare tag ("latest", as umoci writes) names no repository: Docker ignores it
            ref = reference.parse_tagged(name) if name and ("/" in name or ":" in name) else None
        except PykerError:
            ref = None
        if ref is not None:
            tags.append(ref)
    out = []
    for digest, tags in by_digest.items():
        manifest = parse_json(_blob(root, digest, archive), archive, Manifest.from_dict)
        config_bytes = _blob(root, manifest.config.digest, archive)
        layers = [(_member(root, f"blobs/sha256/{hex_of(d.digest)}", archive), d.digest)
                  for d in manifest.layers]
        image = _import(store, config_bytes, layers, tags, archive)
        out.append(Loaded(image=image, tags=tuple(t.familiar() for t in tags)))
    return out


def load(store: ImageStore, stream: BinaryIO, *, archive: str) -> list[Loaded]:
    """Load every image of the archive ``stream`` (any compression).

    Raises:
        ArchiveError, DigestMismatch, LayerEscape: the archive is refused; nothing of it
        becomes visible in the store.
    """
    with store.locked():
        work = Path(tempfile.mkdtemp(prefix=temp_prefix(), dir=store.tmp_dir))
        try:
            with decompressed(stream, name=archive) as plain:
                _extract(plain, work, archive)
            if (work / "manifest.json").is_file():
                return _load_docker(store, work, archive)
            if (work / "oci-layout").is_file():
                return _load_oci(store, work, archive)
            raise ArchiveError(archive, "neither a docker archive (manifest.json) nor an OCI "
                                        "layout (oci-layout)")
        finally:
            shutil.rmtree(work, ignore_errors=True)

