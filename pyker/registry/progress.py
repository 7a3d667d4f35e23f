"""Progress of a pull or a push as events, the words Docker prints for each layer.

The operations report; the CLI decides how to show it (bars on a terminal, one line per
status change otherwise), and the notebooks can collect the events as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

PULLING = "Pulling fs layer"
ALREADY_EXISTS = "Already exists"
WAITING = "Waiting"
DOWNLOADING = "Downloading"
VERIFYING = "Verifying Checksum"
DOWNLOAD_COMPLETE = "Download complete"
EXTRACTING = "Extracting"
PULL_COMPLETE = "Pull complete"
PREPARING = "Preparing"
PUSHING = "Pushing"
PUSHED = "Pushed"
LAYER_EXISTS = "Layer already exists"
MOUNTED = "Mounted from"  # followed by the source repository


@dataclass(frozen=True, slots=True)
class Event:
    id: str          # the layer's short ID (12 hex digits)
    status: str      # one of the words above (MOUNTED: "Mounted from app1")
    current: int = 0  # bytes done, for DOWNLOADING/PUSHING/EXTRACTING
    total: int = 0


Progress = Callable[[Event], None]


def ignore(event: Event) -> None:
    """A :data:`Progress` that shows nothing."""


class Throttle:
    """Byte counts as DOWNLOADING/PUSHING events, at most every ``interval`` seconds (a
    1 MiB/s bar redrawn per 64 KiB block would be most of the work of a fast pull)."""

    def __init__(self, progress: Progress, ident: str, status: str, total: int,
                 interval: float = 0.1) -> None:
        self.progress, self.ident, self.status, self.total = progress, ident, status, total
        self.interval = interval
        self._next = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now >= self._next or done >= self.total:
            self._next = now + self.interval
            self.progress(Event(self.ident, self.status, done, self.total))
