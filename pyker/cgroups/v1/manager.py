"""The cgroup v1 driver: one directory per controller hierarchy, one writer per resource.

On v1 a "cgroup" is the same relative path created under every controller's mount
(``/sys/fs/cgroup/memory/pyker/<id>``, ``/sys/fs/cgroup/cpu/pyker/<id>``...), and a process
joins it by having its pid written into each ``cgroup.procs`` (or, a single-threaded
process moving itself, ``0`` into each ``tasks``: :meth:`V1Manager.self_join_files`).
Controllers co-mounted in one
hierarchy (``cpu,cpuacct``) share a directory, which is then created and removed once. The
mounts are injected (or read from ``/proc/self/mountinfo``), so tests run on a fake tree.
See cgroups(7) and Documentation/admin-guide/cgroup-v1/cgroups.rst.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path

from pyker.cgroups import procs
from pyker.cgroups.files import CgroupFiles
from pyker.cgroups.layout import detect, relative_cgroup_path
from pyker.cgroups.resources import Resources, requested
from pyker.cgroups.stats import Stats
from pyker.cgroups.v1 import blkio, cpu, cpuset, devices, freezer, memory, pids
from pyker.errors import CgroupError

# runc's order: cpuset before anything can run, devices before the process opens any, the
# memory limit before the cpu ones.
_WRITERS = (cpuset, devices, memory, cpu, pids, blkio)


class V1Manager:
    """A cgroup on a v1 (or hybrid) host.

    Args:
        path: the cgroup path relative to each hierarchy root, e.g. ``pyker/<id>``.
        mounts: controller name → mount point; default: read from /proc/self/mountinfo.
        files: the cgroupfs access; tests pass a :class:`RecordingFiles`.
        timeout: seconds to wait for a freeze, a thaw or exiting tasks on destroy.
    """

    def __init__(self, path: str, *, mounts: Mapping[str, Path] | None = None,
                 files: CgroupFiles | None = None, timeout: float = 5.0) -> None:
        self.path = relative_cgroup_path(path)
        self.mounts = dict(detect().v1 if mounts is None else mounts)
        self.files = files or CgroupFiles()
        self.timeout = timeout

    def dir(self, controller: str) -> Path | None:
        """This cgroup's directory in ``controller``'s hierarchy, None if not mounted."""
        mount = self.mounts.get(controller)
        return None if mount is None else Path(mount) / self.path

    def dirs(self) -> list[Path]:
        """Each distinct directory of this cgroup, once even when controllers share a mount."""
        seen: dict[Path, None] = {}
        for controller in self.mounts:
            seen.setdefault(Path(self.mounts[controller]) / self.path, None)
        return list(seen)

    def create(self) -> None:
        for d in self.dirs():
            self.files.mkdir(d)
        cpuset_dir = self.dir("cpuset")
        if cpuset_dir is not None:
            cpuset.inherit(self.files, Path(self.mounts["cpuset"]), cpuset_dir)

    def apply(self, resources: Resources) -> tuple[str, ...]:
        warnings: list[str] = []
        for writer in _WRITERS:
            d = self.dir(writer.NAME)
            if d is not None:
                warnings += writer.apply(self.files, d, resources)
            elif writer.NAME in requested(resources):
                warnings.append(f"Your kernel does not support the {writer.NAME} cgroup "
                                "controller or it is not mounted: limit discarded.")
        return tuple(warnings)

    def update(self, resources: Resources) -> tuple[str, ...]:
        return self.apply(resources)

    def add_process(self, pid: int) -> None:
        for d in self.dirs():
            self.files.write(d / "cgroup.procs", str(pid))

    def self_join_files(self) -> tuple[Path, ...]:
        """The files a single-threaded process writes ``0`` into to move itself here.

        A write to ``cgroup.procs`` takes the kernel's global ``cgroup_threadgroup_rwsem``
        for writing, and the first writer after a quiet spell waits for an RCU grace period
        (10-25 ms here: pyker.cgroups.migration). A thread that moves only itself, ``0``
        written into v1's ``tasks``, is spared that lock: it cannot exit or exec under the
        kernel's hands (cgroup_procs_write_start). Measured here: 0.3 ms for the eight
        hierarchies, where the monitor's move of the same process took 5.7 ms (median,
        15 ms at worst). For a process with a single thread, moving the thread is moving
        the process: the container's init moves itself this way.
        """
        return tuple(d / "tasks" for d in self.dirs())

    def pids(self) -> list[int]:
        for controller in ("pids", "freezer", "memory", *self.mounts):
            d = self.dir(controller)
            if d is not None:
                return procs.read_pids(self.files, d)
        return []

    def freeze(self) -> None:
        freezer.set_state(self.files, self._need("freezer"), "FROZEN", timeout=self.timeout)

    def thaw(self) -> None:
        freezer.set_state(self.files, self._need("freezer"), "THAWED", timeout=self.timeout)

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process; frozen first when possible, so none forks in between."""
        if self.dir("freezer") is None:
            procs.signal_pids(self.pids(), sig)
            return
        self.freeze()
        try:
            procs.signal_pids(self.pids(), sig)
        finally:
            self.thaw()

    def stats(self) -> Stats:
        values: dict[str, int | None] = {}
        if (d := self.dir("cpuacct")) is not None:
            values["cpu_usage_ns"] = cpu.usage_ns(self.files, d)
        if (d := self.dir("memory")) is not None:
            usage, limit, inactive = memory.usage(self.files, d)
            values.update(memory_usage=usage, memory_limit=limit,
                          memory_inactive_file=inactive,
                          oom_kills=memory.oom_control(self.files, d).get("oom_kill"))
        if (d := self.dir("pids")) is not None:
            values["pids_current"], values["pids_limit"] = pids.current(self.files, d)
        if (d := self.dir("blkio")) is not None:
            values["blkio_read_bytes"], values["blkio_write_bytes"] = blkio.io_bytes(self.files, d)
        return Stats(**values)

    def oom_killed(self) -> bool:
        d = self.dir("memory")
        return d is not None and memory.oom_control(self.files, d).get("oom_kill", 0) > 0

    def exists(self) -> bool:
        return any(self.files.exists(d) for d in self.dirs())

    def destroy(self) -> None:
        for d in self.dirs():
            procs.rmdir_retrying(self.files, d, self.timeout)

    def _need(self, controller: str) -> Path:
        d = self.dir(controller)
        if d is None:
            raise CgroupError(f"the {controller} cgroup controller is not mounted on this host")
        return d

