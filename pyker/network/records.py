"""What a network is, as the store keeps it: its addresses and options, and its endpoints
(the containers attached: address, MAC, aliases, host-side veth). Plain frozen records,
read and written whole as JSON by :mod:`pyker.network.store`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from pyker.network import ipam

PREDEFINED = ("bridge", "host", "none")
DEFAULT_NAME = "bridge"
DEFAULT_BRIDGE = "pyker0"
ZERO_TIME = "0001-01-01T00:00:00Z"
# Short ids (12 characters, Docker's) name a container in DNS; shorter prefixes do not.
SHORT_ID = 12
NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")

DEFAULT_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.bridge.name": DEFAULT_BRIDGE,
    "com.docker.network.driver.mtu": "1500",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A container's attachment to one network."""

    ip: str
    mac: str
    aliases: tuple[str, ...] = ()
    veth: str = ""             # host-side veth name, for cleanup
    name: str = ""             # the container's name (DNS answers for it)
    endpoint_id: str = ""      # 64 hex, Docker's EndpointID


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    id: str
    name: str
    driver: str = "bridge"
    scope: str = "local"
    subnet: str = ""           # "" for host and none
    gateway: str = ""
    ip_range: str = ""
    aux: dict[str, str] = field(default_factory=dict, hash=False)
    configured: bool = False   # subnet given by the user (--subnet, bip): --ip is allowed
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    options: dict[str, str] = field(default_factory=dict, hash=False)
    created: str = ZERO_TIME
    bridge: str = ""           # the bridge interface: pyker0 or br-<id[:12]>
    endpoints: dict[str, Endpoint] = field(default_factory=dict, hash=False)

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    def ipam(self) -> ipam.IpamConfig:
        return ipam.IpamConfig(
            subnet=IPv4Network(self.subnet), gateway=IPv4Address(self.gateway),
            ip_range=IPv4Network(self.ip_range) if self.ip_range else None,
            aux={k: IPv4Address(v) for k, v in self.aux.items()})

    def to_dict(self) -> dict[str, object]:
        """As ``dataclasses.asdict``, without its deep copy of every value (a third of a
        millisecond a network, at each run's attach and release): the values are strings,
        booleans and dicts of strings, and the endpoints' fields."""
        doc: dict[str, object] = {name: getattr(self, name) for name in _NETWORK_FIELDS}
        for name in ("aux", "labels", "options"):
            doc[name] = dict(doc[name])
        doc["endpoints"] = {cid: {name: getattr(ep, name) for name in _ENDPOINT_FIELDS}
                            for cid, ep in self.endpoints.items()}
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> Network:
        endpoints = {cid: Endpoint(**{**ep, "aliases": tuple(ep.get("aliases", ()))})
                     for cid, ep in doc.get("endpoints", {}).items()}
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "endpoints": endpoints})


_NETWORK_FIELDS = tuple(Network.__dataclass_fields__)
_ENDPOINT_FIELDS = tuple(Endpoint.__dataclass_fields__)


def with_predefined(nets: list[Network]) -> list[Network]:
    """``nets`` and the predefined ``host`` and ``none``: no file, so no random id to keep;
    their id is derived from their name, the same on every call, and their creation time is
    the default bridge's (in Docker all three are made at the daemon's first start)."""
    created = next((n.created for n in nets if n.name == DEFAULT_NAME), ZERO_TIME)
    extra = [Network(id=hashlib.sha256(f"pyker network {name}".encode()).hexdigest(),
                     name=name, driver=driver, created=created)
             for name, driver in (("host", "host"), ("none", "null"))]
    return nets + extra
