"""The rtnetlink wire format, checked against bytes laid out by hand from the UAPI headers.

Every expected request below is written field by field from ``<linux/netlink.h>``,
``<linux/rtnetlink.h>``, ``<linux/if_link.h>``, ``<linux/if_addr.h>`` and ``<linux/veth.h>``
(little-endian, as on x86-64 and aarch64). They are also byte for byte what iproute2 6.1 sends
for the ip(8) command each test names (captured with ``strace -xx -e trace=sendmsg``), a second,
independent witness of the layout. The replies are laid out as the kernel sends them.
"""

from __future__ import annotations

import errno
import sys

import pytest

from pyker.kernel import rtnetlink_msg as m
from pyker.kernel.rtnetlink import _error

pytestmark = pytest.mark.skipif(sys.byteorder != "little",
                                reason="expected bytes are written for a little-endian host")


def b(*chunks: str) -> bytes:
    """Hex chunks (spaces allowed), one per struct field or attribute, joined."""
    return bytes.fromhex("".join(chunks))


IFINFOMSG_ZERO = "00 00 0000 00000000 00000000 00000000"  # family, pad, type, index, flags, change


# -- framing ----------------------------------------------------------------------------------

def test_nlmsghdr_counts_itself_and_leaves_port_id_to_the_kernel() -> None:
    flags = m.NLM_F_REQUEST | m.NLM_F_ACK | m.NLM_F_CREATE | m.NLM_F_EXCL
    raw = m.nlmsg(m.RTM_NEWLINK, flags, 7, b"\xaa" * 4)
    assert raw == b("14000000",  # nlmsg_len 20 = 16 header + 4 body
                    "1000",  # nlmsg_type RTM_NEWLINK 16
                    "0506",  # nlmsg_flags REQUEST 0x1 | ACK 0x4 | EXCL 0x200 | CREATE 0x400
                    "07000000",  # nlmsg_seq
                    "00000000",  # nlmsg_pid 0
                    "aaaaaaaa")


@pytest.mark.parametrize(("payload", "expected"), [
    (b"", "0400 0300"),
    (b"v", "0500 0300 76 000000"),  # nla_len 5 counts no padding; 3 zero bytes pad to 8
    (b"v9\0", "0700 0300 763900 00"),
    (b"eth5\0", "0900 0300 6574683500 000000"),
    (b"abcd", "0800 0300 61626364"),  # already aligned: no padding
])
def test_attribute_length_excludes_padding_to_four_bytes(payload: bytes, expected: str) -> None:
    assert m.attr(m.IFLA_IFNAME, payload) == b(expected)


def test_align_rounds_up_to_four() -> None:
    assert [m.align(n) for n in (0, 1, 4, 5, 7, 8, 17)] == [0, 4, 4, 8, 8, 8, 20]


# -- requests (each equal to iproute2 6.1's) -------------------------------------------------

def test_bridge_request_as_ip_link_add_type_bridge() -> None:
    # ip link add br9 mtu 1400 type bridge
    assert m.bridge_request("br9", mtu=1400) == b(
        IFINFOMSG_ZERO,
        "0800 0400 78050000",  # IFLA_MTU 4: u32 1400
        "0800 0300 62723900",  # IFLA_IFNAME 3: "br9\0"
        "1000 1200",  # IFLA_LINKINFO 18, 16 bytes: a nest
        "0a00 0100 627269646765 0000",  # IFLA_INFO_KIND 1: "bridge" (no NUL), 2 bytes padding
    )
    assert m.bridge_request("br9") == b(IFINFOMSG_ZERO, "0800 0300 62723900",
                                        "1000 1200 0a00 0100 627269646765 0000")


def test_veth_request_carries_the_peer_as_ifinfomsg_plus_attributes() -> None:
    # ip link add v9 type veth peer name v9p netns NS (ip(8) had NS open as fd 4)
    assert m.veth_request("v9", "v9p", peer_netns_fd=4) == b(
        IFINFOMSG_ZERO,
        "0700 0300 763900 00",  # IFLA_IFNAME "v9\0"
        "3400 1200",  # IFLA_LINKINFO, 52 bytes
        "0800 0100 76657468",  # IFLA_INFO_KIND "veth"
        "2800 0200",  # IFLA_INFO_DATA 2, 40 bytes
        "2400 0100",  # VETH_INFO_PEER 1, 36 bytes: a struct ifinfomsg, then attributes
        IFINFOMSG_ZERO,
        "0800 1c00 04000000",  # IFLA_NET_NS_FD 28: u32 4
        "0800 0300 76397000",  # IFLA_IFNAME "v9p\0"
    )


def test_veth_request_with_master_up_and_peer_address_as_ip_sends_it() -> None:
    # ip link add v9 master <2> up type veth peer name v9p address 02:42:ac:11:00:02 netns NS
    assert m.veth_request("v9", "v9p", peer_netns_fd=4, master=2, up=True,
                          peer_mac=m.parse_mac("02:42:ac:11:00:02")) == b(
        "00 00 0000 00000000 01000000 01000000",  # ifi_flags IFF_UP, ifi_change IFF_UP
        "0800 0a00 02000000",  # IFLA_MASTER 10: index 2
        "0700 0300 763900 00",  # IFLA_IFNAME "v9\0"
        "4000 1200",  # IFLA_LINKINFO, 64 bytes
        "0800 0100 76657468",  # IFLA_INFO_KIND "veth"
        "3400 0200",  # IFLA_INFO_DATA, 52 bytes
        "3000 0100",  # VETH_INFO_PEER, 48 bytes
        IFINFOMSG_ZERO,  # the peer stays down: it cannot be raised before the pair is joined
        "0a00 0100 0242ac110002 0000",  # IFLA_ADDRESS: 6 bytes, 2 padding
        "0800 1c00 04000000",  # IFLA_NET_NS_FD 4
        "0800 0300 76397000",  # IFLA_IFNAME "v9p\0"
    )


def test_veth_request_without_namespace_has_a_shorter_peer() -> None:
    # ip link add v8 type veth peer name v8p
    assert m.veth_request("v8", "v8p") == b(
        IFINFOMSG_ZERO, "0700 0300 763800 00",
        "2c00 1200", "0800 0100 76657468", "2000 0200", "1c00 0100",
        IFINFOMSG_ZERO, "0800 0300 76387000")


def test_setlink_request_sets_flags_under_the_change_mask() -> None:
    # ip link set dev v8 (index 5) address 02:42:ac:11:00:02 mtu 1400 name eth5 master br9 (2) up
    body = m.setlink_request(5, up=True, master=2, name="eth5",
                             mac=m.parse_mac("02:42:ac:11:00:02"), mtu=1400)
    assert body == b(
        "00 00 0000 05000000",  # ifi_family, pad, ifi_type, ifi_index 5
        "01000000 01000000",  # ifi_flags IFF_UP, ifi_change IFF_UP
        "0a00 0100 0242ac110002 0000",  # IFLA_ADDRESS 1: 6 bytes, 2 padding
        "0800 0400 78050000",  # IFLA_MTU 1400
        "0800 0a00 02000000",  # IFLA_MASTER 10: index 2
        "0900 0300 6574683500 000000",  # IFLA_IFNAME "eth5\0"
    )


def test_setlink_request_down_and_untouched_flags() -> None:
    down = "00 00 0000 07000000 00000000 01000000"  # flags 0 under change IFF_UP
    assert m.setlink_request(7, up=False) == b(down)
    untouched = "00 00 0000 07000000 00000000 00000000"  # change 0: IFF_UP left as it is
    assert m.setlink_request(7, netns_fd=9, master=0) == b(
        untouched, "0800 0a00 00000000",  # IFLA_MASTER 0: leave the bridge
        "0800 1c00 09000000")  # IFLA_NET_NS_FD 9


def test_address_request_adds_local_address_and_broadcast() -> None:
    # ip addr add 10.0.0.2/24 brd + dev eth5 (index 5)
    assert m.address_request(5, "10.0.0.2/24") == b(
        "02 18 00 00 05000000",  # ifa_family AF_INET, prefixlen 24, flags, scope universe, index
        "0800 0200 0a000002",  # IFA_LOCAL 2: 10.0.0.2, network byte order
        "0800 0100 0a000002",  # IFA_ADDRESS 1: the same on a broadcast link
        "0800 0400 0a0000ff",  # IFA_BROADCAST 4: 10.0.0.255
    )


@pytest.mark.parametrize(("interface", "brd"), [
    ("172.17.0.1/16", "ac11ffff"), ("10.1.2.3/8", "0affffff"), ("10.1.2.3/30", "0a010203"),
    ("0.0.0.1/0", "ffffffff"), ("10.0.1.2/31", None), ("10.0.1.2/32", None),
])
def test_broadcast_is_host_bits_set_and_absent_for_31_and_32(interface: str,
                                                              brd: str | None) -> None:
    body = m.address_request(1, interface)
    attrs = m.parse_attrs(body, 8)
    assert attrs.get(m.IFA_BROADCAST) == (bytes.fromhex(brd) if brd else None)
    # ip addr add 10.0.1.2/31 brd + dev eth5: no IFA_BROADCAST at all
    if interface == "10.0.1.2/31":
        assert body == b("02 1f 00 00 01000000", "0800 0200 0a000102", "0800 0100 0a000102")


def test_route_request_default_via_gateway_in_main_table() -> None:
    # ip route add default via 10.0.0.1
    assert m.route_request("10.0.0.1") == b(
        "02 00 00 00",  # rtm_family AF_INET, dst_len 0, src_len 0, tos 0
        "fe 03 00 01",  # rtm_table RT_TABLE_MAIN 254, RTPROT_BOOT 3, RT_SCOPE_UNIVERSE, RTN_UNICAST
        "00000000",  # rtm_flags
        "0800 0500 0a000001",  # RTA_GATEWAY 5 (no RTA_DST for a /0)
    )


def test_route_request_to_a_network_through_a_device() -> None:
    # ip route add 10.9.0.0/16 via 10.0.0.1 dev eth5 (index 5)
    assert m.route_request("10.0.0.1", "10.9.0.0/16", oif=5) == b(
        "02 10 00 00 fe 03 00 01 00000000",  # dst_len 16
        "0800 0100 0a090000",  # RTA_DST 1
        "0800 0500 0a000001",  # RTA_GATEWAY
        "0800 0400 05000000",  # RTA_OIF 4
    )


@pytest.mark.parametrize("bad", ["10.0.0.2", "10.0.0.2/33", "10.0.0/24", "10.0.0.256/24",
                                 "10.0.0.2/-1", "10.0.0.2/", "::1/128", "10.1/8", "x/24"])
def test_invalid_ipv4_interface_names_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match=f"invalid IPv4 (interface|address) '{bad}"):
        m.parse_ipv4_interface(bad)


def test_invalid_gateway_names_the_value() -> None:
    with pytest.raises(ValueError, match="invalid IPv4 address '10.0.0'"):
        m.route_request("10.0.0")


@pytest.mark.parametrize("bad", ["02:42:ac:11:00", "02:42:ac:11:00:02:03", "0242ac110002",
                                 "02:42:ac:11:00:zz", "2:42:ac:11:00:02", "02-42-ac-11-00-02"])
def test_invalid_mac_names_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match=f"invalid MAC address '{bad}'"):
        m.parse_mac(bad)


def test_mac_round_trip() -> None:
    assert m.parse_mac("02:42:AC:11:00:02") == b"\x02\x42\xac\x11\x00\x02"
    assert m.format_mac(b"\x02\x42\xac\x11\x00\x02") == "02:42:ac:11:00:02"
    assert m.format_mac(b"") == ""


# -- replies ----------------------------------------------------------------------------------

def test_one_datagram_splits_into_aligned_messages() -> None:
    datagram = b(
        "15000000 1000 0200 03000000 00000000", "aabbccdd 11", "000000",  # len 21, padded to 24
        "14000000 0300 0200 03000000 00000000", "00000000",  # NLMSG_DONE, error 0
    )
    first, done = m.parse_messages(datagram)
    assert (first.kind, first.flags, first.seq, first.port, first.body) == (
        m.RTM_NEWLINK, m.NLM_F_MULTI, 3, 0, b"\xaa\xbb\xcc\xdd\x11")
    assert done.kind == m.NLMSG_DONE and m.parse_done(done) == 0


def test_truncated_datagram_is_refused() -> None:
    with pytest.raises(ValueError, match="length 64 at offset 0 overruns a 20-byte datagram"):
        m.parse_messages(b("40000000 1000 0000 01000000 00000000", "00000000"))


def test_done_carries_the_dump_error() -> None:
    (done,) = m.parse_messages(b("14000000 0300 0200 09000000 00000000", "f9ffffff"))  # -7
    assert m.parse_done(done) == errno.E2BIG


def test_ack_is_error_zero() -> None:
    # NETLINK_CAP_ACK: an ACK echoes only the request's 16-byte header (NLM_F_CAPPED)
    (ack,) = m.parse_messages(b("24000000 0200 0001 05000000 00000000", "00000000",
                                "20000000 1000 0506 05000000 00000000"))
    assert m.parse_error(ack) == (0, "")


def test_error_with_the_whole_request_echoed_and_an_extended_ack() -> None:
    # What Linux 6.18 answered to ip route add default via 10.9.9.9 (no route to 10.9.9.9)
    (err,) = m.parse_messages(b(
        "58000000 0200 0002 2a000000 00000000",  # 88 bytes, NLMSG_ERROR, NLM_F_ACK_TLVS
        "9bffffff",  # error -101 (ENETUNREACH)
        "24000000 1800 0506 2a000000 00000000",  # the echoed request's header (36 bytes long)...
        "02000000 fe030001 00000000 0800 0500 0a090909",  # ...and its body, not capped
        "2000 0100", "4e657874686f702068617320696e76616c69642067617465776179 00",  # ATTR_MSG
    ))
    assert m.parse_error(err) == (errno.ENETUNREACH, "Nexthop has invalid gateway")


def test_error_capped_with_an_extended_ack() -> None:
    (err,) = m.parse_messages(b(
        "30000000 0200 0003 01000000 00000000",  # NLM_F_CAPPED | NLM_F_ACK_TLVS
        "efffffff",  # -17 (EEXIST)
        "40000000 1000 0506 01000000 00000000",  # header of a 64-byte request; body not echoed
        "0c00 0100 6f6f7073 2e2e2e 00",  # NLMSGERR_ATTR_MSG "oops..."
    ))
    assert m.parse_error(err) == (errno.EEXIST, "oops...")


def test_error_without_tlvs_has_no_text() -> None:
    (err,) = m.parse_messages(b("24000000 0200 0001 01000000 00000000", "edffffff",  # -19
                                "20000000 1200 0500 01000000 00000000"))
    assert m.parse_error(err) == (errno.ENODEV, "")


def test_link_parsed_from_an_rtm_newlink_reply() -> None:
    body = b(
        "00 00 0100 03000000",  # AF_UNSPEC, ARPHRD_ETHER 1, index 3
        "43100100 00000000",  # ifi_flags UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP, change 0
        "0a00 0300 7665746830 00 0000",  # IFLA_IFNAME "veth0\0"
        "0800 0400 dc050000",  # IFLA_MTU 1500
        "0800 0a00 02000000",  # IFLA_MASTER 2
        "0a00 0100 16c24b82c9c7 0000",  # IFLA_ADDRESS
        "0500 1000 06 000000",  # IFLA_OPERSTATE (ignored)
        "1c00 1280",  # IFLA_LINKINFO with NLA_F_NESTED, as newer kernels may send it
        "0900 0100 7665746800 000000",  # IFLA_INFO_KIND "veth\0"
        "0c00 0280", "0800 0100 05000000",  # IFLA_INFO_DATA nest (ignored)
    )
    assert m.parse_link(body) == m.Link(index=3, name="veth0", kind="veth", master=2,
                                         mac="16:c2:4b:82:c9:c7", up=True, mtu=1500)


def test_link_without_kind_master_or_address() -> None:
    body = b("00 00 0403 01000000", "08000000 00000000", "0700 0300 6c6f00 00")  # lo, down
    assert m.parse_link(body) == m.Link(index=1, name="lo", kind="", master=0, mac="", up=False,
                                         mtu=0)


def test_address_parsed_from_an_rtm_newaddr_reply() -> None:
    body = b("02 10 80 00 02000000",  # AF_INET, /16, IFA_F_PERMANENT, scope universe, index 2
             "0800 0100 ac110001", "0800 0200 ac110001", "0800 0400 ac11ffff",
             "0b00 0300 70796b65723000 00")  # IFA_LABEL "pyker0\0"
    assert m.parse_address(body) == (2, "172.17.0.1/16")
    v6 = b("0a 40 80 fd 02000000", "1400 0100 fe800000000000000042acfffe110002")
    assert m.parse_address(v6) is None


def test_errors_name_the_request_and_object_and_keep_the_errno_class() -> None:
    exc = _error(errno.EEXIST, m.RTM_NEWLINK, "bridge pyker0")
    assert isinstance(exc, FileExistsError)
    assert exc.errno == errno.EEXIST
    assert str(exc) == "[Errno 17] netlink RTM_NEWLINK bridge pyker0: File exists"
    exc = _error(errno.ENETUNREACH, m.RTM_NEWROUTE, "route 0.0.0.0/0 via 10.9.9.9",
                 "Nexthop has invalid gateway")
    assert exc.strerror == ("netlink RTM_NEWROUTE route 0.0.0.0/0 via 10.9.9.9: "
                            "Network is unreachable (Nexthop has invalid gateway)")
