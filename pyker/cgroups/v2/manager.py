"""The cgroup v2 driver: one directory in the unified hierarchy, controllers enabled top-down.

In v2 a controller works in a cgroup only if every ancestor lists it in
``cgroup.subtree_control``, and a parent may enable only what its own ``cgroup.controllers``
offers. So ``create()`` walks from the root to the new cgroup's parent writing
``+cpu +memory +pids +cpuset +io`` (limited to what is offered) where missing. Processes
live in leaves only ("no internal processes" rule). On a hybrid host the cgroup2 mount
offers no controller at all (they are bound to v1), yet the core interface still works:
``cgroup.procs``, ``cgroup.freeze``, ``cgroup.kill``, ``cpu.stat`` and device filters.
See Documentation/admin-guide/cgroup-v2.rst.
"""

from __future__ import annotations

import signal
from pathlib import Path

from pyker.cgroups import procs
from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.layout import relative_cgroup_path
from pyker.cgroups.resources import Resources, requested
from pyker.cgroups.stats import Stats
from pyker.cgroups.v2 import cpu, cpuset, devices, freezer, io, memory, pids
from pyker.cgroups.v2.devices import Bpf
from pyker.kernel.bpf import LinuxBpf

#: The controllers pyker enables, in the order it writes them.
CONTROLLERS = ("cpu", "memory", "pids", "cpuset", "io")
_WRITERS = (cpuset, memory, cpu, pids, io)


class V2Manager:
    """A cgroup in a cgroup2 hierarchy.

    Args:
        path: the cgroup path relative to ``root``, e.g. ``pyker/<id>``.
        root: the cgroup2 mount point (``/sys/fs/cgroup/unified`` on a hybrid host).
        files: the cgroupfs access; tests pass a :class:`RecordingFiles`.
        bpf: the bpf(2) calls for device filters; default the real ones.
        timeout: seconds to wait for a freeze, a thaw or exiting tasks on destroy.
    """

    def __init__(self, path: str, *, root: Path = Path("/sys/fs/cgroup"),
                 files: CgroupFiles | None = None, bpf: Bpf | None = None,
                 timeout: float = 5.0) -> None:
        self.path = relative_cgroup_path(path)
        self.root = Path(root)
        self.dir = self.root / self.path
        self.files = files or CgroupFiles()
        self.bpf: Bpf = LinuxBpf() if bpf is None else bpf
        self.timeout = timeout

    def create(self) -> None:
        level = self.root
        for part in Path(self.path).parts:
            self._enable_controllers(level)
            level = level / part
            self.files.mkdir(level)

    def _enable_controllers(self, level: Path) -> None:
        offered = self.files.read(level / "cgroup.controllers").split()
        enabled = self.files.read(level / "cgroup.subtree_control").split()
        wanted = [c for c in CONTROLLERS if c in offered and c not in enabled]
        if wanted:
            self.files.write(level / "cgroup.subtree_control",
                             " ".join(f"+{c}" for c in wanted))

    def available(self) -> list[str]:
        """The controllers usable in this cgroup (its ``cgroup.controllers``)."""
        return self.files.read(self.dir / "cgroup.controllers").split()

    def apply(self, resources: Resources) -> tuple[str, ...]:
        warnings: list[str] = []
        available = set(self.available())
        wanted = {("io" if c == "blkio" else c) for c in requested(resources)}
        for writer in _WRITERS:
            if writer.NAME in available:
                warnings += writer.apply(self.files, self.dir, resources)
            elif writer.NAME in wanted:
                warnings.append(f"the {writer.NAME} controller is not available in "
                                f"{self.root} (cgroup.controllers): limit discarded")
        warnings += devices.apply(self.bpf, self.dir, resources)
        return tuple(warnings)

    def update(self, resources: Resources) -> tuple[str, ...]:
        return self.apply(resources)

    def add_process(self, pid: int) -> None:
        self.files.write(self.dir / "cgroup.procs", str(pid))

    def self_join_files(self) -> tuple[Path, ...] | None:
        """None: cgroup v2 moves a thread alone only inside a threaded subtree, so a
        process joins through ``cgroup.procs`` (:meth:`add_process`), grace period and all."""
        return None

    def pids(self) -> list[int]:
        return procs.read_pids(self.files, self.dir)

    def freeze(self) -> None:
        freezer.set_frozen(self.files, self.dir, True, timeout=self.timeout)

    def thaw(self) -> None:
        freezer.set_frozen(self.files, self.dir, False, timeout=self.timeout)

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """SIGKILL through ``cgroup.kill`` (5.14+), which no fork can race; else freeze,
        signal each process, thaw."""
        if sig == signal.SIGKILL and self.files.exists(self.dir / "cgroup.kill"):
            self.files.write(self.dir / "cgroup.kill", "1")
            return
        self.freeze()
        try:
            procs.signal_pids(self.pids(), sig)
        finally:
            self.thaw()

    def stats(self) -> Stats:
        values: dict[str, int | None] = {"cpu_usage_ns": cpu.usage_ns(self.files, self.dir)}
        available = set(self.available())
        if "memory" in available:
            usage, limit, inactive = memory.usage(self.files, self.dir)
            values.update(memory_usage=usage, memory_limit=limit, memory_inactive_file=inactive,
                          oom_kills=memory.events(self.files, self.dir).get("oom_kill", 0))
        if "pids" in available:
            values["pids_current"], values["pids_limit"] = pids.current(self.files, self.dir)
        if "io" in available:
            values["blkio_read_bytes"], values["blkio_write_bytes"] = io.io_bytes(self.files,
                                                                                  self.dir)
        return Stats(**values)

    def oom_killed(self) -> bool:
        if not self.files.exists(self.dir / "memory.events"):
            return False
        return memory.events(self.files, self.dir).get("oom_kill", 0) > 0

    def exists(self) -> bool:
        return self.files.exists(self.dir)

    def destroy(self) -> None:
        procs.rmdir_retrying(self.files, self.dir, self.timeout)
