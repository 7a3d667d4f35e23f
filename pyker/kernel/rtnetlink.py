"""A small rtnetlink client: the links, addresses and routes a bridge network needs (rtnetlink(7)).

Since Linux 2.2 the network stack is configured through a socket, not ioctls: a
``NETLINK_ROUTE`` socket carries requests (``RTM_NEWLINK``, ``RTM_NEWADDR``, ``RTM_NEWROUTE``...)
to the kernel and its answers back. Each request carries a sequence number and ``NLM_F_ACK``,
so the kernel answers every one with an ``NLMSG_ERROR`` message: error 0 is the
acknowledgement, anything else the negated errno, with (``NETLINK_EXT_ACK``, Linux 4.12) a
sentence saying which attribute it refused. A *dump* request (``NLM_F_DUMP``) is answered with
many messages, closed by ``NLMSG_DONE``. This is what ip(8) does; the wire format is in
:mod:`pyker.kernel.rtnetlink_msg`.

A netlink socket belongs to the network namespace it was created in, for its whole life, so a
socket created after setns(2) into a container's namespace configures that namespace while the
process (and the thread, once it has set it back) stays in its own (network_namespaces(7)).

Written here rather than imported from pyroute2, whose import alone costs ~150 ms per command.
"""

from __future__ import annotations

import errno
import os
import socket

from pyker.kernel import rtnetlink_msg as m
from pyker.kernel.rtnetlink_msg import Link

__all__ = ["Link", "LinkWatch", "RtNetlink"]

SOL_NETLINK = 270  # <linux/socket.h>; Python's socket module does not export it
NETLINK_CAP_ACK = 10  # errors echo only the request's header, not the whole request
NETLINK_EXT_ACK = 11  # errors carry the kernel's explanation (NLMSGERR_ATTR_MSG)
NLM_F_DUMP_INTR = 0x10  # the dump crossed a concurrent change: it may miss or repeat objects
_RECV_SIZE = 1 << 16  # above the kernel's 32 KiB cap on one dump datagram
_DUMP_TRIES = 3


def _what(link: str | int) -> str:
    """How an error names a link given by name or by index."""
    return f"link {link}" if isinstance(link, str) else f"link index {link}"


def _error(err: int, kind: int, what: str, detail: str = "") -> OSError:
    """``OSError(err, "netlink RTM_NEWLINK bridge pyker0: File exists")`` of errno's subclass."""
    reason = os.strerror(err) + (f" ({detail})" if detail else "")
    return OSError(err, f"netlink {m.RTM_NAMES.get(kind, kind)} {what}: {reason}")


def _open_socket(groups: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket of the calling thread's namespace, member of the multicast
    ``groups`` (a bit mask of RTMGRP_*: notifications) if any."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        for option in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
            try:
                sock.setsockopt(SOL_NETLINK, option, 1)
            except OSError:
                pass  # an older kernel: plain errnos and longer error messages, still correct
        sock.bind((0, groups))  # port id 0: the kernel picks a unique one
    except BaseException:
        sock.close()
        raise
    return sock


def _open_socket_in(netns_fd: int, groups: int = 0) -> socket.socket:
    """A socket of the namespace ``netns_fd`` refers to; the calling thread ends where it began.

    setns(2) moves only the calling thread, so other threads never see the switch; the original
    namespace is taken from /proc/thread-self, not /proc/self (the main thread's).
    """
    from pyker.kernel.namespaces import CloneFlag, setns  # ctypes: loaded only on this path

    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    sock = None
    try:
        setns(netns_fd, CloneFlag.CLONE_NEWNET)
        try:
            sock = _open_socket(groups)
        finally:
            setns(own, CloneFlag.CLONE_NEWNET)
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    finally:
        os.close(own)
    return sock


RTMGRP_LINK = 1  # <linux/rtnetlink.h>: the multicast group of link notifications


class LinkWatch:
    """The kernel's link notifications (``RTMGRP_LINK``) of one namespace: the calling
    thread's, or ``netns_fd``'s.

    What ``ip monitor link`` reads: each link created, changed or deleted is announced to
    the sockets bound to that group. A deletion is announced (RTM_DELLINK) once the link is
    unlisted, before the deleting request returns: the kernel then still waits for an RCU
    grace period before it frees the device (netdev_run_todo), ~15-20 ms here.
    """

    def __init__(self, netns_fd: int | None = None) -> None:
        self._sock = (_open_socket(RTMGRP_LINK) if netns_fd is None
                      else _open_socket_in(netns_fd, RTMGRP_LINK))
        self._sock.setblocking(False)

    def fileno(self) -> int:
        return self._sock.fileno()

    def deleted(self) -> set[int]:
        """The indexes of the links announced deleted since the last call (no waiting).

        Raises:
            OSError: ENOBUFS when notifications were dropped (the socket's buffer full).
        """
        found = set()
        while True:
            try:
                data = self._sock.recv(_RECV_SIZE)
            except BlockingIOError:
                return found
            for message in m.parse_messages(data):
                if message.kind == m.RTM_DELLINK:
                    found.add(m.parse_link(message.body).index)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> LinkWatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class RtNetlink:
    """One ``NETLINK_ROUTE`` socket and the requests pyker's bridge networking makes over it.

    Use as a context manager. Not thread-safe: one request at a time per instance.

    Args:
        netns_fd: an open ``/proc/PID/ns/net`` or ``/run/netns/NAME``: every request then acts
            in that namespace. None: the calling thread's namespace.

    Raises:
        OSError: from socket(2), or named ``setns fd N`` when ``netns_fd`` cannot be joined.
    """

    def __init__(self, netns_fd: int | None = None) -> None:
        self._sock = _open_socket() if netns_fd is None else _open_socket_in(netns_fd)
        self._seq = 0

    def __enter__(self) -> RtNetlink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    # -- links --------------------------------------------------------------------------------

    def link(self, name: str) -> Link | None:
        """Link ``name``, None when the namespace has none of that name."""
        try:
            replies = self._request(m.RTM_GETLINK, m.ifinfomsg() + m.attr_str(m.IFLA_IFNAME, name),
                                    _what(name))
        except OSError as err:
            if err.errno == errno.ENODEV:
                return None
            raise
        return m.parse_link(replies[0].body)

    def link_index(self, name: str) -> int | None:
        """The index of link ``name``, None when the namespace has none of that name."""
        found = self.link(name)
        return None if found is None else found.index

    def links(self) -> list[Link]:
        """Every link of the namespace, in the kernel's order (the one ``ip link show`` prints)."""
        replies = self._dump(m.RTM_GETLINK, m.ifinfomsg(), "links")
        return [m.parse_link(r.body) for r in replies if r.kind == m.RTM_NEWLINK]

    def add_bridge(self, name: str, *, mtu: int | None = None) -> None:
        """Create bridge ``name`` (down, like ``ip link add NAME type bridge``).

        Raises:
            OSError: EEXIST when a link of that name exists.
        """
        self._create(m.RTM_NEWLINK, m.bridge_request(name, mtu), f"bridge {name}")

    def add_veth(self, name: str, peer: str, *, peer_netns_fd: int | None = None,
                 master: str | int | None = None, up: bool = False,
                 peer_mac: str | None = None) -> None:
        """Create the veth pair ``name``/``peer``, the peer directly in ``peer_netns_fd``'s
        netns; ``name`` a port of ``master`` and up if asked, ``peer`` with ``peer_mac``: in
        one request. (The peer is raised after, in its namespace: see m.veth_request.)

        Raises:
            OSError: EEXIST when either name is taken in its namespace; ENODEV naming
                ``master`` when there is no such link.
            ValueError: naming ``peer_mac`` when it is not ``xx:xx:xx:xx:xx:xx``.
        """
        raw_mac = m.parse_mac(peer_mac) if peer_mac is not None else None
        master_index = self._index(master) if master is not None else None
        body = m.veth_request(name, peer, peer_netns_fd, master=master_index, up=up,
                              peer_mac=raw_mac)
        self._create(m.RTM_NEWLINK, body, f"veth {name} (peer {peer})")

    def set_link(self, link: str | int, *, up: bool | None = None,
                 master: str | int | None = None, netns_fd: int | None = None,
                 name: str | None = None, mac: str | None = None, mtu: int | None = None) -> None:
        """Change what is given of ``link`` (a name or an index), in one RTM_SETLINK request.

        The kernel applies a move to ``netns_fd`` first, then the new name, MAC and MTU, then
        the up/down state, then the master (do_setlink()), so one call can move, rename and
        raise a container's end of a veth. A rename needs the link down (EBUSY otherwise).
        ``master=0`` takes the link out of its bridge.

        Raises:
            OSError: ENODEV naming ``link`` (or ``master``) when there is no such link.
            ValueError: naming ``mac`` when it is not ``xx:xx:xx:xx:xx:xx``.
        """
        raw_mac = m.parse_mac(mac) if mac is not None else None
        index = self._index(link)
        master_index = self._index(master) if master is not None else None
        body = m.setlink_request(index, up=up, master=master_index, netns_fd=netns_fd,
                                 name=name, mac=raw_mac, mtu=mtu)
        self._request(m.RTM_SETLINK, body, _what(link))

    def delete_link(self, link: str | int) -> None:
        """Delete ``link``; deleting either end of a veth pair deletes both.

        Raises:
            OSError: ENODEV naming ``link`` when there is no such link.
        """
        # By name, the kernel resolves it itself: no window between lookup and delete.
        if isinstance(link, str):
            body = m.ifinfomsg() + m.attr_str(m.IFLA_IFNAME, link)
        else:
            body = m.ifinfomsg(link)
        self._request(m.RTM_DELLINK, body, _what(link))

    # -- addresses and routes -----------------------------------------------------------------

    def add_address(self, link: str | int, interface: str) -> None:
        """Add IPv4 ``interface`` (``"192.168.1.2/24"``) to ``link``, with its broadcast address.

        Raises:
            ValueError: naming ``interface`` when it is not ``a.b.c.d/len``.
            OSError: EEXIST when the link has that address already.
        """
        body = m.address_request(self._index(link), interface)
        self._create(m.RTM_NEWADDR, body, f"address {interface} on {_what(link)}")

    def addresses(self, link: str | int) -> list[str]:
        """The IPv4 addresses of ``link`` as ``"a.b.c.d/len"``, in the kernel's order."""
        index = self._index(link)
        # Filtering a dump by index in the kernel needs NETLINK_GET_STRICT_CHK; filter here.
        replies = self._dump(m.RTM_GETADDR, m.ifaddrmsg(0, 0), f"addresses of {_what(link)}")
        found = [m.parse_address(r.body) for r in replies if r.kind == m.RTM_NEWADDR]
        return [address for owner, address in filter(None, found) if owner == index]

    def add_route(self, gateway: str, *, dst: str = "0.0.0.0/0",
                  link: str | int | None = None) -> None:
        """Add an IPv4 route to ``dst`` via ``gateway`` in the main table (default: default route).

        Raises:
            ValueError: naming ``gateway`` or ``dst`` when either is not IPv4.
            OSError: EEXIST when the route exists; ENETUNREACH when no link reaches ``gateway``;
                EINVAL when ``dst`` has host bits set.
        """
        oif = self._index(link) if link is not None else None
        what = f"route {dst} via {gateway}" + (f" dev {link}" if link is not None else "")
        self._create(m.RTM_NEWROUTE, m.route_request(gateway, dst, oif), what)

    # -- the exchange -------------------------------------------------------------------------

    def _index(self, link: str | int) -> int:
        if isinstance(link, int):
            return link
        replies = self._request(m.RTM_GETLINK, m.ifinfomsg() + m.attr_str(m.IFLA_IFNAME, link),
                                _what(link))
        return m.parse_link(replies[0].body).index

    def _create(self, kind: int, body: bytes, what: str) -> None:
        # NLM_F_EXCL: an existing object is an error (EEXIST), never silently replaced.
        self._request(kind, body, what, flags=m.NLM_F_CREATE | m.NLM_F_EXCL)

    def _dump(self, kind: int, body: bytes, what: str) -> list[m.Message]:
        """A dump, retried when a concurrent change made the kernel flag it inconsistent."""
        for _ in range(_DUMP_TRIES):
            replies = self._request(kind, body, what, flags=m.NLM_F_DUMP)
            if not any(r.flags & NLM_F_DUMP_INTR for r in replies):
                return replies
        raise _error(errno.EAGAIN, kind, what, f"dump interrupted by changes {_DUMP_TRIES} times")

    def _request(self, kind: int, body: bytes, what: str, *, flags: int = 0) -> list[m.Message]:
        """Send one request and return the replies before its ACK (or ``NLMSG_DONE``).

        Raises:
            OSError: the kernel's errno, as ``netlink <RTM_TYPE> <what>: <strerror>``.
        """
        self._seq += 1
        seq = self._seq
        dump = flags & m.NLM_F_DUMP == m.NLM_F_DUMP
        # A dump ends with NLMSG_DONE and gets no ACK; every other request asks for one.
        flags |= m.NLM_F_REQUEST | (0 if dump else m.NLM_F_ACK)
        replies: list[m.Message] = []
        self._send(m.nlmsg(kind, flags, seq, body), kind, what)
        while True:
            for reply in m.parse_messages(self._recv(kind, what)):
                if reply.seq != seq:
                    continue  # the tail of an earlier request abandoned by an exception
                if reply.kind == m.NLMSG_ERROR:
                    err, detail = m.parse_error(reply)
                    if err:
                        raise _error(err, kind, what, detail)
                    return replies
                if reply.kind == m.NLMSG_DONE:
                    err = m.parse_done(reply)
                    if err:
                        raise _error(err, kind, what)
                    return replies
                if reply.kind > m.NLMSG_OVERRUN:  # skip NOOP/OVERRUN control messages
                    replies.append(reply)


    def _send(self, data: bytes, kind: int, what: str) -> None:
        try:
            self._sock.send(data)
        except OSError as err:
            raise _error(err.errno or errno.EIO, kind, what) from err

    def _recv(self, kind: int, what: str) -> bytes:
        try:
            return self._sock.recv(_RECV_SIZE)
        except OSError as err:  # ENOBUFS: our receive buffer overflowed, answers were dropped
            raise _error(err.errno or errno.EIO, kind, what) from err
