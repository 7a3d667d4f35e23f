"""Hostile tarballs and killed commands never corrupt the store nor write outside it."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tarballs import entry, tar_bytes

pytestmark = pytest.mark.requires("root")


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = "",
           devmajor: int = 0) -> tuple[tarfile.TarInfo, bytes]:
    return entry(name, kind, data, linkname=link, dev=(devmajor, 0))


def snapshot(root: Path) -> list[str]:
    """Every path under the data root except the lock file (its mtime may change)."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name != "lock")


def hostile(outside: Path) -> dict[str, tuple[bytes, str]]:
    return {
        "dotdot": (tar_bytes(member("../../../../../../etc/pyker-escape")), "../"),
        "absolute": (tar_bytes(member(str(outside / "abs"))), str(outside / "abs")),
        "symlinked parent": (tar_bytes(member("a", tarfile.SYMTYPE, link=str(outside)),
                                       member("a/owned")), "a/owned"),
        "hard link out": (tar_bytes(member("h", tarfile.LNKTYPE, link="../../../etc/passwd")),
                          '"h"'),
        "symlink climbing out": (tar_bytes(member("up", tarfile.SYMTYPE, link="../../../.."),
                                           member("up/owned")), "up"),
        "device node": (tar_bytes(member("dev/sda", tarfile.BLKTYPE, devmajor=8)), "dev/sda"),
    }


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlinked parent", "hard link out",
                                  "symlink climbing out", "device node"])
def test_hostile_import_is_refused_cleanly(pyker, data_root, tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    pyker("import", "-", "ok", input=tar_bytes(member("fine")))
    before = snapshot(data_root)
    payload, named = hostile(outside)[case]
    proc = pyker("import", "-", "evil", input=payload, check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 125, err
    assert err.count("\n") == 1 and err.startswith("pyker: layer ") and named in err, err
    assert list(outside.iterdir()) == []
    assert not Path("/etc/pyker-escape").exists()
    assert snapshot(data_root) == before
    assert pyker.out("images", "--format", "{{.Repository}}") == "ok\n"


def test_not_a_tarball(pyker, data_root):
    proc = pyker("import", "-", input=b"this is not a tar archive at all" * 40, check=False)
    assert proc.returncode == 125 and b"Traceback" not in proc.stderr
    assert proc.stderr.decode().startswith("pyker: ")


def _slow_feeder(proc: subprocess.Popen, chunks: int) -> None:
    """Feed a large valid tar slowly, so the import is mid-way when it is killed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(chunks):
            info = tarfile.TarInfo(f"f{i:04d}")
            info.size = 256 * 1024
            tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    data = buf.getvalue()
    for off in range(0, len(data) // 2, 1 << 20):
        proc.stdin.write(data[off:off + (1 << 20)])
        proc.stdin.flush()
        time.sleep(0.02)


def test_kill_9_mid_import_leaves_a_consistent_store(pyker, data_root):
    pyker("import", "-", "before", input=tar_bytes(member("b")))
    with subprocess.Popen([sys.executable, "-m", "pyker", "import", "-", "killed"],
                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=pyker.env) as proc:
        _slow_feeder(proc, chunks=80)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL
    leftovers = [p for d in ("layers", "image/blobs/sha256") for p in (data_root / d).iterdir()
                 if p.name.startswith(".tmp-")]
    assert leftovers, "the import was not killed mid-way: the test proves nothing"
    check = pyker("system", "check", check=False)
    assert check.returncode == 0, check.stdout.decode()
    assert pyker.out("images", "--format", "{{.Repository}}") == "before\n"
    # The next writing command sweeps the leftovers and works.
    pyker("import", "-", "after", input=tar_bytes(member("a")))
    assert sorted(pyker.out("images", "--format", "{{.Repository}}").split()) == ["after", "before"]
    assert list((data_root / "tmp").iterdir()) == []
    assert not [p for p in (data_root / "layers").iterdir() if p.name.startswith(".tmp-")]
