"""save/load against tools nobody here wrote: skopeo, umoci and runc (Debian packages)."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile

import pytest

pytestmark = pytest.mark.requires("root", "busybox")


@pytest.fixture
def busybox(pyker):
    pyker("bootstrap", "busybox")
    return pyker.out("image", "inspect", "-f", "{{.Id}}", "busybox").strip()


@pytest.mark.requires("skopeo")
def test_skopeo_reads_save_as_docker_and_oci_archive(pyker, busybox, tmp_path):
    archive = tmp_path / "busybox.tar"
    pyker("save", "-o", str(archive), "busybox")
    for transport in ("docker-archive", "oci-archive"):
        out = subprocess.run(["skopeo", "inspect", "--config", f"{transport}:{archive}"],
                             capture_output=True, text=True, check=True)
        config = json.loads(out.stdout)
        assert config["config"]["Cmd"] == ["sh"]
    out = subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["RepoTags"] == [] or "busybox" in out.stdout


@pytest.mark.requires("umoci", "runc")
def test_umoci_unpacks_save_and_runc_runs_it(pyker, busybox, tmp_path):
    archive = tmp_path / "busybox.tar"
    pyker("save", "-o", str(archive), "busybox")
    layout = tmp_path / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    bundle = tmp_path / "bundle"
    # umoci finds images by the ref.name annotation, which pyker sets to the tag.
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)],
                   check=True, capture_output=True)
    assert (bundle / "rootfs" / "bin" / "busybox").exists()
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["/bin/sh", "-c", "echo hello from runc"]
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    name = f"pyker-test-{os.getpid()}"
    out = subprocess.run(["runc", "run", "--bundle", str(bundle), name],
                         capture_output=True, text=True, timeout=60)
    subprocess.run(["runc", "delete", "-f", name], capture_output=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hello from runc"


@pytest.mark.requires("umoci")
def test_image_made_by_umoci_loads(pyker, tmp_path):
    layout = tmp_path / "oci"
    run = lambda *a: subprocess.run(["umoci", *a], check=True, capture_output=True)
    run("init", "--layout", str(layout))
    run("new", "--image", f"{layout}:v1")
    bundle = tmp_path / "bundle"
    run("unpack", "--image", f"{layout}:v1", str(bundle))
    (bundle / "rootfs" / "greeting").write_text("made by umoci\n")
    run("repack", "--image", f"{layout}:v1", str(bundle))
    run("config", "--image", f"{layout}:v1", "--config.cmd", "cat", "--config.cmd", "/greeting")
    archive = tmp_path / "umoci.tar"
    with tarfile.open(archive, "w") as tar:
        for entry in sorted(layout.iterdir()):
            tar.add(entry, arcname=entry.name)
    out = pyker.out("load", "-i", str(archive))
    assert out.startswith("Loaded image ID: sha256:")
    image_id = out.split()[-1]
    pyker("tag", image_id, "from-umoci:v1")
    doc = json.loads(pyker.out("image", "inspect", "from-umoci:v1"))[0]
    assert doc["Id"] == image_id and doc["Config"]["Cmd"] == ["cat", "/greeting"]
    rows = pyker.out("images", "--format", "{{.Repository}} {{.Tag}} {{.Size}}").splitlines()
    assert rows == ["from-umoci v1 14B"]


def test_save_load_round_trip_keeps_ids_and_tags(pyker, busybox, tmp_path, data_root):
    archive = tmp_path / "b.tar"
    pyker("tag", "busybox", "mine:1")
    pyker("save", "-o", str(archive), "busybox", "mine:1")
    pyker("rmi", "busybox", "mine:1")
    assert pyker.out("images", "-q") == ""
    out = pyker.out("load", input=archive.read_bytes())
    assert out == "Loaded image: busybox:latest\nLoaded image: mine:1\n"
    assert pyker.out("image", "inspect", "-f", "{{.Id}}", "mine:1").strip() == busybox
    assert "consistent" in pyker.out("system", "check")


def test_load_refuses_a_corrupt_blob_and_leaves_the_store(pyker, busybox, tmp_path, data_root):
    archive = tmp_path / "b.tar"
    pyker("save", "-o", str(archive), "busybox")
    pyker("rmi", "busybox")
    tree = tmp_path / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    (tree / "manifest.json").unlink()  # force the OCI path, where every blob is hashed
    index = json.loads((tree / "index.json").read_text())
    manifest = json.loads((tree / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    layer = tree / "blobs/sha256" / manifest["layers"][0]["digest"][7:]
    data = bytearray(layer.read_bytes())
    data[600] ^= 0xFF
    layer.write_bytes(bytes(data))
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        for entry in sorted(tree.iterdir()):
            tar.add(entry, arcname=entry.name)
    before = sorted(p.name for p in (data_root / "image/blobs/sha256").iterdir())
    proc = pyker("load", "-i", str(bad), check=False)
    assert proc.returncode == 125
    assert b"digest mismatch" in proc.stderr and b"Traceback" not in proc.stderr
    assert pyker.out("images", "-q") == ""
    assert sorted(p.name for p in (data_root / "image/blobs/sha256").iterdir()) == before
    assert list((data_root / "tmp").iterdir()) == []
