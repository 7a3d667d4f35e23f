"""Layer tars both ways (pyker.fs.layer): apply into overlay's form, write from a tree.

Tars are made in memory with tarfile; what needs mknod, chown or trusted/security xattrs is
marked ``requires("root")``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import stat
import tarfile
import threading
from pathlib import Path

import pytest

from pyker.errors import ArchiveError, LayerEscape
from pyker.fs.layer import apply_layer, write_layer
from tarballs import MTIME, entry, tar_bytes

# What `setcap cap_net_raw+ep` stores: VFS_CAP_REVISION_2, effective, permitted bit 13.
CAP_NET_RAW = bytes.fromhex("01000002" "00200000" "00000000" "00000000" "00000000")


def apply(data: bytes, dest: Path) -> object:
    return apply_layer(io.BytesIO(data), dest, name="test")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ReadOnly:
    """A bare reader that hands out small chunks, like a pipe or the store's tee."""

    def __init__(self, data: bytes, chunk: int = 777) -> None:
        self.buf, self.chunk = io.BytesIO(data), chunk

    def read(self, n: int = -1) -> bytes:
        return self.buf.read(self.chunk if n < 0 else min(n, self.chunk))


# -- apply: what arrives on disk --------------------------------------------------------------

def test_files_dirs_modes_and_mtimes(tmp_path: Path) -> None:
    data = tar_bytes(entry("etc", tarfile.DIRTYPE, mode=0o755),
                    entry("etc/hostname", data=b"box\n", mode=0o640),
                    entry("bin/tool", data=b"#!", mode=0o4755))
    applied = apply(data, tmp_path / "layer")
    layer = tmp_path / "layer"
    assert (layer / "etc/hostname").read_bytes() == b"box\n"
    assert stat.S_IMODE((layer / "etc/hostname").stat().st_mode) == 0o640
    assert stat.S_IMODE((layer / "bin/tool").stat().st_mode) == 0o4755  # setuid kept
    assert (layer / "etc").stat().st_mtime == MTIME  # set after its children were written
    assert (layer / "etc/hostname").stat().st_mtime == MTIME
    assert (layer / "bin").is_dir()  # a parent the tar does not list
    assert applied.entries == 3
    assert applied.size == 6


def test_diff_id_is_the_digest_of_the_tar_bytes(tmp_path: Path) -> None:
    data = tar_bytes(entry("a", data=b"x" * 5000))
    assert apply(data, tmp_path / "l").diff_id == sha256(data)


def test_diff_id_covers_padding_after_the_end_of_archive(tmp_path: Path) -> None:
    data = tar_bytes(entry("a", data=b"x")) + b"\0" * 40960
    assert apply(data, tmp_path / "l").diff_id == sha256(data)


def test_gzip_gives_the_diff_id_of_the_plain_tar(tmp_path: Path) -> None:
    data = tar_bytes(entry("a", data=b"hello"), entry("b", tarfile.SYMTYPE, linkname="a"))
    plain = apply(data, tmp_path / "plain")
    zipped = apply(gzip.compress(data), tmp_path / "gz")
    assert zipped.diff_id == plain.diff_id == sha256(data)
    assert (tmp_path / "gz/a").read_bytes() == b"hello"


@pytest.mark.parametrize("compress", [False, True])
def test_a_bare_reader_in_small_chunks(tmp_path: Path, compress: bool) -> None:
    data = tar_bytes(entry("big", data=os.urandom(300_000)))
    stream = ReadOnly(gzip.compress(data) if compress else data)
    applied = apply_layer(stream, tmp_path / "l", name="test")  # type: ignore[arg-type]
    assert applied.diff_id == sha256(data)


def test_a_pipe(tmp_path: Path) -> None:
    data = tar_bytes(*(entry(f"f{i}", data=os.urandom(20_000)) for i in range(20)))
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(w, data), os.close(w)))
    writer.start()
    with open(r, "rb", buffering=0) as stream:
        applied = apply_layer(stream, tmp_path / "l", name="stdin")
    writer.join()
    assert applied.diff_id == sha256(data)
    assert applied.entries == 20


def test_dot_slash_names_and_the_root_entry(tmp_path: Path) -> None:
    data = tar_bytes(entry("./", tarfile.DIRTYPE, mode=0o750), entry("./a/./b", data=b"1"))
    apply(data, tmp_path / "l")
    assert (tmp_path / "l/a/b").read_bytes() == b"1"
    assert stat.S_IMODE((tmp_path / "l").stat().st_mode) == 0o750


def test_symlinks_hard_links_and_fifos(tmp_path: Path) -> None:
    data = tar_bytes(entry("bin/busybox", data=b"ELF", mode=0o755),
                    entry("bin/sh", tarfile.SYMTYPE, linkname="/bin/busybox"),
                    entry("bin/ls", tarfile.SYMTYPE, linkname="busybox"),
                    entry("bin/cat", tarfile.LNKTYPE, linkname="bin/busybox"),
                    entry("run/fifo", tarfile.FIFOTYPE, mode=0o620))
    applied = apply(data, tmp_path / "l")
    layer = tmp_path / "l"
    assert os.readlink(layer / "bin/sh") == "/bin/busybox"  # absolute: the container's
    assert os.readlink(layer / "bin/ls") == "busybox"
    assert (layer / "bin/cat").stat().st_ino == (layer / "bin/busybox").stat().st_ino
    assert (layer / "bin/busybox").stat().st_nlink == 2
    fifo = os.lstat(layer / "run/fifo")
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o620
    assert applied.size == 3  # the hard link adds no bytes


def test_read_only_directory_gets_its_mode_at_the_end(tmp_path: Path) -> None:
    data = tar_bytes(entry("ro", tarfile.DIRTYPE, mode=0o555), entry("ro/f", data=b"x"))
    apply(data, tmp_path / "l")
    assert (tmp_path / "l/ro/f").read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "l/ro").stat().st_mode) == 0o555


def test_unreadable_directories_are_finished_deepest_first(tmp_path: Path) -> None:
    data = tar_bytes(entry("a", tarfile.DIRTYPE, mode=0o700), entry("a/b", tarfile.DIRTYPE),
                    entry("a/b/f", data=b"x"), entry("a", tarfile.DIRTYPE, mode=0o600))
    apply(data, tmp_path / "l")
    os.chmod(tmp_path / "l/a", 0o700)
    assert stat.S_IMODE((tmp_path / "l/a/b").stat().st_mode) == 0o755
    assert (tmp_path / "l/a/b").stat().st_mtime == MTIME


def test_a_later_entry_replaces_an_earlier_one(tmp_path: Path) -> None:
    data = tar_bytes(entry("x", data=b"file"), entry("x", tarfile.DIRTYPE),
                    entry("x/in", data=b"1"),
                    entry("y", tarfile.DIRTYPE), entry("y/in", data=b"2"),
                    entry("y", tarfile.SYMTYPE, linkname="x"))
    apply(data, tmp_path / "l")
    assert (tmp_path / "l/x/in").read_bytes() == b"1"
    assert os.readlink(tmp_path / "l/y") == "x"


def test_user_xattrs(tmp_path: Path) -> None:
    data = tar_bytes(entry("f", data=b"x", xattrs={"user.note": b"\xff\x00bin"}))
    apply(data, tmp_path / "l")
    assert os.getxattr(tmp_path / "l/f", "user.note") == b"\xff\x00bin"


def test_aufs_metadata_is_ignored(tmp_path: Path) -> None:
    apply(tar_bytes(entry(".wh..wh.plnk", tarfile.DIRTYPE), entry("a", data=b"")), tmp_path / "l")
    assert sorted(os.listdir(tmp_path / "l")) == ["a"]


# -- apply: what is refused without root ----------------------------------------------------

@pytest.mark.parametrize(("data", "reason"), [
    (b"", "not a tar archive"),
    (b"this is not a tar archive at all\n" * 100, "not a tar archive"),
    (b"\x28\xb5\x2f\xfd" + b"\0" * 100, "zstd"),
])
def test_not_a_tar(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(ArchiveError, match=reason):
        apply(data, tmp_path / "l")


def test_truncated_in_the_middle_of_a_file(tmp_path: Path) -> None:
    data = tar_bytes(entry("a", data=b"x" * 100_000))
    with pytest.raises(ArchiveError, match="truncated archive"):
        apply(data[:50_000], tmp_path / "l")


def test_truncated_at_a_header_boundary(tmp_path: Path) -> None:
    data = tar_bytes(entry("a", data=b"x" * 512), entry("b", data=b"y" * 512))
    cut = data.index(b"y" * 512) + 512  # right after b's data: no end-of-archive blocks
    with pytest.raises(ArchiveError, match="truncated archive"):
        apply(data[:cut], tmp_path / "l")


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(tar_bytes(entry("a", data=os.urandom(50_000))))
    with pytest.raises(ArchiveError, match="gzip"):
        apply(data[: len(data) // 2], tmp_path / "l")


def test_garbage_after_the_first_entry(tmp_path: Path) -> None:
    data = tar_bytes(entry("a", data=b"x" * 512))
    with pytest.raises(ArchiveError, match="corrupt archive"):
        apply(data[:1024] + b"garbage!" * 64 + data[1024:], tmp_path / "l")


@pytest.mark.parametrize(("member", "message"), [
    (entry("f", data=b"x", xattrs={"trusted.overlay.redirect": b"/etc"}),
     'entry "f" carries overlay metadata "trusted.overlay.redirect"'),
    (entry("./", tarfile.SYMTYPE, linkname="/etc"), 'entry "./" replaces the layer root'),
])
def test_refused_entries(tmp_path: Path, member: tuple[tarfile.TarInfo, bytes],
                         message: str) -> None:
    with pytest.raises(LayerEscape, match=message):
        apply(tar_bytes(member), tmp_path / "l")


@pytest.mark.parametrize(("members", "message"), [
    ([entry(".wh.", data=b"")], 'entry ".wh." is a malformed whiteout'),
    ([entry("d", tarfile.DIRTYPE), entry("h", tarfile.LNKTYPE, linkname="d")],
     'entry "h" is a hard link to directory "d"'),
    ([entry("f", data=b""), entry("f/x", data=b"")], 'parent "f" is not a directory'),
    ([entry("s", tarfile.SYMTYPE)], 'entry "s" is a symlink to nothing'),
    ([entry("v", b"V")], "unsupported type"),
])
def test_broken_entries(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]],
                        message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        apply(tar_bytes(*members), tmp_path / "l")


# -- apply: what needs root -------------------------------------------------------------------

@pytest.mark.requires("root")
def test_owners_and_file_capabilities(tmp_path: Path) -> None:
    data = tar_bytes(entry("ping", data=b"ELF", mode=0o4755, uid=1000, gid=1001,
                          xattrs={"security.capability": CAP_NET_RAW}))
    apply(data, tmp_path / "l")
    st = (tmp_path / "l/ping").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o4755)
    assert os.getxattr(tmp_path / "l/ping", "security.capability") == CAP_NET_RAW


@pytest.mark.requires("root")
def test_whiteouts_become_overlay_s_own(tmp_path: Path) -> None:
    data = tar_bytes(entry("etc", tarfile.DIRTYPE), entry("etc/.wh.motd", data=b""),
                    entry("var/.wh..wh..opq", data=b""), entry("var/new", data=b"1"))
    apply(data, tmp_path / "l")
    motd = os.lstat(tmp_path / "l/etc/motd")
    assert stat.S_ISCHR(motd.st_mode) and motd.st_rdev == os.makedev(0, 0)
    assert not (tmp_path / "l/etc/.wh.motd").exists()
    assert os.getxattr(tmp_path / "l/var", "trusted.overlay.opaque") == b"y"
    assert sorted(os.listdir(tmp_path / "l/var")) == ["new"]


# -- write ------------------------------------------------------------------------------------

def _tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_bytes(b"box\n")
    (root / "bin").mkdir()
    (root / "bin/busybox").write_bytes(b"ELF")
    os.link(root / "bin/busybox", root / "bin/cat")
    (root / "bin/sh").symlink_to("/bin/busybox")
    os.mkfifo(root / "fifo")
    os.chmod(root / "bin/busybox", 0o4755)
    for path in (root / "etc/hostname", root / "bin/busybox", root / "bin", root / "etc"):
        os.utime(path, (MTIME + 0.5, MTIME + 0.5))
    return root


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def test_write_layer(tmp_path: Path) -> None:
    out = io.BytesIO()
    written = write_layer(_tree(tmp_path / "src"), out, root_is_upper=False)
    data = out.getvalue()
    assert written.diff_id == sha256(data) and written.size == len(data)
    assert written.content_size == 3 + 4  # busybox once, hostname
    assert _names(data) == ["bin", "bin/busybox", "bin/cat", "bin/sh", "etc", "etc/hostname",
                            "fifo"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmember("bin/cat").islnk()
        assert tar.getmember("bin/cat").linkname == "bin/busybox"
        assert tar.getmember("bin/sh").linkname == "/bin/busybox"
        assert tar.getmember("bin/busybox").mode == 0o4755
        assert tar.getmember("etc/hostname").mtime == MTIME  # whole seconds
        assert tar.getmember("fifo").isfifo()
        assert tar.getmember("etc").uname == ""


def test_write_layer_is_reproducible(tmp_path: Path) -> None:
    first, second = io.BytesIO(), io.BytesIO()
    src = _tree(tmp_path / "src")
    assert write_layer(src, first) == write_layer(src, second)
    assert first.getvalue() == second.getvalue()


def test_write_then_apply_then_write_gives_the_same_diff_id(tmp_path: Path) -> None:
    out = io.BytesIO()
    written = write_layer(_tree(tmp_path / "src"), out)
    applied = apply(out.getvalue(), tmp_path / "layer")
    again = write_layer(tmp_path / "layer", io.BytesIO())
    assert written.diff_id == applied.diff_id == again.diff_id


def test_write_layer_excludes_and_skips_sockets(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    (src / "dev").mkdir()
    (src / "dev/stuff").touch()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "sock"))
        out = io.BytesIO()
        write_layer(src, out, exclude=lambda p: p.startswith("dev/") or p == "etc")
    assert _names(out.getvalue()) == ["bin", "bin/busybox", "bin/cat", "bin/sh", "dev", "fifo"]


def test_write_layer_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"host")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/link").symlink_to(outside)
    out = io.BytesIO()
    write_layer(tmp_path / "src", out)
    assert _names(out.getvalue()) == ["link"]


def test_write_layer_keeps_user_xattrs(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/f").touch()
    os.setxattr(tmp_path / "src/f", "user.note", b"\xff\x00bin")
    out = io.BytesIO()
    write_layer(tmp_path / "src", out)
    apply(out.getvalue(), tmp_path / "l")
    assert os.getxattr(tmp_path / "l/f", "user.note") == b"\xff\x00bin"


@pytest.mark.requires("root")
def test_write_layer_translates_native_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "var").mkdir(parents=True)
    os.mknod(upper / "gone", stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(upper / "var", "trusted.overlay.opaque", b"y")
    os.setxattr(upper / "var", "trusted.overlay.origin", b"whatever")
    (upper / "bin").mkdir()
    (upper / "bin/ping").write_bytes(b"ELF")
    os.setxattr(upper / "bin/ping", "security.capability", CAP_NET_RAW)
    out = io.BytesIO()
    write_layer(upper, out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert tar.getnames() == ["bin", "bin/ping", ".wh.gone", "var", "var/.wh..wh..opq"]
        assert tar.getmember(".wh.gone").isreg()
        assert tar.getmember("var").pax_headers == {}  # overlay's own xattrs stay behind
        cap = tar.getmember("bin/ping").pax_headers["SCHILY.xattr.security.capability"]
        assert cap.encode("utf-8", "surrogateescape") == CAP_NET_RAW


@pytest.mark.requires("root")
def test_write_layer_refuses_device_nodes(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    os.mknod(tmp_path / "src/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with pytest.raises(ArchiveError, match='"null" is a device node'):
        write_layer(tmp_path / "src", io.BytesIO())


@pytest.mark.requires("root")
def test_a_plain_tree_has_no_whiteouts(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    os.mknod(tmp_path / "src/wh", stat.S_IFCHR, os.makedev(0, 0))
    with pytest.raises(ArchiveError, match='"wh" is a device node'):
        write_layer(tmp_path / "src", io.BytesIO(), root_is_upper=False)


@pytest.mark.requires("root")
def test_write_layer_refuses_an_overlay_redirect(tmp_path: Path) -> None:
    (tmp_path / "upper/moved").mkdir(parents=True)
    os.setxattr(tmp_path / "upper/moved", "trusted.overlay.redirect", b"/old")
    with pytest.raises(ArchiveError, match="redirect_dir=off"):
        write_layer(tmp_path / "upper", io.BytesIO())
