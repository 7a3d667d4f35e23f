"""The embedded DNS server listening in a throwaway network namespace, asked by busybox.

The server's socket is made inside ``ip netns add pyk-dns-<random>`` (deleted afterwards) by
``bind_in_netns``, while the server loop runs in the test process, in the host namespace,
as the container's monitor would run it. busybox's ``nslookup``, run inside that namespace,
is one client, glibc's resolver (``getent hosts``, the way curl or Python resolve) the other:
what they print is the answer a container's tools would get. Forwarded names
go to a fake resolver the test runs on the host's 127.0.0.1, reached through the upstream
socket of the host namespace; no packet leaves loopback.
"""

from __future__ import annotations

import os
import secrets
import selectors
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyker.network.dns import DnsServer, Resolver, bind_in_netns, upstream_socket

pytestmark = pytest.mark.requires("root", "busybox")

TABLE = {"web": ["10.89.0.2"], "es": ["10.89.0.3", "10.89.0.4"]}


def _fake_upstream(sock: socket.socket, stop: threading.Event) -> None:
    """Answer every query with one A record, 192.0.2.7 (RFC 5737), written by hand."""
    sock.settimeout(0.05)
    while not stop.is_set():
        try:
            query, peer = sock.recvfrom(65535)
        except TimeoutError:
            continue
        qtype = query[-4:-2]
        if qtype != b"\x00\x01":  # AAAA and others: NOERROR, no record
            sock.sendto(query[:2] + b"\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00" + query[12:], peer)
            continue
        sock.sendto(query[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + query[12:]
                    + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x07", peer)


@pytest.fixture
def netns() -> Iterator[tuple[str, int]]:
    if not shutil.which("ip"):
        pytest.skip("ip not installed (Debian package iproute2)")
    name = f"pyk-dns-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            yield name, fd
        finally:
            os.close(fd)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


@pytest.fixture
def dns(netns: tuple[str, int]) -> Iterator[str]:
    """A DnsServer on 127.0.0.11:53 of the namespace, served by a loop thread of the test."""
    name, fd = netns
    own_before = os.readlink("/proc/thread-self/ns/net")
    sock = bind_in_netns(fd)
    assert os.readlink("/proc/thread-self/ns/net") == own_before  # back home
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.bind(("127.0.0.1", 0))
    stop = threading.Event()
    fake = threading.Thread(target=_fake_upstream, args=(upstream, stop), daemon=True)
    fake.start()
    server = DnsServer(sock, Resolver(lambda n: TABLE.get(n, [])), upstream=upstream_socket(),
                       servers=[upstream.getsockname()], timeout=1.0)
    errors: list[BaseException] = []

    def loop() -> None:
        sel = selectors.DefaultSelector()
        sel.register(server.fileno(), selectors.EVENT_READ, server.handle_readable)
        sel.register(server.upstream_fileno(), selectors.EVENT_READ, server.handle_upstream)
        try:
            while not stop.is_set():
                for key, _ in sel.select(0.05):
                    key.data()
                server.expire()
        except BaseException as err:  # reported below: a dead server fails the test
            errors.append(err)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield name
    finally:
        stop.set()
        thread.join(2)
        fake.join(2)
        server.close()
        upstream.close()
    assert not errors, f"the server loop died: {errors[0]!r}"


def nslookup(ns: str, host: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, "/bin/busybox", "nslookup", host,
                           "127.0.0.11"], capture_output=True, text=True, timeout=30)


def answered(out: str) -> list[str]:
    """The addresses nslookup prints after "Name:", skipping the server's own lines."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Name:"))
    return [line.split()[-1] for line in lines[start:] if line.startswith("Address:")]


def test_socket_lives_in_the_namespace(dns: str) -> None:
    # /proc/net/udp is per network namespace: 127.0.0.11:53 is 0B00007F:0035 there
    inside = subprocess.run(["ip", "netns", "exec", dns, "cat", "/proc/net/udp"],
                            capture_output=True, text=True, check=True).stdout
    assert "0B00007F:0035" in inside
    with open("/proc/net/udp") as f:
        assert "0B00007F:0035" not in f.read()


def test_nslookup_finds_a_container_name(dns: str) -> None:
    proc = nslookup(dns, "web")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "127.0.0.11" in proc.stdout
    assert answered(proc.stdout) == ["10.89.0.2"]


def test_nslookup_gets_both_addresses_of_a_shared_alias_in_turn(dns: str) -> None:
    first = answered(nslookup(dns, "es").stdout)
    second = answered(nslookup(dns, "es").stdout)
    assert sorted(first) == sorted(second) == ["10.89.0.3", "10.89.0.4"]
    assert first != second  # rotated between the two queries


def test_nslookup_unknown_name_is_nxdomain(dns: str) -> None:
    proc = nslookup(dns, "nosuchcontainer")
    assert proc.returncode != 0
    assert "NXDOMAIN" in proc.stdout + proc.stderr


def test_nslookup_other_names_go_through_the_host_namespace(dns: str) -> None:
    proc = nslookup(dns, "example.org")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert answered(proc.stdout) == ["192.0.2.7"]


def getent(ns: str, host: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """glibc's ``getent hosts`` in the namespace, with a resolv.conf saying 127.0.0.11 bound
    over /etc/resolv.conf in a private mount namespace (so the host's file is never touched)."""
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.11\noptions ndots:0\n")
    script = 'mount --bind "$1" /etc/resolv.conf && exec ip netns exec "$2" getent hosts "$3"'
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                           "sh", str(conf), ns, host], capture_output=True, text=True, timeout=30)


def test_glibc_resolves_through_the_server(dns: str, tmp_path: Path) -> None:
    if not shutil.which("getent") or not shutil.which("unshare"):
        pytest.skip("getent or unshare not installed (Debian packages libc-bin, util-linux)")
    web = getent(dns, "web", tmp_path)
    assert web.returncode == 0, web.stderr
    assert web.stdout.split() == ["10.89.0.2", "web"]
    firsts = [getent(dns, "es", tmp_path).stdout.split()[0] for _ in range(2)]
    assert sorted(firsts) == ["10.89.0.3", "10.89.0.4"]
    assert getent(dns, "nosuchcontainer", tmp_path).returncode == 2  # not found
    assert getent(dns, "example.org", tmp_path).stdout.split() == ["192.0.2.7", "example.org"]
