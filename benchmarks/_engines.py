"""Docker, Podman and Buildah on private stores, kept off the host's network.

The comparison engines are real Debian packages (docker.io, podman, buildah) driven through
their own CLIs, but nothing of theirs may land on the host:

* **Network.** dockerd creates ``docker0`` and iptables rules; podman and buildah (RUN) have
  netavark create ``podman0`` and its rules. Each engine therefore runs in a network namespace
  of its own (``ip netns add``), where interfaces, routes, sysctls under /proc/sys/net and
  iptables tables are per-namespace. The process enters it in ``preexec_fn`` (setns), then
  unshares a mount namespace (slave: nothing mounted there reaches the host) and mounts a
  fresh sysfs, so /sys/class/net shows the namespace's devices, as ``ip netns exec`` does.
  A timed command is spared that spawn's cost: the benchmark joins the namespaces itself
  around it (:class:`Joined`, the mount namespace made once and pinned).
  ``ip netns exec`` itself cannot be used: its fresh sysfs hides /sys/fs/cgroup, and dockerd
  then stops with "Devices cgroup isn't mounted"; here the cgroup tree is moved back on top.
* **Storage.** Every root, run root and state directory is under the benchmark's temporary
  directory (``--data-root``/``--exec-root``, ``--root``/``--runroot``/``--tmpdir``...).
  dockerd's trust key would go to /etc/docker/key.json: daemon.json's
  ``deprecated-key-path`` sends it to the temporary directory. What the engines still write
  at fixed host paths (containerd-shim sockets, netavark's IPAM database, the blob-info
  cache) is listed in :data:`FIXED_PATHS` and removed afterwards when the run created it.
* **This host's quirks**, found by running them: cgroups are hybrid (v1 controllers plus
  cgroup2 at /sys/fs/cgroup/unified) and there is no systemd, so dockerd gets
  ``--exec-opt native.cgroupdriver=cgroupfs`` and podman ``--cgroup-manager cgroupfs``;
  crun refuses hybrid mode ("cgroups in hybrid mode not supported"), so podman and buildah
  get ``--runtime runc``; root lacks CAP_SYS_RESOURCE here, so podman's default rlimits
  (nofile 1048576, nproc 4194304) fail in runc ("error setting rlimit type 7"): the current
  hard limits are passed instead (podman itself clamps nproc to kernel.pid_max).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _common import missing, tail, unmount_under

#: Host paths the engines write whatever their flags say: removed after the run if it made
#: them. /run/runc and /run/crun are other tools' state roots too: only removed when empty.
FIXED_PATHS = ("/run/containerd", "/run/docker", "/run/containers", "/run/libpod",
               "/var/lib/containers", "/etc/containers/networks", "/etc/docker/key.json")
SHARED_ROOTS = ("/run/runc", "/run/crun")


def hybrid_cgroups() -> bool:
    from pyker.runtime import oci_runtime

    return oci_runtime.is_hybrid_cgroup()


@dataclass(slots=True)
class HostLeftovers:
    """Which of :data:`FIXED_PATHS` existed before the engines ran, to remove the others."""

    before: set[str] = field(default_factory=set)

    def record(self) -> None:
        self.before = {p for p in FIXED_PATHS + SHARED_ROOTS if os.path.lexists(p)}

    def clean(self) -> list[str]:
        removed = []
        for path in FIXED_PATHS:
            if path not in self.before and os.path.lexists(path):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    os.unlink(path)
                removed.append(path)
        for path in SHARED_ROOTS:
            if path not in self.before and os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)
                removed.append(path)
        return removed


@dataclass(slots=True)
class NetNs:
    """A named network namespace with only ``lo`` up, and the way into it."""

    name: str
    keep: Path                           # where the cgroup tree waits while sysfs is remounted

    def create(self) -> str:
        """Add the namespace; why it could not be, or ""."""
        for argv in (["ip", "netns", "add", self.name],
                     ["ip", "-n", self.name, "link", "set", "lo", "up"]):
            try:
                proc = subprocess.run(argv, capture_output=True)
            except OSError as err:  # no iproute2
                return f"{argv[0]}: {err.strerror}"
            if proc.returncode != 0:
                return f"{' '.join(argv)}: {tail(proc)}"
        self.keep.mkdir(parents=True, exist_ok=True)
        return ""

    def delete(self) -> None:
        self.kill_all()
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def kill_all(self) -> None:
        """Whatever the engine left running in the namespace (every process there is ours)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while pids and self.pids() and time.monotonic() < deadline:
                time.sleep(0.1)

    def enter(self) -> Callable[[], None]:
        """A ``preexec_fn`` that moves the child into the namespace (see the module doc)."""
        from pyker.kernel.mount import MountFlag, mount
        from pyker.kernel.namespaces import CloneFlag, setns, unshare

        path, keep = f"/run/netns/{self.name}", str(self.keep)

        def preexec() -> None:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            setns(fd, CloneFlag.CLONE_NEWNET)
            os.close(fd)
            unshare(CloneFlag.CLONE_NEWNS)
            mount(None, "/", None, MountFlag.MS_REC | MountFlag.MS_SLAVE)
            mount("/sys/fs/cgroup", keep, None, MountFlag.MS_BIND | MountFlag.MS_REC)
            mount("sysfs", "/sys", "sysfs", MountFlag.MS_NOSUID | MountFlag.MS_NODEV
                  | MountFlag.MS_NOEXEC)
            mount(keep, "/sys/fs/cgroup", None, MountFlag.MS_MOVE)

        return preexec


    def joined(self, *, mount_ns: Path | None = None) -> Joined:
        """This namespace (and ``mount_ns``, a pinned mount namespace), for a timed run."""
        return Joined(f"/run/netns/{self.name}", mount_ns)

    def enter_net_only(self) -> Callable[[], None]:
        """A ``preexec_fn`` that joins the network namespace only: pyker needs no fresh
        sysfs, and its fork server serves only clients in all of its own namespaces."""
        from pyker.kernel.namespaces import CloneFlag, setns

        path = f"/run/netns/{self.name}"

        def preexec() -> None:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            setns(fd, CloneFlag.CLONE_NEWNET)
            os.close(fd)

        return preexec


class Joined:
    """A network namespace, and maybe a mount namespace, that this process itself joins for
    the time of a spawn (:func:`_common.once`), then leaves: the command starts in them as
    it would from a shell already there. Joining a mount namespace needs a single-threaded
    process (the benchmarks are); it also moves the root and working directory, which are
    restored on the way out."""

    def __init__(self, netns: str | None, mount_ns: Path | None = None) -> None:
        self._targets = [(os.open(path, os.O_RDONLY | os.O_CLOEXEC), kind)
                         for path, kind in ((netns, "net"), (mount_ns, "mnt")) if path]
        self._own = [(os.open(f"/proc/self/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC), kind)
                     for _, kind in self._targets]
        self._cwd = ""

    def __enter__(self) -> Joined:
        self._cwd = os.getcwd()
        try:
            self._join(self._targets)
        except BaseException:  # half joined: back where this process was, then the error
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._join(reversed(self._own))
        os.chdir(self._cwd)

    def close(self) -> None:
        """Let go of the namespaces (a pinned one ends with its pin and these)."""
        for fd, _ in self._targets + self._own:
            os.close(fd)
        self._targets, self._own = [], []

    @staticmethod
    def _join(namespaces) -> None:
        from pyker.kernel.namespaces import CloneFlag, setns

        for fd, kind in namespaces:
            setns(fd, CloneFlag.CLONE_NEWNET if kind == "net" else CloneFlag.CLONE_NEWNS)


def pin_mount_namespace(pin: Path, setup: Callable[[], None]) -> str:
    """A mount namespace made by ``setup`` (a preexec function that unshares one) in a child,
    kept on the file ``pin`` once the child is gone; why it could not be, or "".

    ``pin``'s directory becomes a private mount of its own: a namespace file bound on a
    shared mount would propagate into the namespace it pins. The workspace's end detaches
    both (:func:`_common.unmount_under`)."""
    from pyker.kernel.mount import MountFlag, mount

    try:
        pin.parent.mkdir(parents=True, exist_ok=True)
        mount(str(pin.parent), str(pin.parent), None, MountFlag.MS_BIND)
        mount(None, str(pin.parent), None, MountFlag.MS_PRIVATE)
        pin.touch()
        ready_r, ready_w = os.pipe()
        done_r, done_w = os.pipe()
        pid = os.fork()
    except OSError as err:
        return f"a mount namespace pinned on {pin}: {err}"
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)
            setup()
            os.write(ready_w, b"ok")
        except BaseException as err:  # noqa: BLE001 — told to the parent, in a forked child
            os.write(ready_w, f"{type(err).__name__}: {err}".encode(errors="replace")[:500])
        finally:
            os.read(done_r, 1)
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        said = os.read(ready_r, 512).decode(errors="replace")
        if said != "ok":
            return f"the mount namespace's set-up failed: {said or 'no answer'}"
        mount(f"/proc/{pid}/ns/mnt", str(pin), None, MountFlag.MS_BIND)
        return ""
    except OSError as err:
        return f"pinning a mount namespace on {pin}: {err}"
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def docker_cli() -> str | None:
    """The client packaged with dockerd (/usr/bin/docker beside /usr/sbin/dockerd), not an
    unrelated newer client earlier in PATH that would negotiate down to the daemon's API."""
    dockerd = shutil.which("dockerd")
    if dockerd:
        beside = Path(dockerd).resolve().parent.parent / "bin" / "docker"
        if beside.exists():
            return str(beside)
    return shutil.which("docker")


@dataclass(slots=True)
class Dockerd:
    """A private dockerd (its own containerd too) in its own network namespace."""

    root: Path
    netns: NetNs
    proc: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> Path:
        return self.root / "docker.sock"

    def client(self) -> list[str]:
        return [docker_cli() or "docker", "-H", f"unix://{self.sock}"]

    def client_env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_CONFIG": str(self.root / "cli")}  # not ~/.docker

    def argv(self) -> list[str]:
        return ["dockerd", "--config-file", str(self.root / "daemon.json"),
                "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                "-H", f"unix://{self.sock}", "--pidfile", str(self.root / "docker.pid"),
                "--exec-opt", "native.cgroupdriver=cgroupfs", "--iptables=true"]

    def start(self, timeout: float = 60) -> str:
        """Start and wait for the API; the reason it cannot run, or ""."""
        if not shutil.which("dockerd") or not docker_cli():
            return missing("dockerd", "docker.io")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "daemon.json").write_text(
            json.dumps({"deprecated-key-path": str(self.root / "key.json")}))
        log = open(self.root / "dockerd.log", "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=self.netns.enter())
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = (self.root / "dockerd.log").read_text(errors="replace").strip()
                return f"dockerd exited {self.proc.returncode}: {text[-200:]}"
            ping = subprocess.run([*self.client(), "version"], capture_output=True,
                                  env=self.client_env())
            if ping.returncode == 0:
                return ""
            time.sleep(0.3)
        return f"dockerd did not answer on {self.sock} within {timeout:.0f} s"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.netns.kill_all()  # containerd and shims, should dockerd have left them


def _rlimit_flags() -> list[str]:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    nproc = pid_max if nproc == resource.RLIM_INFINITY else min(nproc, pid_max)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


def podman_argv(root: Path) -> list[str]:
    """``podman`` with every store and state directory under ``root``."""
    argv = ["podman", "--root", str(root / "root"), "--runroot", str(root / "run"),
            "--tmpdir", str(root / "tmp"), "--network-config-dir", str(root / "net"),
            "--volumepath", str(root / "volumes"), "--storage-driver", "overlay",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    return argv + (["--runtime", "runc"] if hybrid_cgroups() else [])


def podman_run_flags() -> list[str]:
    return _rlimit_flags()


def buildah_argv(root: Path) -> list[str]:
    """``buildah`` with its store under ``root``."""
    return ["buildah", "--root", str(root / "root"), "--runroot", str(root / "run"),
            "--storage-driver", "overlay"]


def buildah_bud_flags() -> list[str]:
    # --layers: buildah caches intermediate images only when asked (podman build's default)
    return ["--layers"] + (["--runtime", "runc"] if hybrid_cgroups() else [])


def versions() -> dict[str, str]:
    out = {}
    for tool, argv in (("dockerd", ["dockerd", "--version"]), ("podman", ["podman", "--version"]),
                       ("buildah", ["buildah", "--version"])):
        if shutil.which(tool):
            text = subprocess.run(argv, capture_output=True, text=True).stdout
            out[tool] = text.splitlines()[0] if text else "?"
    return out


def start_docker(tmp: Path, stack: ExitStack, image_tar: Path) -> tuple[Dockerd, str]:
    """dockerd in its own netns with busybox loaded; the reason it cannot be used, or ""."""
    d = Dockerd(tmp / "docker", NetNs(f"pyk-docker-{os.getpid()}", tmp / "docker" / "keep"))
    if not shutil.which("dockerd") or not docker_cli():
        return d, missing("dockerd", "docker.io")
    stack.callback(d.netns.delete)
    err = d.netns.create()
    if err:
        return d, err
    stack.callback(d.stop)
    err = d.start()
    if not err:
        proc = subprocess.run([*d.client(), "load", "-i", str(image_tar)], capture_output=True,
                              env=d.client_env())
        err = "" if proc.returncode == 0 else f"docker load: {tail(proc)}"
    return d, err


def podman_store(tmp: Path, stack: ExitStack, image_tar: Path) -> tuple[list[str], NetNs, str]:
    """podman's argv on a private store holding busybox, and the netns its runs use."""
    ns = NetNs(f"pyk-podman-{os.getpid()}", tmp / "podman" / "keep")
    argv = podman_argv(tmp / "podman")
    if not shutil.which("podman"):
        return argv, ns, missing("podman", "podman")
    stack.callback(ns.delete)
    err = ns.create()
    if err:
        return argv, ns, err
    proc = subprocess.run([*argv, "load", "-i", str(image_tar)], capture_output=True,
                          preexec_fn=ns.enter())  # its storage mounts stay out of the host
    return argv, ns, "" if proc.returncode == 0 else f"podman load: {tail(proc)}"


def buildah_store(tmp: Path, stack: ExitStack, image_tar: Path) -> tuple[list[str], NetNs, str]:
    """buildah's argv on a private store holding busybox, and the netns its RUN steps use."""
    ns = NetNs(f"pyk-buildah-{os.getpid()}", tmp / "buildah" / "keep")
    argv = buildah_argv(tmp / "buildah")
    if not shutil.which("buildah"):
        return argv, ns, missing("buildah", "buildah")
    stack.callback(ns.delete)
    err = ns.create()
    if err:
        return argv, ns, err
    proc = subprocess.run([*argv, "pull", "-q", f"docker-archive:{image_tar}"],
                          capture_output=True, preexec_fn=ns.enter())
    return argv, ns, "" if proc.returncode == 0 else f"buildah pull: {tail(proc)}"


@contextmanager
def workspace(prefix: str, *, keep: bool) -> Iterator[tuple[Path, ExitStack]]:
    """A private temporary directory and a stack of clean-ups; at the end the engines are
    stopped (the stack), the fixed host paths they created removed, every mount below the
    directory detached, and the directory deleted (unless ``keep``)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    leftovers = HostLeftovers()
    leftovers.record()
    try:
        with ExitStack() as stack:
            yield tmp, stack
    finally:
        leftovers.clean()
        unmount_under(tmp)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
