"""A private pyker world for one notebook run: its own store, run dir, labs/ and network.

A student's notebook (batch grading) or the course notebooks under nbval (``make test``) run
in a sandbox so that they see a store of their own, seeded with the base images, and never
the lab's store nor another student's containers. Its network namespace (``ip netns add``,
loopback up) holds the default bridge, veths and iptables rules the notebook makes: the
host's network is never changed, and two sandboxes' 172.17.0.x never meet.

Removing a sandbox is a contract, as for a container: containers removed through pyker (so
their mounts, cgroups and pinned namespaces go), processes left in the namespace killed,
leftover mounts detached, the directory and the namespace deleted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from grader.context import LAB_DIR_ENV, REPO
from grader.model import GraderError
from pyker.kernel.namespaces import CloneFlag, setns

PREFIX = "pyker-lab-"
NETNS_DIR = Path("/run/netns")


def _ip(*args: str) -> None:
    if shutil.which("ip") is None:
        raise GraderError("a sandbox needs iproute2's ip (Debian package iproute2)")
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise GraderError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")


class Sandbox:
    """Create with :meth:`create`, run commands with :meth:`env` and :meth:`preexec`, end with
    :meth:`remove` (or use it as a context manager)."""

    def __init__(self, root: Path, netns: str) -> None:
        self.root = root
        self.netns = netns

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def run_root(self) -> Path:
        return self.root / "run"

    @property
    def lab_dir(self) -> Path:
        return self.root / "labs"

    @property
    def work_dir(self) -> Path:
        """Where the notebook runs (its cwd), with the submission's files."""
        return self.root / "work"

    @classmethod
    def create(cls, *, images: Path | None = None, labs_from: Path | None = None,
               exclude: Iterable[str] = (), parent: Path | None = None) -> Sandbox:
        """A new sandbox: directories, the labs/ material (``exclude``: paths under labs/ that
        are the student's to write, never given), the images of the ``images`` archive
        (``pyker save``), and a network namespace with its loopback up.

        Raises:
            GraderError: the namespace or the image load failed (nothing is left behind).
        """
        root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        box = cls(root, f"pyk-lab-{os.getpid()}-{root.name[len(PREFIX):]}")
        try:
            for d in (box.data_root, box.run_root, box.lab_dir, box.work_dir):
                d.mkdir(parents=True)
            if labs_from is not None and labs_from.is_dir():
                _copy_labs(labs_from, box.lab_dir, set(exclude))
            _ip("netns", "add", box.netns)
            _ip("-n", box.netns, "link", "set", "lo", "up")
            if images is not None:
                proc = box.pyker("load", "-q", "-i", str(images), timeout=600)
                if proc.returncode != 0:
                    raise GraderError(f"cannot seed sandbox {root} with {images}: "
                                      f"{proc.stderr.strip()}")
        except BaseException:
            box.remove()
            raise
        return box

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's) pointed at the sandbox; this interpreter's bin
        directory first on PATH, so that a notebook's ``!pyker`` is this pyker."""
        env = dict(os.environ if base is None else base)
        env.update(PYKER_DATA_ROOT=str(self.data_root), PYKER_RUN_ROOT=str(self.run_root),
                   PYKER_DAEMON_CONFIG=str(self.root / "daemon.json"),
                   **{LAB_DIR_ENV: str(self.lab_dir)})
        bindir = str(Path(sys.executable).parent)
        path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bindir]
        env["PATH"] = os.pathsep.join([bindir, *path])
        pythonpath = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *pythonpath])
        return env

    def preexec(self) -> None:
        """For ``subprocess``'s ``preexec_fn``: the child joins the sandbox's network."""
        fd = os.open(NETNS_DIR / self.netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(fd, CloneFlag.CLONE_NEWNET)
        finally:
            os.close(fd)

    def pyker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run([sys.executable, "-P", "-m", "pyker", *args], env=self.env(),
                                  capture_output=True, text=True, timeout=timeout,
                                  preexec_fn=self.preexec, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            return subprocess.CompletedProcess(err.cmd, 124, "", f"timed out after {timeout} s")

    def remove(self) -> list[str]:
        """Tear everything down, best effort; returns what could not be cleaned (English)."""
        problems: list[str] = []
        if (NETNS_DIR / self.netns).exists():
            problems += self._remove_containers()
            problems += _kill_netns_processes(self.netns)
        problems += _detach_mounts(self.root)
        if self.root.name.startswith(PREFIX) and self.root.is_dir():
            shutil.rmtree(self.root, ignore_errors=True)
            if self.root.exists():
                problems.append(f"could not remove {self.root}")
        if (NETNS_DIR / self.netns).exists():
            try:
                _ip("netns", "del", self.netns)
            except GraderError as err:
                problems.append(str(err))
        return problems

    def _remove_containers(self) -> list[str]:
        listed = self.pyker("ps", "-aq", "--no-trunc")
        ids = listed.stdout.split()
        if listed.returncode != 0:
            return [f"pyker ps failed: {listed.stderr.strip()}"]
        problems = []
        if ids:
            removed = self.pyker("rm", "-f", *ids)
            if removed.returncode != 0:
                problems.append(f"pyker rm -f failed: {removed.stderr.strip()}")
        self.pyker("network", "prune", "-f")
        return problems

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _copy_labs(src: Path, dest: Path, exclude: set[str]) -> None:
    """The course material, without solutions and without the files the student writes."""
    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(src)
        return {n for n in names if n == "solutions" or n == "__pycache__"
                or (rel / n).as_posix() in exclude}
    shutil.copytree(src, dest, ignore=ignore, dirs_exist_ok=True, symlinks=True)


def _kill_netns_processes(netns: str) -> list[str]:
    # A process the notebook left behind (a kernel killed on timeout, a `&` job) must not
    # keep the namespace or the store busy.
    proc = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    pids = [int(p) for p in proc.stdout.split() if p.isdigit() and int(p) != os.getpid()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return [f"killed {len(pids)} leftover process(es) in {netns}"] if pids else []


def _detach_mounts(root: Path) -> list[str]:
    """Lazily unmount whatever is still mounted under ``root``, deepest first."""
    from pyker.kernel.mount import UmountFlag, umount2

    prefix = str(root).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    stale = sorted({p for p in points if p.startswith(prefix)}, key=len, reverse=True)
    problems = []
    for point in stale:
        try:
            umount2(point.encode().decode("unicode_escape"), UmountFlag.MNT_DETACH)
        except OSError as err:
            problems.append(f"umount {point}: {err.strerror}")
    return [f"detached {len(stale)} leftover mount(s)"] + problems if stale else []
