"""Extended attributes survive ``pyker cp`` and a build's ``COPY`` of a single file.

Docker copies through a tar with the xattrs in PAX records, so a binary given
``cap_net_bind_service+ep`` by setcap keeps it. The proof here is the kernel's own: a
non-root user binds port 80 with the copied binary, and not with the same binary without
the attribute. Everything runs in containers with ``--network none`` (their own loopback).
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.requires("root", "overlay", "busybox")

CAP = "security.capability"
NOTE = "user.pyker.note"
# struct vfs_cap_data, revision 2 (linux/capability.h): magic_etc = VFS_CAP_REVISION_2 |
# VFS_CAP_FLAGS_EFFECTIVE, then (permitted, inheritable) for caps 0-31 and 32-63.
# CAP_NET_BIND_SERVICE is capability 10.
NET_BIND_EP = struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0)


def _setcap(path: Path) -> bytes:
    """``cap_net_bind_service+ep`` on ``path``, by setcap where libcap2-bin is installed."""
    setcap = shutil.which("setcap")
    if setcap:
        subprocess.run([setcap, "cap_net_bind_service+ep", str(path)], check=True)
    else:
        os.setxattr(path, CAP, NET_BIND_EP)
    value = os.getxattr(path, CAP)
    magic, permitted = struct.unpack_from("<2I", value)
    assert magic & 1 and permitted == 1 << 10, value.hex()  # effective, NET_BIND_SERVICE
    return value


def _pid(pk, name: str) -> int:
    for _ in range(100):
        pid = int(pk.out("inspect", "-f", "{{.State.Pid}}", name))
        if pid:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"{name} has no process")


def _pax(stream: bytes) -> dict[str, dict[str, str]]:
    with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
        return {m.name: m.pax_headers for m in tar}


def _binds_80(pk, *argv: str) -> subprocess.CompletedProcess[bytes]:
    """``argv`` runs busybox's httpd (as uid 1000), which forks into the background once
    port 80 is bound, and fails with "Permission denied" if it cannot bind it."""
    return pk(*argv, "-p", "80", check=False)


@pytest.fixture(scope="module")
def busybox_binary(pk, tmp_path_factory) -> Path:
    """The image's own busybox, copied out: a binary that runs in the containers."""
    out = tmp_path_factory.mktemp("bin")
    pk("create", "--name", "source", "busybox")
    pk("cp", "source:/bin/busybox", str(out / "busybox"))
    pk("rm", "source")
    assert os.listxattr(out / "busybox") == []
    return out / "busybox"


def test_cp_keeps_xattrs_into_and_out_of_a_container(pk, tmp_path, busybox_binary):
    binary = tmp_path / "httpd"  # busybox runs the applet its name says
    shutil.copy2(busybox_binary, binary)
    cap = _setcap(binary)
    os.setxattr(binary, NOTE, b"lab 04")
    (tmp_path / "notes").mkdir()
    os.setxattr(tmp_path / "notes", NOTE, b"a directory's own")
    (tmp_path / "notes" / "a.txt").write_text("a\n")
    os.setxattr(tmp_path / "notes" / "a.txt", NOTE, b"inside")

    pk("run", "-d", "--name", "xa", "--network", "none", "busybox", "sleep", "300")
    root = Path(f"/proc/{_pid(pk, 'xa')}/root")
    pk("cp", str(binary), "xa:/")
    pk("cp", str(tmp_path / "notes"), "xa:/tmp")  # lands in it: /tmp/notes
    assert os.getxattr(root / "httpd", CAP) == cap
    assert os.getxattr(root / "httpd", NOTE) == b"lab 04"
    assert os.getxattr(root / "tmp" / "notes", NOTE) == b"a directory's own"
    assert os.getxattr(root / "tmp" / "notes" / "a.txt", NOTE) == b"inside"

    # The kernel grants the file capability: uid 1000 binds port 80 with the copy only.
    assert _binds_80(pk, "exec", "-u", "1000", "xa", "/httpd").returncode == 0
    denied = _binds_80(pk, "exec", "-u", "1000", "xa", "/bin/busybox", "httpd")
    assert denied.returncode != 0 and b"Permission denied" in denied.stderr

    out = tmp_path / "out"
    out.mkdir()
    pk("cp", "xa:/httpd", str(out / "back"))
    pk("cp", "xa:/tmp/notes", str(out))
    assert os.getxattr(out / "back", CAP) == cap
    assert os.getxattr(out / "back", NOTE) == b"lab 04"
    assert os.getxattr(out / "notes", NOTE) == b"a directory's own"
    assert os.getxattr(out / "notes" / "a.txt", NOTE) == b"inside"
    headers = _pax(pk("cp", "xa:/httpd", "-").stdout)["httpd"]
    assert headers["SCHILY.xattr." + CAP].encode("utf-8", "surrogateescape") == cap
    pk("rm", "-f", "xa")


def test_build_copy_of_one_file_keeps_its_xattrs(pk, tmp_path, busybox_binary):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy2(busybox_binary, ctx / "httpd")
    cap = _setcap(ctx / "httpd")
    (ctx / "note.txt").write_text("hello\n")
    os.setxattr(ctx / "note.txt", NOTE, b"kept by COPY")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY httpd /usr/local/bin/\n"
                                    "COPY note.txt /srv/renamed.txt\n"
                                    "COPY --chown=1000:1000 httpd /home/owned-httpd\n")
    pk("build", "-t", "xattr-copy", str(ctx))

    pk("run", "-d", "--name", "xb", "--network", "none", "xattr-copy", "sleep", "300")
    root = Path(f"/proc/{_pid(pk, 'xb')}/root")
    assert os.getxattr(root / "usr/local/bin/httpd", CAP) == cap
    assert os.getxattr(root / "srv/renamed.txt", NOTE) == b"kept by COPY"
    # chown(2) clears security.capability: the attribute is written after the owner.
    owned = root / "home/owned-httpd"
    assert (owned.stat().st_uid, os.getxattr(owned, CAP)) == (1000, cap)
    pk("rm", "-f", "xb")

    assert _binds_80(pk, "run", "--rm", "-u", "1000", "--network", "none", "xattr-copy",
                     "/usr/local/bin/httpd").returncode == 0
    pk("rmi", "xattr-copy")
