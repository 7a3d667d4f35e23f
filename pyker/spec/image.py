"""The OCI image spec as typed, frozen values: descriptor, manifest, index, image config.

Documents are parsed once at the boundary (``from_dict``), checked by a list of small checks
that each name the field at fault, and written back with ``to_dict`` using the spec's own key
names. A stored blob is never re-serialized: its digest is the hash of its bytes as written.
See https://github.com/opencontainers/image-spec (manifest.md, image-index.md, config.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyker.errors import SpecError
from pyker.spec._fields import Doc, _get, _key_set, _run_checks, _str_list, _str_map
from pyker.spec.digest import validate

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = frozenset({MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST})
INDEX_TYPES = frozenset({MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST})
GZIP_LAYER_TYPES = frozenset({MEDIA_OCI_LAYER_GZIP, MEDIA_DOCKER_LAYER_GZIP})
LAYER_TYPES = GZIP_LAYER_TYPES | {MEDIA_OCI_LAYER, MEDIA_DOCKER_LAYER}
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"

# -- descriptor, manifest, index --------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    architecture: str
    os: str
    variant: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict, hash=False)
    platform: Platform | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "descriptor") -> Descriptor:
        if not isinstance(doc, Mapping):
            raise SpecError(f"{what}: must be an object")
        digest = _get(doc, "digest", str, what, "")
        size = _get(doc, "size", int, what, -1)
        _run_checks(what, [
            (bool(_get(doc, "mediaType", str, what, "")), "field 'mediaType' is required"),
            (size >= 0, "field 'size' must be a non-negative integer"),
        ])
        validate(digest)
        plat = _get(doc, "platform", dict, what)
        return cls(
            media_type=doc["mediaType"], digest=digest, size=size,
            annotations=_str_map(doc, "annotations", what),
            platform=Platform(architecture=str(plat.get("architecture", "")),
                              os=str(plat.get("os", "")),
                              variant=plat.get("variant")) if plat else None,
        )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest,
                                  "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = self.platform.to_dict()
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = MEDIA_OCI_MANIFEST
    annotations: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "manifest") -> Manifest:
        media = _get(doc, "mediaType", str, what, MEDIA_OCI_MANIFEST)
        _run_checks(what, [
            (doc.get("schemaVersion") == 2, "schemaVersion must be 2"),
            (media in MANIFEST_TYPES, f"unsupported mediaType {media!r}"),
            (isinstance(doc.get("config"), Mapping), "field 'config' is required"),
        ])
        layers = tuple(Descriptor.from_dict(d, f"{what}: layers[{i}]")
                       for i, d in enumerate(_get(doc, "layers", list, what, [])))
        for i, layer in enumerate(layers):
            if layer.media_type not in LAYER_TYPES:
                raise SpecError(f"{what}: layers[{i}]: unsupported mediaType {layer.media_type!r}")
        return cls(config=Descriptor.from_dict(doc["config"], f"{what}: config"), layers=layers,
                   media_type=media, annotations=_str_map(doc, "annotations", what))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"schemaVersion": 2, "mediaType": self.media_type,
                                  "config": self.config.to_dict(),
                                  "layers": [d.to_dict() for d in self.layers]}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    manifests: tuple[Descriptor, ...] = ()
    media_type: str = MEDIA_OCI_INDEX
    annotations: dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "index") -> Index:
        media = _get(doc, "mediaType", str, what, MEDIA_OCI_INDEX)
        _run_checks(what, [
            (doc.get("schemaVersion") == 2, "schemaVersion must be 2"),
            (media in INDEX_TYPES, f"unsupported mediaType {media!r}"),
        ])
        return cls(
            manifests=tuple(Descriptor.from_dict(d, f"{what}: manifests[{i}]")
                            for i, d in enumerate(_get(doc, "manifests", list, what, []))),
            media_type=media, annotations=_str_map(doc, "annotations", what))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"schemaVersion": 2, "mediaType": self.media_type,
                                  "manifests": [d.to_dict() for d in self.manifests]}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


# -- image config -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Healthcheck:
    """Docker's extension to the config: ``HEALTHCHECK`` (durations in nanoseconds)."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    @classmethod
    def from_dict(cls, doc: Doc, what: str) -> Healthcheck:
        return cls(test=_str_list(doc, "Test", what) or (),
                   interval=_get(doc, "Interval", int, what, 0),
                   timeout=_get(doc, "Timeout", int, what, 0),
                   start_period=_get(doc, "StartPeriod", int, what, 0),
                   retries=_get(doc, "Retries", int, what, 0))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"Test": list(self.test)}
        for key, value in (("Interval", self.interval), ("Timeout", self.timeout),
                           ("StartPeriod", self.start_period), ("Retries", self.retries)):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    """The ``config`` object of an image config: how to run a container of it."""

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    stop_signal: str = ""
    on_build: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None
    shell: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "image config: config") -> ContainerConfig:
        if not isinstance(doc, Mapping):
            raise SpecError(f"{what}: must be an object")
        hc = _get(doc, "Healthcheck", dict, what)
        return cls(
            user=_get(doc, "User", str, what, ""),
            exposed_ports=_key_set(doc, "ExposedPorts", what),
            env=_str_list(doc, "Env", what) or (),
            entrypoint=_str_list(doc, "Entrypoint", what),
            cmd=_str_list(doc, "Cmd", what),
            volumes=_key_set(doc, "Volumes", what),
            working_dir=_get(doc, "WorkingDir", str, what, ""),
            labels=_str_map(doc, "Labels", what),
            stop_signal=_get(doc, "StopSignal", str, what, ""),
            on_build=_str_list(doc, "OnBuild", what) or (),
            healthcheck=Healthcheck.from_dict(hc, f"{what}: Healthcheck") if hc else None,
            shell=_str_list(doc, "Shell", what),
        )

    def to_dict(self) -> dict[str, object]:
        """The spec's keys; empty optional fields are left out, as Docker writes them."""
        pairs: list[tuple[str, object]] = [
            ("User", self.user),
            ("ExposedPorts", {p: {} for p in self.exposed_ports}),
            ("Env", list(self.env)),
            ("Entrypoint", None if self.entrypoint is None else list(self.entrypoint)),
            ("Cmd", None if self.cmd is None else list(self.cmd)),
            ("Volumes", {v: {} for v in self.volumes}),
            ("WorkingDir", self.working_dir),
            ("Labels", dict(self.labels)),
            ("StopSignal", self.stop_signal),
            ("OnBuild", list(self.on_build)),
            ("Healthcheck", self.healthcheck.to_dict() if self.healthcheck else None),
            ("Shell", None if self.shell is None else list(self.shell)),
        ]
        return {k: v for k, v in pairs if v not in (None, "", [], {})}


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_dict(cls, doc: Doc, what: str) -> HistoryEntry:
        return cls(created=_get(doc, "created", str, what, ""),
                   created_by=_get(doc, "created_by", str, what, ""),
                   author=_get(doc, "author", str, what, ""),
                   comment=_get(doc, "comment", str, what, ""),
                   empty_layer=_get(doc, "empty_layer", bool, what, False))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"created": self.created, "created_by": self.created_by}
        if self.author:
            out["author"] = self.author
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageConfig:
    architecture: str
    os: str
    diff_ids: tuple[str, ...]
    config: ContainerConfig = ContainerConfig()
    created: str = ""
    author: str = ""
    history: tuple[HistoryEntry, ...] = ()
    variant: str | None = None

    @classmethod
    def from_dict(cls, doc: Doc, what: str = "image config") -> ImageConfig:
        if not isinstance(doc, Mapping):
            raise SpecError(f"{what}: must be an object")
        rootfs = _get(doc, "rootfs", dict, what, {})
        _run_checks(what, [
            (bool(_get(doc, "architecture", str, what, "")), "field 'architecture' is required"),
            (bool(_get(doc, "os", str, what, "")), "field 'os' is required"),
            (rootfs.get("type") == "layers", "rootfs.type must be \"layers\""),
        ])
        diff_ids = _str_list(rootfs, "diff_ids", f"{what}: rootfs") or ()
        for diff_id in diff_ids:
            validate(diff_id)
        history = _get(doc, "history", list, what, [])
        return cls(
            architecture=doc["architecture"], os=doc["os"], diff_ids=diff_ids,
            config=ContainerConfig.from_dict(_get(doc, "config", dict, what, {})),
            created=_get(doc, "created", str, what, ""),
            author=_get(doc, "author", str, what, ""),
            history=tuple(HistoryEntry.from_dict(h, f"{what}: history[{i}]")
                          for i, h in enumerate(history)),
            variant=_get(doc, "variant", str, what),
        )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        out["config"] = self.config.to_dict()
        out["rootfs"] = {"type": "layers", "diff_ids": list(self.diff_ids)}
        out["history"] = [h.to_dict() for h in self.history]
        return out


def canonical_json(doc: Mapping[str, object]) -> bytes:
    """The bytes pyker writes for a document it creates (sorted keys, no spaces)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def parse_json(data: bytes, what: str, parser: Callable[[Doc, str], object]) -> object:
    """Decode ``data`` and hand it to ``parser``; bad JSON is a :class:`SpecError`."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SpecError(f"{what}: not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise SpecError(f"{what}: must be a JSON object")
    return parser(doc, what)
