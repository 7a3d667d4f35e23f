"""An advisory lock (flock(2)) that serializes the commands writing one store.

flock is released by the kernel when its holder dies, even by SIGKILL, so a killed command
never leaves the store locked. Readers that only list do not take it: they read files that
are always replaced atomically.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyker.errors import StoreLocked


@contextmanager
def exclusive(path: Path, *, timeout: float = 60.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Raises:
        StoreLocked: another process held it for longer than ``timeout`` seconds.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreLocked(f"{path}: still locked by another pyker command "
                                      f"after {timeout:.0f}s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
