"""Hostile layer tars are refused, naming the entry, and nothing lands outside the layer.

Each case points its escape at a *sentinel* directory next to the layer, so that a missed
check would show as a file there (the real targets, /etc/passwd and /dev/sda, are in the
cases too, by name). Root, because the unpacker as root is the one that could do harm.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from pyker.errors import LayerEscape
from pyker.fs.layer import apply_layer
from tarballs import entry, tar_bytes

pytestmark = pytest.mark.requires("root")


def _m(name: str, kind: bytes = tarfile.REGTYPE, **kw) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, kind, kw.pop("data", b"pwned\n"), **kw)


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """tmp/a/b/layer (the destination), tmp/sentinel (must stay empty), tmp/victim (a file)."""
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "sentinel").mkdir()
    (tmp_path / "victim").write_bytes(b"original\n")
    return tmp_path


def _layer(sandbox: Path) -> Path:
    return sandbox / "a/b/layer"


def _refused(sandbox: Path, data: bytes, entry: str, reason: str) -> LayerEscape:
    with pytest.raises(LayerEscape) as exc:
        apply_layer(io.BytesIO(data), _layer(sandbox), name="evil")
    err = exc.value
    assert err.entry == entry
    assert f'layer evil: entry "{entry}" {reason}' in str(err)
    assert list((sandbox / "sentinel").iterdir()) == []
    assert (sandbox / "victim").read_bytes() == b"original\n"
    assert (sandbox / "victim").stat().st_nlink == 1
    assert sorted(p.name for p in sandbox.iterdir()) == ["a", "sentinel", "victim"]
    assert sorted(p.name for p in (sandbox / "a").iterdir()) == ["b"]
    assert sorted(p.name for p in (sandbox / "a/b").iterdir()) == ["layer"]
    return err


@pytest.mark.parametrize("name", [
    "../etc/passwd",
    "../../../sentinel/pwned",
    "ok/../../../../sentinel/pwned",
    "./../../../sentinel/pwned",
])
def test_dotdot_climbing_out(sandbox: Path, name: str) -> None:
    _refused(sandbox, tar_bytes(_m(name)), name, "escapes the layer")


@pytest.mark.parametrize("name", ["/etc/passwd", "SENTINEL/pwned"])
def test_absolute_path(sandbox: Path, name: str) -> None:
    name = name.replace("SENTINEL", str(sandbox / "sentinel"))
    _refused(sandbox, tar_bytes(_m(name)), name, "escapes the layer (absolute path)")


def test_file_through_a_symlinked_parent(sandbox: Path) -> None:
    data = tar_bytes(_m("a", tarfile.SYMTYPE, linkname=str(sandbox / "sentinel")),
                _m("a/file"))
    _refused(sandbox, data, "a/file", 'escapes the layer (its parent "a" is a symlink)')
    assert os.readlink(_layer(sandbox) / "a") == str(sandbox / "sentinel")  # kept, inert


def test_directory_through_a_deeper_symlinked_parent(sandbox: Path) -> None:
    data = tar_bytes(_m("usr", tarfile.DIRTYPE),
                _m("usr/lib", tarfile.SYMTYPE, linkname=str(sandbox / "sentinel")),
                _m("usr/lib/x/y", tarfile.DIRTYPE))
    _refused(sandbox, data, "usr/lib/x/y", 'escapes the layer (its parent "usr/lib" is')


@pytest.mark.parametrize("target", ["../../x", "../../../victim", "VICTIM"])
def test_hard_link_out_of_the_layer(sandbox: Path, target: str) -> None:
    target = target.replace("VICTIM", str(sandbox / "victim"))
    data = tar_bytes(_m("h", tarfile.LNKTYPE, linkname=target))
    _refused(sandbox, data, "h", f'escapes the layer (hard link to "{target}")')


def test_hard_link_to_a_file_not_yet_unpacked(sandbox: Path) -> None:
    data = tar_bytes(_m("h", tarfile.LNKTYPE, linkname="later"), _m("later"))
    _refused(sandbox, data, "h", 'escapes the layer (hard link to "later", not in the layer)')


def test_hard_link_through_a_symlinked_parent(sandbox: Path) -> None:
    data = tar_bytes(_m("s", tarfile.SYMTYPE, linkname=str(sandbox)),
                _m("h", tarfile.LNKTYPE, linkname="s/victim"))
    _refused(sandbox, data, "h", 'escapes the layer (hard link to "s/victim", not in')


def test_symlink_climbing_above_the_root(sandbox: Path) -> None:
    data = tar_bytes(_m("evil", tarfile.SYMTYPE, linkname="../../../../"),
                _m("evil/file"))
    _refused(sandbox, data, "evil", 'escapes the layer (symlink to "../../../../")')


def test_relative_symlink_inside_is_fine_but_not_as_a_parent(sandbox: Path) -> None:
    data = tar_bytes(_m("real", tarfile.DIRTYPE),
                _m("d/up", tarfile.SYMTYPE, linkname="../real"),
                _m("d/up/file"))
    _refused(sandbox, data, "d/up/file", 'escapes the layer (its parent "d/up" is a symlink)')
    assert list((_layer(sandbox) / "real").iterdir()) == []


@pytest.mark.parametrize(("kind", "dev"), [(tarfile.CHRTYPE, (8, 0)),
                                           (tarfile.BLKTYPE, (8, 0)),
                                           (tarfile.CHRTYPE, (0, 0))])
def test_device_nodes(sandbox: Path, kind: bytes, dev: tuple[int, int]) -> None:
    _refused(sandbox, tar_bytes(_m("dev/sda", kind, dev=dev)), "dev/sda", "is a device node")
    assert not (_layer(sandbox) / "dev/sda").exists()


def test_forged_overlay_redirect(sandbox: Path) -> None:
    pax = {"SCHILY.xattr.trusted.overlay.redirect": "/etc"}
    data = tar_bytes(_m("d", tarfile.DIRTYPE, pax=pax))
    _refused(sandbox, data, "d", 'carries overlay metadata "trusted.overlay.redirect"')


def test_an_honest_layer_next_to_the_same_sentinel(sandbox: Path) -> None:
    """The control case: the same sandbox, a legitimate layer, no error."""
    data = tar_bytes(_m("bin", tarfile.DIRTYPE),
                _m("bin/busybox"),
                _m("bin/sh", tarfile.SYMTYPE, linkname="/bin/busybox"),
                _m("etc/alternatives/x", tarfile.SYMTYPE, linkname="../../bin/busybox"),
                _m("bin/cat", tarfile.LNKTYPE, linkname="./bin/busybox"))
    applied = apply_layer(io.BytesIO(data), _layer(sandbox), name="honest")
    assert applied.entries == 5
    assert list((sandbox / "sentinel").iterdir()) == []
    assert stat.S_ISLNK(os.lstat(_layer(sandbox) / "bin/sh").st_mode)
