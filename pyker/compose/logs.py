"""Several containers' logs as one stream, each line prefixed with its container's name.

``compose logs`` without ``-f`` merges the containers' logs by their timestamps, so the
interleaving is the one that happened. With ``-f`` (and in a foreground ``up``) one thread per
container follows its log file and a queue serialises their lines; the name prefix gets a
colour of its own on a terminal, in the order Docker Compose picks them.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

#: Compose v2's rotation of prefix colours (ANSI foreground codes).
COLORS = (36, 33, 32, 35, 34, 91, 96, 93, 92, 95, 94)


@dataclass(frozen=True, slots=True)
class Source:
    name: str            # the prefix: the container's name (or service name with --no-…)
    reader: Any          # its logging driver's reader (pyker.runtime.logdrivers.reader)
    start: Any = 0       # where to follow from (reader.end())
    running: Callable[[], bool] = lambda: False


class Printer:
    def __init__(self, names: Sequence[str], *, out: TextIO | None = None,
                 color: bool | None = None, prefix: bool = True,
                 timestamps: bool = False) -> None:
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self.prefix = prefix
        self.timestamps = timestamps
        self.width = max((len(n) for n in names), default=0)
        self.colors = {n: COLORS[i % len(COLORS)] for i, n in enumerate(names)}

    def _head(self, name: str) -> str:
        if not self.prefix:
            return ""
        text = f"{name:<{self.width}}  | "
        return f"\033[{self.colors.get(name, 0)}m{text}\033[0m" if self.color else text

    def line(self, name: str, text: str, stamp: str = "") -> None:
        stamp = f"{stamp} " if self.timestamps and stamp else ""
        self.out.write(f"{self._head(name)}{stamp}{text}")
        if not text.endswith("\n"):
            self.out.write("\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def merged(sources: Sequence[Source], printer: Printer, *, tail: int | None = None) -> None:
    """What the logs hold now, all containers interleaved by time."""
    entries = []
    for src in sources:
        entries.extend((e.time, src.name, e) for e in src.reader.read(tail=tail))
    for _, name, entry in sorted(entries, key=lambda item: item[0]):
        printer.line(name, entry.log, entry.time)


class Follower:
    """Follow several logs at once until each container has stopped (or :meth:`stop`)."""

    def __init__(self, sources: Sequence[Source], printer: Printer) -> None:
        self.printer = printer
        self.queue: queue.Queue = queue.Queue()
        self.threads = [threading.Thread(target=self._pump, args=(src,), daemon=True)
                        for src in sources]
        self.pending = len(self.threads)

    def _pump(self, src: Source) -> None:
        for entry in src.reader.follow(start=src.start, running=src.running):
            self.queue.put((src.name, entry))
        self.queue.put((src.name, None))

    def start(self) -> Follower:
        for thread in self.threads:
            thread.start()
        return self

    def events(self, poll: float = 0.2):
        """(name, entry) for each line, (name, None) when a container's log has ended; the
        short timeout keeps the main thread able to take Ctrl-C."""
        while self.pending:
            try:
                name, entry = self.queue.get(timeout=poll)
            except queue.Empty:
                continue
            if entry is None:
                self.pending -= 1
            yield name, entry

    def run(self) -> None:
        for name, entry in self.events():
            if entry is not None:
                self.printer.line(name, entry.log, entry.time)
