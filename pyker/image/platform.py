"""The host's platform in OCI terms (GOARCH names, as image configs and indexes use)."""

from __future__ import annotations

import platform

_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "arm", "armv6l": "arm", "i686": "386", "i386": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_architecture() -> str:
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


def host_variant() -> str | None:
    machine = platform.machine()
    return {"aarch64": "v8", "armv7l": "v7", "armv6l": "v6"}.get(machine)
