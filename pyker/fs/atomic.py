"""Crash-safe writes: a reader sees the old file or the new one, never half of either.

The recipe is the classic one (rename(2) is atomic within a filesystem): write a temporary
file in the same directory, fsync it, rename it over the target, then fsync the directory so
the rename itself survives a power cut. A ``kill -9`` at any point leaves at worst a stray
``.tmp-*`` file, which the store sweeps on its next locked command.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TMP_PREFIX = ".tmp-"


def temp_prefix() -> str:
    """``.tmp-<pid>-``: the sweeper leaves alone the work of a process that is still alive."""
    return f"{TMP_PREFIX}{os.getpid()}-"


def _owner_alive(name: str) -> bool:
    pid = name[len(TMP_PREFIX):].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring).

    ``durable=False`` skips both fsyncs, for files rebuilt at every container start (its
    /etc/hosts, resolv.conf, network state): a reader still never sees half a file, and a
    crash can only lose what the next start writes again. Two fsyncs cost 1-3 ms each here.
    """
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            if durable:
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def sweep_temporaries(directory: Path) -> int:
    """Remove the ``.tmp-*`` leftovers of dead writers; return how many went."""
    import shutil

    count = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        if entry.name.startswith(TMP_PREFIX) and not _owner_alive(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            count += 1
    return count
