"""The interface both cgroup drivers offer, for the runtime to hold without knowing which.

youki's ``CgroupManager`` trait, as a Protocol: the v1 driver spreads one cgroup over a
directory per controller hierarchy, the v2 driver uses one directory, and the runtime only
sees these methods.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Protocol

from pyker.cgroups.resources import Resources
from pyker.cgroups.stats import Stats


class Manager(Protocol):
    """One cgroup, named by a path relative to the hierarchy root(s)."""

    path: str

    def create(self) -> None:
        """Create the cgroup directories (parents included); an existing cgroup is kept."""

    def apply(self, resources: Resources) -> tuple[str, ...]:
        """Write every field of ``resources`` that is set; return Docker-style warnings."""

    def update(self, resources: Resources) -> tuple[str, ...]:
        """Change the limits of a live cgroup (``docker update``); same writers as apply."""

    def add_process(self, pid: int) -> None:
        """Move ``pid`` (all its threads) into the cgroup."""

    def self_join_files(self) -> tuple[Path, ...] | None:
        """Files a single-threaded process writes ``0`` into to move itself into the
        cgroup, sparing the kernel's thread-group lock; None where the driver has none."""

    def pids(self) -> list[int]:
        """The processes in the cgroup."""

    def freeze(self) -> None:
        """Stop every task and return once the kernel reports the cgroup frozen."""

    def thaw(self) -> None:
        """Resume every task and return once the kernel reports the cgroup thawed."""

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process of the cgroup, new forks included."""

    def stats(self) -> Stats:
        """Usage counters; fields of absent controllers are None."""

    def oom_killed(self) -> bool:
        """True when the OOM killer has killed a task of this cgroup."""

    def exists(self) -> bool:
        """True while the cgroup directory exists."""

    def destroy(self) -> None:
        """Remove the cgroup, waiting briefly for exiting tasks; a missing one is fine."""
