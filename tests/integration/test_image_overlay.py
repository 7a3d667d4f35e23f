"""A container root from the store's own layers: overlay over unpacked image layers.

What the runtime will do for every container, shown on an imported image: the
image's layers are lowerdirs, a write goes to the upper dir only (copy-on-write), and the
upper dir turned back into a layer tar carries the change and the whiteout of a deletion.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pyker.fs.layer import write_layer
from pyker.fs.overlay import mount_overlay, umount
from pyker.image.check import check
from pyker.image.importer import import_tarball
from pyker.image.store import ImageStore
from tarballs import tar_of

pytestmark = pytest.mark.requires("root", "overlay")


def test_copy_on_write_over_store_layers(tmp_path: Path):
    store = ImageStore(tmp_path / "store")
    image = import_tarball(store, io.BytesIO(tar_of({"etc/motd": b"from the image\n",
                                                      "etc/gone": b"bye\n"})), source="-")
    (layer,) = store.layers_of(image)
    upper, work, merged = (tmp_path / n for n in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    mount_overlay([layer.path], upper, work, merged)
    try:
        (merged / "etc/motd").write_text("changed in the container\n")
        (merged / "etc/gone").unlink()
        (merged / "new").write_text("added\n")
        assert (merged / "etc/motd").read_text() == "changed in the container\n"
    finally:
        umount(merged)
    assert (layer.path / "etc/motd").read_text() == "from the image\n"
    assert (layer.path / "etc/gone").exists()
    out = io.BytesIO()
    write_layer(upper, out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        names = sorted(tar.getnames())
        assert tar.extractfile("etc/motd").read() == b"changed in the container\n"
    assert names == ["etc", "etc/.wh.gone", "etc/motd", "new"]
    assert check(store).ok


def test_an_image_with_the_same_layer_twice_mounts(tmp_path: Path):
    """Identical layers share one dir; overlayfs refuses a dir twice (ELOOP), so repeats
    are mounted from copies and the stack keeps its order."""
    from dataclasses import replace

    store = ImageStore(tmp_path / "store")
    image = import_tarball(store, io.BytesIO(tar_of({"f": b"same\n"})), source="-")
    (desc,) = image.manifest.layers
    twice = replace(image.config, diff_ids=image.config.diff_ids * 2)
    with store.locked():
        doubled = store.commit(twice, [desc, desc])
    merged = tmp_path / "merged"
    for d in ("upper", "work", "merged"):
        (tmp_path / d).mkdir()
    lowers = store.lower_dirs(doubled, tmp_path)
    assert len(lowers) == 2 and lowers[0] != lowers[1]
    mount_overlay(lowers, tmp_path / "upper", tmp_path / "work", merged)
    try:
        assert (merged / "f").read_text() == "same\n"
    finally:
        umount(merged)
