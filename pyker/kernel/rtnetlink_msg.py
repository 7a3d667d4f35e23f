"""The rtnetlink wire format: pure encoding and decoding, no socket (rtnetlink(7), netlink(7)).

Every netlink message is a ``struct nlmsghdr`` (16 bytes: length, type, flags, sequence number,
sender port id) followed by a family header and a run of attributes. For rtnetlink the family
header is ``struct ifinfomsg`` (links), ``struct ifaddrmsg`` (addresses) or ``struct rtmsg``
(routes). An attribute is ``struct nlattr`` (u16 length, u16 type) plus its payload, padded to
a multiple of 4 bytes (``NLA_ALIGNTO``); the length counts header and payload but not the
padding. An attribute may *nest* other attributes (``IFLA_LINKINFO`` holds the kind, and
``IFLA_INFO_DATA`` the kind's own options). All integers are in host byte order, except
addresses, which are raw network-order bytes.

The layouts come from the UAPI headers ``<linux/netlink.h>``, ``<linux/rtnetlink.h>``,
``<linux/if_link.h>``, ``<linux/if_addr.h>`` and ``<linux/veth.h>``; each struct is quoted
where it is packed. Kept apart from the socket so the bytes can be unit tested without root.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# <linux/netlink.h>: message types and flags
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x01, 0x02, 0x04
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH: every object, not one
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400  # modifiers of NEW requests
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200  # flags of an NLMSG_ERROR reply
NLMSGERR_ATTR_MSG = 1  # the kernel's extended-ack text ("Unknown device type")
NLA_TYPE_MASK = 0x3FFF  # strips NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER (0x4000)

# <linux/rtnetlink.h>: request types
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE = 24
RTM_NAMES = {16: "RTM_NEWLINK", 17: "RTM_DELLINK", 18: "RTM_GETLINK", 19: "RTM_SETLINK",
             20: "RTM_NEWADDR", 22: "RTM_GETADDR", 24: "RTM_NEWROUTE"}
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5

# <linux/if_link.h>, <linux/if_addr.h>, <linux/veth.h>: attribute types
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO = 1, 3, 4, 10, 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
IFF_UP = 0x1  # <linux/if.h>

_NLMSGHDR = struct.Struct("=IHHII")  # nlmsg_len, nlmsg_type, nlmsg_flags, nlmsg_seq, nlmsg_pid
_NLATTR = struct.Struct("=HH")  # nla_len, nla_type
# struct ifinfomsg { u8 ifi_family; u8 __pad; u16 ifi_type; s32 ifi_index;
#                    u32 ifi_flags; u32 ifi_change; }
_IFINFOMSG = struct.Struct("=BxHiII")
# struct ifaddrmsg { u8 ifa_family; u8 ifa_prefixlen; u8 ifa_flags; u8 ifa_scope; u32 ifa_index; }
_IFADDRMSG = struct.Struct("=BBBBI")
# struct rtmsg { u8 rtm_family, rtm_dst_len, rtm_src_len, rtm_tos, rtm_table, rtm_protocol,
#                rtm_scope, rtm_type; u32 rtm_flags; }
_RTMSG = struct.Struct("=BBBBBBBBI")


def align(n: int) -> int:
    """``NLMSG_ALIGN``/``NLA_ALIGN``: round up to a multiple of 4."""
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One ``struct nlattr`` with its payload, padded with zeros to the 4-byte boundary."""
    size = _NLATTR.size + len(payload)
    return _NLATTR.pack(size, kind) + payload + bytes(align(size) - size)


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def attr_str(kind: int, value: str) -> bytes:
    """A NUL-terminated string, as the kernel's ``NLA_STRING`` policies expect (``IFNAMSIZ``)."""
    return attr(kind, value.encode() + b"\0")


def attr_kind(kind: str) -> bytes:
    """IFLA_INFO_KIND without a NUL: its policy (NLA_STRING) makes the NUL optional and ip(8)
    sends none; the kernel matches the kind by name against its registered link types."""
    return attr(IFLA_INFO_KIND, kind.encode())


def nest(kind: int, *attrs: bytes) -> bytes:
    """Attributes inside an attribute. Sent without NLA_F_NESTED, as ip(8) does: rtnetlink parses
    IFLA_LINKINFO and IFLA_INFO_DATA with its lenient parser, which takes either form."""
    return attr(kind, b"".join(attrs))


def nlmsg(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    """A whole request: ``struct nlmsghdr`` (port id 0: the kernel fills in ours) then ``body``."""
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


def ifinfomsg(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    """``ifi_family`` AF_UNSPEC: links are not tied to an address family."""
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


def ifaddrmsg(prefixlen: int, index: int) -> bytes:
    return _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)


class Message:
    """One decoded netlink message: header fields and the bytes after ``struct nlmsghdr``.

    A plain slotted class, not a dataclass: decorating one costs ~1.5 ms at import here, and
    this type never leaves the package.
    """

    __slots__ = ("kind", "flags", "seq", "port", "body")

    def __init__(self, kind: int, flags: int, seq: int, port: int, body: bytes) -> None:
        self.kind, self.flags, self.seq, self.port, self.body = kind, flags, seq, port, body

    def __repr__(self) -> str:
        return (f"Message(kind={self.kind}, flags={self.flags:#x}, seq={self.seq}, "
                f"body={self.body!r})")


def parse_messages(data: bytes) -> list[Message]:
    """Split one datagram into its messages (a dump packs several into each ``recv``).

    Raises:
        ValueError: when a length runs past the datagram (a truncated read).
    """
    messages, offset = [], 0
    while offset + _NLMSGHDR.size <= len(data):
        size, kind, flags, seq, port = _NLMSGHDR.unpack_from(data, offset)
        if size < _NLMSGHDR.size or offset + size > len(data):
            raise ValueError(f"netlink message of length {size} at offset {offset} "
                             f"overruns a {len(data)}-byte datagram")
        body = data[offset + _NLMSGHDR.size:offset + size]
        messages.append(Message(kind, flags, seq, port, body))
        offset += align(size)
    return messages


def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """Attributes from ``offset`` on, by type (flag bits stripped), payloads without padding."""
    attrs = {}
    while offset + _NLATTR.size <= len(data):
        size, kind = _NLATTR.unpack_from(data, offset)
        if size < _NLATTR.size:
            break  # malformed; the kernel never sends it, and looping on it would never end
        attrs[kind & NLA_TYPE_MASK] = data[offset + _NLATTR.size:offset + size]
        offset += align(size)
    return attrs


def parse_error(message: Message) -> tuple[int, str]:
    """Errno (positive, 0 for an ACK) and extended-ack text of an ``NLMSG_ERROR`` message.

    ``struct nlmsgerr { int error; struct nlmsghdr msg; }`` carries the negated errno, then the
    request's header, then (unless ``NLM_F_CAPPED``) the rest of the request, then (when
    ``NLM_F_ACK_TLVS``) attributes such as ``NLMSGERR_ATTR_MSG``.
    """
    (error,) = struct.unpack_from("=i", message.body)
    text = ""
    if message.flags & NLM_F_ACK_TLVS:
        echoed = _NLMSGHDR.size
        if not message.flags & NLM_F_CAPPED:
            echoed = _NLMSGHDR.unpack_from(message.body, 4)[0]
        tlvs = parse_attrs(message.body, 4 + align(echoed))
        text = tlvs.get(NLMSGERR_ATTR_MSG, b"").rstrip(b"\0").decode(errors="replace")
    return -error, text


def parse_done(message: Message) -> int:
    """Errno of an ``NLMSG_DONE`` that closes a dump (its payload is an int, 0 on success)."""
    return -struct.unpack_from("=i", message.body)[0] if len(message.body) >= 4 else 0


def parse_ipv4_interface(interface: str) -> tuple[bytes, int]:
    """``"192.168.1.2/24"`` → (4 address bytes, prefix length).

    Raises:
        ValueError: naming ``interface`` when it is not a dotted quad with a /0-32 prefix.
    """
    address, _, prefix = interface.partition("/")
    prefixlen = int(prefix) if prefix.isdigit() else -1
    if not 0 <= prefixlen <= 32:
        raise ValueError(f"invalid IPv4 interface {interface!r}: expected a.b.c.d/len")
    return parse_ipv4_address(address, interface), prefixlen


def parse_ipv4_address(address: str, what: str | None = None) -> bytes:
    """``"10.0.0.1"`` → 4 bytes; strict (inet_pton(3) takes no "10.1" shorthand).

    Raises:
        ValueError: naming ``what`` (default ``address``) when it is not a dotted quad.
    """
    try:
        return socket.inet_pton(socket.AF_INET, address)
    except OSError:
        raise ValueError(f"invalid IPv4 address {what or address!r}") from None


def broadcast(address: bytes, prefixlen: int) -> bytes | None:
    """The ``brd +`` of ip-address(8): host bits all set; none for /31 and /32 (RFC 3021)."""
    if prefixlen > 30:
        return None
    (value,) = struct.unpack("!I", address)
    return struct.pack("!I", value | (0xFFFFFFFF >> prefixlen))


def parse_mac(mac: str) -> bytes:
    """``"02:42:ac:11:00:02"`` → 6 bytes.

    Raises:
        ValueError: naming ``mac`` when it is not six colon-separated hex octets.
    """
    octets = mac.split(":")
    try:
        if len(octets) == 6 and all(len(o) == 2 for o in octets):
            return bytes.fromhex("".join(octets))
    except ValueError:
        pass
    raise ValueError(f"invalid MAC address {mac!r}: expected six hex octets like 02:42:ac:11:00:02")


def format_mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def bridge_request(name: str, mtu: int | None = None) -> bytes:
    """The RTM_NEWLINK body of ``ip link add NAME [mtu MTU] type bridge``.

    Attributes in ip(8)'s order (the kernel takes any), so the bytes compare equal to its own.
    """
    mtu_attr = attr_u32(IFLA_MTU, mtu) if mtu is not None else b""
    return (ifinfomsg() + mtu_attr + attr_str(IFLA_IFNAME, name)
            + nest(IFLA_LINKINFO, attr_kind("bridge")))


def veth_request(name: str, peer: str, peer_netns_fd: int | None = None, *,
                 master: int | None = None, up: bool = False,
                 peer_mac: bytes | None = None) -> bytes:
    """The RTM_NEWLINK body of ``ip link add NAME [master M] [up] type veth peer name PEER
    [address MAC] [netns NS]``.

    ``VETH_INFO_PEER`` is not a plain nest: its payload is a whole ``struct ifinfomsg`` for the
    peer followed by the peer's own IFLA_* attributes (veth_newlink() parses it so), which is why
    it is an ``attr`` and not a ``nest``. An ``IFLA_NET_NS_FD`` there creates the peer directly
    in that namespace: it never appears, even briefly, in ours. The kernel applies the
    peer's address and ``name``'s master and up state as it creates them: one request
    instead of a creation and two changes. The peer cannot be raised in the same request
    (ENOTCONN: veth_open() runs before the pair is joined).
    """
    peer_attrs = ((attr(IFLA_ADDRESS, peer_mac) if peer_mac is not None else b"")
                  + (attr_u32(IFLA_NET_NS_FD, peer_netns_fd) if peer_netns_fd is not None else b"")
                  + attr_str(IFLA_IFNAME, peer))
    peer_info = attr(VETH_INFO_PEER, ifinfomsg() + peer_attrs)
    header = ifinfomsg(0, IFF_UP, IFF_UP) if up else ifinfomsg()
    return (header + (attr_u32(IFLA_MASTER, master) if master is not None else b"")
            + attr_str(IFLA_IFNAME, name)
            + nest(IFLA_LINKINFO, attr_kind("veth"),
                   nest(IFLA_INFO_DATA, peer_info)))


def setlink_request(index: int, *, up: bool | None = None, master: int | None = None,
                    netns_fd: int | None = None, name: str | None = None,
                    mac: bytes | None = None, mtu: int | None = None) -> bytes:
    """The RTM_SETLINK body changing only what is given: ``ifi_change`` masks the flags.

    The order of attributes does not matter to the kernel (see RtNetlink.set_link for the
    order it applies them in); this one is ip-link(8)'s for ``address mtu master name``.
    """
    change = IFF_UP if up is not None else 0
    attrs = [attr(IFLA_ADDRESS, mac) if mac is not None else b"",
             attr_u32(IFLA_MTU, mtu) if mtu is not None else b"",
             attr_u32(IFLA_MASTER, master) if master is not None else b"",
             attr_str(IFLA_IFNAME, name) if name is not None else b"",
             attr_u32(IFLA_NET_NS_FD, netns_fd) if netns_fd is not None else b""]
    return ifinfomsg(index, IFF_UP if up else 0, change) + b"".join(attrs)


def address_request(index: int, interface: str) -> bytes:
    """The RTM_NEWADDR body of ``ip addr add A/LEN brd + dev INDEX``.

    For IPv4 ``IFA_LOCAL`` is the interface's own address and ``IFA_ADDRESS`` the peer's on a
    point-to-point link; ip(8) sends both, equal, on a broadcast link, and so do we.
    """
    raw, prefixlen = parse_ipv4_interface(interface)
    brd = broadcast(raw, prefixlen)
    return (ifaddrmsg(prefixlen, index) + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw)
            + (attr(IFA_BROADCAST, brd) if brd is not None else b""))


def route_request(gateway: str, dst: str = "0.0.0.0/0", oif: int | None = None) -> bytes:
    """The RTM_NEWROUTE body of ``ip route add DST via GATEWAY [dev OIF]`` (main table).

    Raises:
        ValueError: naming ``gateway`` or ``dst`` when either is not IPv4.
    """
    dst_raw, dst_len = parse_ipv4_interface(dst)
    gw_raw = parse_ipv4_address(gateway)
    header = _RTMSG.pack(socket.AF_INET, dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                         RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
    return (header + (attr(RTA_DST, dst_raw) if dst_len else b"") + attr(RTA_GATEWAY, gw_raw)
            + (attr_u32(RTA_OIF, oif) if oif is not None else b""))


@dataclass(frozen=True, slots=True)
class Link:
    """A network interface as an RTM_NEWLINK reply describes it."""

    index: int
    name: str
    kind: str  # IFLA_INFO_KIND: "bridge", "veth"...; "" for loopback and physical devices
    master: int  # the bridge's index for a port, 0 otherwise
    mac: str  # "" when the device has no link-layer address
    up: bool  # IFF_UP: administratively up (not whether a carrier is present)
    mtu: int


def parse_link(body: bytes) -> Link:
    """A :class:`Link` from the body of an RTM_NEWLINK message."""
    _, _, index, flags, _ = _IFINFOMSG.unpack_from(body)
    attrs = parse_attrs(body, _IFINFOMSG.size)
    info = parse_attrs(attrs.get(IFLA_LINKINFO, b""))

    def u32(kind: int) -> int:
        return struct.unpack("=I", attrs[kind])[0] if kind in attrs else 0

    return Link(index=index, name=attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(),
                kind=info.get(IFLA_INFO_KIND, b"").rstrip(b"\0").decode(),
                master=u32(IFLA_MASTER), mac=format_mac(attrs.get(IFLA_ADDRESS, b"")),
                up=bool(flags & IFF_UP), mtu=u32(IFLA_MTU))


def parse_address(body: bytes) -> tuple[int, str] | None:
    """(interface index, ``"a.b.c.d/len"``) of an IPv4 RTM_NEWADDR body, None for another family."""
    family, prefixlen, _, _, index = _IFADDRMSG.unpack_from(body)
    attrs = parse_attrs(body, _IFADDRMSG.size)
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    if family != socket.AF_INET or raw is None:
        return None
    return index, f"{socket.inet_ntop(socket.AF_INET, raw)}/{prefixlen}"
