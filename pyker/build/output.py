"""What ``pyker build`` prints, in the classic Docker builder's words.

The course explains builds with the classic builder's transcript, so pyker writes the same
lines (moby ``builder/dockerfile/builder.go`` and ``internals.go``)::

    Step 2/3 : RUN echo hello
     ---> Running in 0a1b2c3d4e5f
    hello
    Removing intermediate container 0a1b2c3d4e5f
     ---> 8c6e7f1b2a3d
    Successfully built 8c6e7f1b2a3d

A RUN's own output goes to the same stream, its stderr included, as Docker sends both in
the build's one stream. ``-q`` keeps only the final image ID. pyker prints ``Running in``
only where a container really runs (RUN): a metadata step makes its image without one, so
it shows no container ID that never existed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


class Output:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet

    def line(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def step(self, number: int, total: int, text: str) -> None:
        self.line(f"Step {number}/{total} : {text}")

    def image(self, image_id: str) -> None:
        self.line(f" ---> {short(image_id)}")

    def using_cache(self) -> None:
        self.line(" ---> Using cache")

    def running_in(self, container_id: str) -> None:
        self.line(f" ---> Running in {container_id[:12]}")

    def removing(self, container_id: str) -> None:
        self.line(f"Removing intermediate container {container_id[:12]}")

    def warning(self, text: str) -> None:
        # Docker prints its build warnings on the build stream, even with -q on stderr.
        target = sys.stderr if self.quiet else self.stream
        print(f"[Warning] {text}", file=target, flush=True)

    @contextmanager
    def container_output(self) -> Iterator[None]:
        """Point fds 1 and 2 at the build stream (or /dev/null with ``-q``) while a step's
        container runs: it writes to the descriptors it inherits, not to Python's objects."""
        for s in (sys.stdout, sys.stderr, self.stream):
            s.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            if self.quiet:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, 1)
                os.dup2(null, 2)
                os.close(null)
            else:
                os.dup2(self._fileno(), 1)
                os.dup2(self._fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)

    def _fileno(self) -> int:
        try:
            return self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            return 1  # a captured stream (tests): the process's own stdout
