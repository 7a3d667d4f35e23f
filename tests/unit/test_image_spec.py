"""OCI image documents parse once, validate with checks naming the field, and round-trip."""

import pytest

from pyker.errors import SpecError
from pyker.spec.image import (
    MEDIA_OCI_LAYER, ContainerConfig, Descriptor, ImageConfig, Index, Manifest, canonical_json,
    parse_json,
)

D = "sha256:" + "1" * 64
CONFIG = {
    "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "ExposedPorts": {"80/tcp": {}},
               "Labels": {"a": "b"}},
    "rootfs": {"type": "layers", "diff_ids": [D]},
    "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "x"},
                {"created_by": "CMD", "empty_layer": True}],
}


def test_config_round_trip():
    config = ImageConfig.from_dict(CONFIG)
    assert config.config.cmd == ("sh",) and config.config.exposed_ports == ("80/tcp",)
    assert ImageConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["rootfs"] == {"type": "layers", "diff_ids": [D]}


def test_empty_container_config_writes_nothing():
    assert ContainerConfig().to_dict() == {}


@pytest.mark.parametrize("patch, message", [
    ({"architecture": ""}, "architecture"),
    ({"rootfs": {"type": "tar"}}, "rootfs.type"),
    ({"rootfs": {"type": "layers", "diff_ids": ["nope"]}}, "invalid digest"),
    ({"config": {"Cmd": "sh"}}, "'Cmd' must be list"),
    ({"history": [{"empty_layer": "yes"}]}, "history[0]"),
])
def test_config_checks_name_the_field(patch, message):
    with pytest.raises(SpecError, match=message.replace("[", r"\[")):
        ImageConfig.from_dict({**CONFIG, **patch})


def test_manifest_and_index():
    desc = {"mediaType": MEDIA_OCI_LAYER, "digest": D, "size": 3}
    doc = {"schemaVersion": 2, "config": {**desc, "mediaType": "application/x"},
           "layers": [desc]}
    manifest = Manifest.from_dict(doc)
    assert manifest.layers[0] == Descriptor(media_type=MEDIA_OCI_LAYER, digest=D, size=3)
    assert Manifest.from_dict(manifest.to_dict()) == manifest
    index = Index.from_dict({"schemaVersion": 2, "manifests": [
        {**desc, "annotations": {"k": "v"}}]})
    assert index.manifests[0].annotations == {"k": "v"}
    with pytest.raises(SpecError, match="schemaVersion"):
        Manifest.from_dict({**doc, "schemaVersion": 1})
    with pytest.raises(SpecError, match=r"layers\[0\]: unsupported mediaType"):
        Manifest.from_dict({**doc, "layers": [{**desc, "mediaType": "text/plain"}]})


def test_parse_json_refuses_garbage():
    with pytest.raises(SpecError, match="not valid JSON"):
        parse_json(b"{", "cfg", ImageConfig.from_dict)
    assert canonical_json({"b": 1, "a": [1]}) == b'{"a":[1],"b":1}'
