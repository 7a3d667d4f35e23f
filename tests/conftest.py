"""Shared fixtures: host feature probes for ``@pytest.mark.requires(...)``, and a private store.

A test that needs a feature the host lacks is skipped with the reason, never passed silently.
Every test that touches a store gets its own data root under ``tmp_path``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _root() -> str | None:
    return None if os.geteuid() == 0 else "needs root"


def _overlay() -> str | None:
    if _root():
        return "overlayfs needs root"
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            return "kernel has no overlayfs"
    return None


def _binary(name: str, package: str) -> str | None:
    return None if shutil.which(name) else f"{name} not installed (Debian package {package})"


def _busybox() -> str | None:
    return None if Path("/bin/busybox").exists() else "busybox-static not installed"


def _mknod() -> str | None:
    return _root()


def _cgroup_fs(fstype: str) -> str | None:
    """Root, and a ``cgroup`` (v1) or ``cgroup2`` mount in /proc/self/mountinfo."""
    if _root():
        return f"{fstype} hierarchies need root"
    with open("/proc/self/mountinfo") as f:
        if not any(line.split(" - ", 1)[-1].startswith(f"{fstype} ") for line in f):
            return f"no {fstype} filesystem mounted"
    return None


def _seccomp() -> str | None:
    import platform

    if platform.machine() not in ("x86_64", "aarch64"):
        return f"no seccomp syscall tables for machine {platform.machine()}"
    with open("/proc/self/status") as f:
        if "Seccomp:" not in f.read():
            return "kernel built without CONFIG_SECCOMP"
    return None


PROBES = {
    "root": _root,
    "overlay": _overlay,
    "mknod": _mknod,
    "busybox": _busybox,
    "skopeo": functools.partial(_binary, "skopeo", "skopeo"),
    "umoci": functools.partial(_binary, "umoci", "umoci"),
    "runc": functools.partial(_binary, "runc", "runc"),
    "debootstrap": functools.partial(_binary, "debootstrap", "debootstrap"),
    "tini": functools.partial(_binary, "tini-static", "tini"),
    "iptables": functools.partial(_binary, "iptables", "iptables"),
    "cgroup1": functools.partial(_cgroup_fs, "cgroup"),
    "cgroup2": functools.partial(_cgroup_fs, "cgroup2"),
    "seccomp": _seccomp,
}


@functools.cache
def probe(feature: str) -> str | None:
    """Why ``feature`` is missing on this host, or None when it is there."""
    try:
        return PROBES[feature]()
    except KeyError:
        raise pytest.UsageError(f"unknown feature {feature!r} in requires(); known: {sorted(PROBES)}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("requires"):
        for feature in marker.args:
            reason = probe(feature)
            if reason:
                pytest.skip(f"requires {feature}: {reason}")


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty pyker data root, also exported to subprocesses."""
    root = tmp_path / "pyker"
    monkeypatch.setenv("PYKER_DATA_ROOT", str(root))
    monkeypatch.setenv("PYKER_RUN_ROOT", str(tmp_path / "run"))
    monkeypatch.setenv("PYKER_DAEMON_CONFIG", str(tmp_path / "daemon.json"))
    return root


# pyker's commands in the tests run in a network namespace of the session's own: the
# default bridge, veths and iptables rules they make are that namespace's, the host's network
# is never changed, and a test store's 172.17.0.x never meets a lab's on the host's pyker0.
TESTS_NETNS = f"pyk-tests-{os.getpid()}"


def enter_tests_netns() -> None:
    """A ``preexec_fn``: the child joins the session's network namespace, if there is one."""
    path = f"/run/netns/{TESTS_NETNS}"
    if os.path.exists(path):
        from pyker.kernel.namespaces import CloneFlag, setns

        fd = os.open(path, os.O_RDONLY)
        setns(fd, CloneFlag.CLONE_NEWNET)
        os.close(fd)


@pytest.fixture(scope="session", autouse=True)
def tests_netns():
    """The session's network namespace (root with iproute2 only), deleted at the end."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        yield None
        return
    subprocess.run(["ip", "netns", "add", TESTS_NETNS], check=True)
    subprocess.run(["ip", "-n", TESTS_NETNS, "link", "set", "lo", "up"], check=True)
    yield TESTS_NETNS
    subprocess.run(["ip", "netns", "del", TESTS_NETNS], check=True)


class Pyker:
    """Runs the real CLI as a subprocess (``python -m pyker``), as a user would, in the
    session's network namespace unless ``host_network`` (a build that needs apt's mirror)."""

    def __init__(self, env: dict[str, str], *, host_network: bool = False) -> None:
        self.env = env
        self.host_network = host_network

    def __call__(self, *args: str, input: bytes | None = None, check: bool = True,
                 timeout: float = 600) -> subprocess.CompletedProcess[bytes]:
        import sys

        proc = subprocess.run([sys.executable, "-m", "pyker", *args], input=input,
                              capture_output=True, env=self.env, timeout=timeout,
                              preexec_fn=None if self.host_network else enter_tests_netns)
        if check and proc.returncode != 0:
            raise AssertionError(f"pyker {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr.decode(errors='replace')}")
        return proc

    def out(self, *args: str, input: bytes | None = None) -> str:
        return self(*args, input=input).stdout.decode()


@pytest.fixture
def pyker(data_root: Path) -> Pyker:
    """The CLI bound to this test's private data root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)  # the checkout's pyker, installed or not
    return Pyker(env)
