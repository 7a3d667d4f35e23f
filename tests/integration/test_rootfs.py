"""Base-image trees built from the host's packages: busybox-static and debootstrap."""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from pyker.errors import BootstrapError
from pyker.image.rootfs import busybox_rootfs, debian_rootfs, elf_interpreter

# A debootstrap package cache that outlives the test: a second run downloads nothing.
DEBOOTSTRAP_CACHE = Path("/var/cache/pyker-debootstrap-test")


def listing(root: Path) -> list[tuple]:
    """What a layer tar records of a tree: names, types, modes, owners, mtimes, contents."""
    rows = []
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            what = (st.st_nlink, hashlib.sha256(path.read_bytes()).hexdigest())
        elif stat.S_ISLNK(st.st_mode):
            what = (os.readlink(path),)
        else:
            what = ()
        rows.append((str(path.relative_to(root)), st.st_mode, st.st_uid, st.st_gid,
                     st.st_mtime_ns, *what))
    return rows


def elf64(*, interp: bytes | None) -> bytes:
    """A minimal little-endian ELF64 header with one program header (PT_INTERP or PT_LOAD)."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 32, 64)              # e_phoff
    struct.pack_into("<HH", header, 54, 56, 1)          # e_phentsize, e_phnum
    p_type, payload = (3, interp + b"\0") if interp else (1, b"")
    phdr = struct.pack("<IIQQQQQQ", p_type, 4, 120, 0, 0, len(payload), len(payload), 1)
    return bytes(header) + phdr + payload


def test_elf_interpreter_of_crafted_headers(tmp_path: Path) -> None:
    static, dynamic, text = tmp_path / "static", tmp_path / "dynamic", tmp_path / "script"
    static.write_bytes(elf64(interp=None))
    dynamic.write_bytes(elf64(interp=b"/lib/ld-musl-x86_64.so.1"))
    text.write_text("#!/bin/sh\n")
    assert elf_interpreter(static) is None
    assert elf_interpreter(dynamic) == "/lib/ld-musl-x86_64.so.1"
    with pytest.raises(BootstrapError, match="script: not an ELF executable"):
        elf_interpreter(text)


def test_dynamic_or_missing_busybox_is_refused(tmp_path: Path) -> None:
    dynamic = tmp_path / "busybox"
    dynamic.write_bytes(elf64(interp=b"/lib64/ld-linux-x86-64.so.2"))
    with pytest.raises(BootstrapError, match=f"{dynamic}: dynamically linked.*busybox-static"):
        busybox_rootfs(tmp_path / "a", busybox=dynamic)
    with pytest.raises(BootstrapError, match="nope: cannot read.*apt-get install busybox-static"):
        busybox_rootfs(tmp_path / "b", busybox=tmp_path / "nope")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.requires("busybox")
def test_busybox_tree_like_the_official_image(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    busybox_rootfs(root)
    assert elf_interpreter(root / "bin/busybox") is None
    assert (root / "bin/sh").samefile(root / "bin/busybox")  # a hard link, not a copy
    assert (root / "bin/ls").stat().st_nlink > 100
    assert os.readlink(root / "usr/bin/env") == "../../bin/env"
    passwd = (root / "etc/passwd").read_text().splitlines()
    assert "root:x:0:0:root:/root:/bin/sh" in passwd
    assert "nobody:x:65534:65534:nobody:/home:/bin/false" in passwd
    assert "nogroup" not in (root / "etc/group").read_text()
    assert "nobody:x:65534:" in (root / "etc/group").read_text().splitlines()
    assert stat.S_IMODE((root / "etc/shadow").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    for empty in ("dev", "proc", "sys", "tmp", "root", "home"):
        assert list((root / empty).iterdir()) == [], empty
    assert not (root / "etc/hostname").exists()  # the runtime writes it
    out = subprocess.run([root / "bin/busybox", "echo", "hi"], capture_output=True,
                         check=True).stdout
    assert out == b"hi\n"


@pytest.mark.requires("busybox")
def test_busybox_tree_is_reproducible(tmp_path: Path) -> None:
    busybox_rootfs(tmp_path / "one")
    busybox_rootfs(tmp_path / "two")
    first = listing(tmp_path / "one")
    assert len(first) > 250
    assert first == listing(tmp_path / "two")
    assert {row[4] for row in first} == {Path("/bin/busybox").stat().st_mtime_ns // 10**9 * 10**9}


@pytest.mark.requires("busybox")
def test_busybox_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "keep").write_text("mine")
    with pytest.raises(BootstrapError, match="not an empty directory"):
        busybox_rootfs(tmp_path)
    assert (tmp_path / "keep").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.requires("root", "debootstrap")
def test_debian_by_debootstrap_is_image_like(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    lines: list[str] = []
    debian_rootfs(root, progress=lines.append, cache_dir=DEBOOTSTRAP_CACHE)
    assert lines[-1] == "I: Base system installed successfully."
    assert any(line.startswith("I: Extracting ") for line in lines)
    assert not any(line.startswith("I: Validating") for line in lines)
    os_release = (root / "etc/os-release").read_text()
    assert "VERSION_CODENAME=bookworm" in os_release
    assert list((root / "dev").iterdir()) == []
    assert not list((root / "var/cache/apt/archives").glob("*.deb"))
    assert not [p for p in (root / "var/lib/apt/lists").rglob("*") if p.is_file()]
    assert not (root / "etc/hostname").exists()
    assert (root / "etc/resolv.conf").read_bytes() == b""
    assert not (root / "etc/machine-id").exists() or (root / "etc/machine-id").stat().st_size == 0
    assert os.access(root / "usr/sbin/policy-rc.d", os.X_OK)
    # the tree runs: dpkg inside it knows apt is installed (chroot, as a build step would)
    status = subprocess.run(["chroot", root, "dpkg-query", "-W", "-f=${Status}", "apt"],
                            capture_output=True, text=True, check=True).stdout
    assert status == "install ok installed"


@pytest.mark.requires("root", "debootstrap")
def test_debootstrap_failure_names_its_log(tmp_path: Path) -> None:
    from pyker.image.rootfs import DebianSource

    nowhere = DebianSource(uri="http://127.0.0.1:9/debian", suite="bookworm",
                           components=("main",))
    lines: list[str] = []
    with pytest.raises(BootstrapError, match=r"exited \d+; full log: .*debootstrap\.log"):
        debian_rootfs(tmp_path / "rootfs", progress=lines.append, source=nowhere)
    assert lines  # debootstrap's own words reached the caller before the failure
