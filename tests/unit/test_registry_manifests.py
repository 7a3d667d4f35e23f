"""Which manifest a pull takes, what this store records of registries, how progress shows,
and daemon.json's ``insecure-registries``: pure logic, checked against exact outputs."""

from __future__ import annotations

import io
import json

import pytest

from pyker import config as engine_config
from pyker.cli.progressbar import Display, bar
from pyker.errors import ConfigError, RegistryError, SpecError
from pyker.registry.manifests import kind_of, select_platform
from pyker.registry.progress import Event
from pyker.registry.records import MAX_SOURCES, Records
from pyker.spec.image import (
    MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, Descriptor,
    Index, Platform,
)

D = "sha256:" + "%064x"


def _entry(n: int, arch: str | None, variant: str | None = None, os: str = "linux",
           media: str = MEDIA_OCI_MANIFEST) -> Descriptor:
    plat = Platform(architecture=arch, os=os, variant=variant) if arch else None
    return Descriptor(media_type=media, digest=D % n, size=100, platform=plat)


# -- platform selection -------------------------------------------------------------------------

def test_picks_the_asked_architecture_and_skips_attestations():
    index = Index(manifests=(
        _entry(1, "unknown", os="unknown"), _entry(2, "arm64", "v8"), _entry(3, "amd64"),
        _entry(4, "s390x")))
    assert select_platform(index, architecture="amd64").digest == D % 3
    assert select_platform(index, architecture="arm64").digest == D % 2
    assert select_platform(index, architecture="s390x").digest == D % 4


def test_arm_variants_exact_match_first_then_an_entry_without_variant():
    index = Index(manifests=(_entry(1, "arm", "v6"), _entry(2, "arm"), _entry(3, "arm", "v7")))
    assert select_platform(index, architecture="arm", variant="v7").digest == D % 3
    assert select_platform(index, architecture="arm", variant="v5").digest == D % 2
    # arm64 with or without "v8" is one platform.
    arm64 = Index(manifests=(_entry(5, "arm64"),))
    assert select_platform(arm64, architecture="arm64", variant="v8").digest == D % 5


def test_windows_entries_do_not_match_linux():
    index = Index(manifests=(_entry(1, "amd64", os="windows"),))
    with pytest.raises(RegistryError, match="^index: no matching manifest for linux/amd64 in "
                                            "the manifest list entries$"):
        select_platform(index, architecture="amd64")


def test_a_lone_entry_without_platform_is_taken():
    assert select_platform(Index(manifests=(_entry(7, None),)), architecture="amd64").digest \
        == D % 7


def test_default_is_the_host_platform():
    from pyker.image.platform import host_architecture

    index = Index(manifests=(_entry(1, "riscv64" if host_architecture() != "riscv64" else "386"),
                             _entry(2, host_architecture())))
    assert select_platform(index).digest == D % 2


# -- media types --------------------------------------------------------------------------------

def test_kind_from_document_then_header_then_shape():
    doc = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_DOCKER_LIST,
                      "manifests": []}).encode()
    assert kind_of(doc, "application/json", "m") == MEDIA_DOCKER_LIST
    bare = json.dumps({"schemaVersion": 2, "config": {}, "layers": []}).encode()
    assert kind_of(bare, MEDIA_DOCKER_MANIFEST, "m") == MEDIA_DOCKER_MANIFEST
    assert kind_of(bare, "", "m") == MEDIA_OCI_MANIFEST
    assert kind_of(json.dumps({"schemaVersion": 2, "manifests": []}).encode(), "", "m") == \
        MEDIA_OCI_INDEX


def test_schema1_and_junk_are_refused_by_name():
    v1 = json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode()
    with pytest.raises(RegistryError, match="^m: Docker schema 1 manifests are not supported"):
        kind_of(v1, "application/vnd.docker.distribution.manifest.v1+prettyjws", "m")
    with pytest.raises(SpecError, match="^m: not valid JSON"):
        kind_of(b"<html>", "text/html", "m")
    with pytest.raises(SpecError, match="unsupported manifest media type 'text/plain'"):
        kind_of(b"{}", "text/plain", "m")


# -- records ------------------------------------------------------------------------------------

def test_records_sources_per_registry_most_recent_first(tmp_path):
    records = Records(tmp_path / "distribution")
    blob = D % 1
    records.remember(registry="r:5000", repository="one", blobs=[blob])
    records.remember(registry="r:5000", repository="two", blobs=[blob])
    records.remember(registry="other:5000", repository="three", blobs=[blob])
    records.remember(registry="r:5000", repository="one", blobs=[blob])
    assert records.sources(blob, "r:5000") == ["one", "two"]
    assert records.sources(blob, "other:5000") == ["three"]
    assert records.sources(D % 2, "r:5000") == []


def test_records_are_bounded_and_keep_repo_digests(tmp_path):
    records = Records(tmp_path)
    for n in range(MAX_SOURCES + 3):
        records.remember(registry="r", repository=f"repo{n}", blobs=[D % 1])
    assert len(records.sources(D % 1, "r")) == MAX_SOURCES
    records.remember(registry="r", repository="app", manifest_digest=D % 9, image_id=D % 8)
    assert records.image_for(f"r/app@{D % 9}") == D % 8
    assert records.repo_digests(D % 8) == [f"r/app@{D % 9}"]


def test_a_damaged_record_file_is_an_empty_record(tmp_path):
    (tmp_path / "records.json").write_text("{half")
    assert Records(tmp_path).sources(D % 1, "r") == []


# -- progress display ---------------------------------------------------------------------------

def test_bar_as_docker_draws_it():
    assert bar(0, 100) == "[>" + " " * 50 + "]       0B/100B"
    assert bar(2_620_000, 5_240_000) == "[" + "=" * 25 + ">" + " " * 25 + "]   2.62MB/5.24MB"
    assert bar(5_240_000, 5_240_000) == "[" + "=" * 50 + ">]   5.24MB/5.24MB"


def test_plain_output_prints_each_status_once():
    out = io.StringIO()
    show = Display(out, terminal=False)
    show.line("1.0: Pulling from app")
    for event in (Event("aaaaaaaaaaaa", "Pulling fs layer"),
                  Event("aaaaaaaaaaaa", "Downloading", 10, 100),
                  Event("aaaaaaaaaaaa", "Downloading", 50, 100),
                  Event("aaaaaaaaaaaa", "Pull complete")):
        show(event)
    show.result("r/app:1.0")
    assert out.getvalue() == ("1.0: Pulling from app\naaaaaaaaaaaa: Pulling fs layer\n"
                              "aaaaaaaaaaaa: Downloading\naaaaaaaaaaaa: Pull complete\n"
                              "r/app:1.0\n")


def test_quiet_prints_only_the_result():
    out = io.StringIO()
    show = Display(out, quiet=True, terminal=False)
    show.line("Digest: x")
    show(Event("aaaaaaaaaaaa", "Pushed"))
    show.result("r/app:1.0")
    assert out.getvalue() == "r/app:1.0\n"


def test_terminal_output_redraws_a_layer_line_in_place(monkeypatch):
    import os
    import shutil

    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a: os.terminal_size((120, 40)))
    out = io.StringIO()
    show = Display(out, terminal=True)
    show(Event("aaaaaaaaaaaa", "Pulling fs layer"))
    show(Event("bbbbbbbbbbbb", "Pulling fs layer"))
    show(Event("aaaaaaaaaaaa", "Downloading", 50, 100))
    expected = ("\x1b[2Kaaaaaaaaaaaa: Pulling fs layer\n"
                "\x1b[2Kbbbbbbbbbbbb: Pulling fs layer\n"
                f"\x1b[2A\r\x1b[2Kaaaaaaaaaaaa: Downloading {bar(50, 100)}\r\x1b[2B")
    assert out.getvalue() == expected


# -- daemon.json --------------------------------------------------------------------------------

def test_insecure_registries_from_daemon_json(tmp_path):
    cfg = tmp_path / "daemon.json"
    cfg.write_text(json.dumps({"insecure-registries": ["reg.lab:5000", "10.0.0.0/8"]}))
    loaded = engine_config.load({"PYKER_DAEMON_CONFIG": str(cfg)})
    assert loaded.insecure_registries == ("reg.lab:5000", "10.0.0.0/8")
    cfg.write_text(json.dumps({"insecure-registries": "reg.lab:5000"}))
    with pytest.raises(ConfigError, match='"insecure-registries" must be a list'):
        engine_config.load({"PYKER_DAEMON_CONFIG": str(cfg)})
