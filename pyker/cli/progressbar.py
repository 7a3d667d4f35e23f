"""How ``pull`` and ``push`` show their progress, as Docker's CLI does (its jsonmessage).

On a terminal each layer has a line that is redrawn in place (cursor up, clear, rewrite,
cursor back down), with a bar for the bytes moved::

    a3ed95caeb02: Downloading [=========>                              ]  1.06MB/5.24MB

Elsewhere (a pipe, a notebook, a test) each layer's status is printed once per change, one
plain line each, so the output reads as a log: ``a3ed95caeb02: Pull complete``.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from pyker.cli.humanize import human_size
from pyker.registry.progress import DOWNLOADING, EXTRACTING, PUSHING, Event

BAR_STATUSES = frozenset({DOWNLOADING, PUSHING, EXTRACTING})


def bar(current: int, total: int, width: int = 50) -> str:
    """``[====>    ]  1.2MB/3.4MB``: Docker's bar, sizes in decimal units to 4 digits."""
    filled = min(width, current * width // total) if total > 0 else 0
    return (f"[{'=' * filled}>{' ' * (width - filled)}] "
            f"{human_size(current, 4):>8}/{human_size(total, 4)}")


class Display:
    """Receives lines and :class:`Event` s; writes them for a terminal or as plain lines."""

    def __init__(self, out: TextIO | None = None, *, quiet: bool = False,
                 terminal: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet
        self.terminal = self.out.isatty() if terminal is None else terminal
        self._rows: dict[str, int] = {}    # layer id -> its line in the current block
        self._shown: dict[str, str] = {}   # layer id -> the status last printed (plain)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def line(self, text: str) -> None:
        """A line of its own (``Digest: …``): it ends the current block of layer lines."""
        if self.quiet:
            return
        self._rows.clear()
        self._shown.clear()
        self._write(text + "\n")

    def result(self, text: str) -> None:
        """The line printed even with ``--quiet`` (the reference pulled or pushed)."""
        self._write(text + "\n")

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if not self.terminal:
            if self._shown.get(event.id) != event.status:
                self._shown[event.id] = event.status
                self._write(f"{event.id}: {event.status}\n")
            return
        text = f"{event.id}: {event.status}"
        if event.status in BAR_STATUSES and event.total:
            width = max(10, min(50, shutil.get_terminal_size().columns - 60))
            text += " " + bar(event.current, event.total, width)
        row = self._rows.get(event.id)
        if row is None:
            self._rows[event.id] = len(self._rows)
            self._write(f"\x1b[2K{text}\n")
            return
        up = len(self._rows) - row
        self._write(f"\x1b[{up}A\r\x1b[2K{text}\r\x1b[{up}B")
