"""notebooks/sanitize.cfg on real outputs: what varies between runs becomes a placeholder,
what the kernel decides (limits, capability masks, exit codes) stays, and the order of the
rules keeps one from eating another (a MAC holds a clock time, a digest holds an id)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

CFG = Path(__file__).resolve().parents[2] / "notebooks" / "sanitize.cfg"


def sanitize(text: str) -> str:
    for regex, replace in get_sanitize_patterns(CFG.read_text()):
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize(("raw", "clean"), [
    ("d5055adc48699152e12b3cc0b9c9ded0f98582f44e860e3d818539be1fb10aa2", "<id>"),
    ('"Image": "sha256:763dec469e2f132408889f6acf402894b40b2a9eb37cbbcad2b5607a86caa61c"',
     '"Image": "sha256:<digest>"'),
    ("d842e3bdbd22   busybox   \"sleep 3600\"   About a minute ago   Up 38 seconds",
     "<short-id>   busybox   \"sleep 3600\"   <duration> ago   Up <duration>"),
    ('"StartedAt": "2026-11-28T01:50:33.667373657Z"', '"StartedAt": "<timestamp>"'),
    ("Tue Nov 28 01:52:33 UTC 2026", "<timestamp>"),
    ("drwxr-xr-x    2 root     root     4096 May  7  2026 bin",
     "drwxr-xr-x    2 root     root     4096 <mtime> bin"),
    ("link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff", "link/ether <mac> brd <mac>"),
    ("inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0",
     "inet <ipv4> brd <ipv4> scope global eth0"),
    ("inet6 fe80::42:acff:fe11:2/64 scope link tentative", "inet6 <ipv6> scope link"),
    ("8: eth0@if9: <BROADCAST,UP>", "<n>: eth0@if<n>: <BROADCAST,UP>"),
    ("80/tcp -> 0.0.0.0:49153", "80/tcp -> <ipv4>:<port>"),
    ("vethb1c2d3e net:[4026532345]", "<veth> net:[<inode>]"),
    ("le conteneur « limited » tourne (PID 695 sur l'hôte).",
     "le conteneur « limited » tourne (PID <pid> sur l'hôte)."),
    ("/proc/17742/status", "/proc/<pid>/status"),
    ("real\t0m0.295s", "real\t<duration>"),
    ("copie vers le haut :    1234.56 ms", "copie vers le haut :<duration>"),
    ("copie vers le haut :     123.45 ms", "copie vers le haut :<duration>"),
    ("le profil /work/main/labs/05-seccomp/no-mkdir.json",
     "le profil <labs-dir>/05-seccomp/no-mkdir.json"),
    ("le profil /tmp/pyker-lab-ab_12cd/labs/05-seccomp/no-mkdir.json",
     "le profil <labs-dir>/05-seccomp/no-mkdir.json"),
    ("PYKER_DATA_ROOT=/tmp/pyker-lab-ab_12cd/data", "PYKER_DATA_ROOT=<data-dir>"),
    ("Linux 6.18.0-1-cloud-amd64", "Linux <kernel-release>"),
    ("auxfiles\r\nftp.fr.debian.org_debian_dists_bookworm_InRelease\r\nlock\r\n",
     "auxfiles\r\n<mirror>_dists_bookworm_InRelease\r\nlock\r\n"),
])
def test_what_varies_is_replaced(raw: str, clean: str) -> None:
    assert sanitize(raw) == clean


@pytest.mark.parametrize("kept", [
    "CapEff:\t00000000a80425fa",
    "pids.max vaut 50 dans /sys/fs/cgroup/pids/pyker/<id>/pids.max.",
    "memory.limit_in_bytes 67108864",
    "chmod: /tmp: Operation not permitted",
    "exit status 159",
    "   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A",
])
def test_what_the_kernel_decides_is_kept(kept: str) -> None:
    assert sanitize(kept) == kept
