"""``--pid``: a sidecar in another container's PID namespace (the course's strace sidecar),
and the host's PID namespace."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.requires("root", "overlay", "busybox")


def test_sidecar_sees_the_other_containers_processes(pk):
    pk("run", "-d", "--name", "pidweb", "busybox", "httpd", "-f", "-p", "80")
    try:
        # PID 1 of the sidecar's namespace is the web container's init.
        assert pk.out("run", "--rm", "--pid", "container:pidweb", "busybox", "cat",
                      "/proc/1/cmdline").split("\0")[0] == "httpd"
        own = pk.out("run", "--rm", "busybox", "cat", "/proc/1/cmdline")
        assert own.split("\0")[0] == "cat"
    finally:
        pk("rm", "-f", "pidweb")


def test_host_pid_namespace_and_bad_values(pk):
    count = pk.out("run", "--rm", "--pid", "host", "busybox", "sh", "-c",
                   "ls /proc | grep -c '^[0-9]'")
    assert int(count) > 10  # the host's processes, not one
    proc = pk("run", "--rm", "--pid", "bogus", "busybox", "true", check=False)
    assert proc.returncode == 125 and b"invalid PID mode" in proc.stderr
    proc = pk("run", "--rm", "--pid", "container:nosuch", "busybox", "true", check=False)
    assert proc.returncode != 0 and proc.stderr.decode().startswith("pyker: ")
