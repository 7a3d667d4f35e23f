"""Network interface flags through ioctl(2) (netdevice(7)): enough to bring ``lo`` up.

A new network namespace starts with a loopback interface that is down; Docker's ``none``
network (and every other) brings it up, so 127.0.0.1 answers inside the container.
"""

from __future__ import annotations

import fcntl
import socket
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = "16sH14x"  # struct ifreq: ifr_name[IFNAMSIZ], then the ifr_flags member of the union


def set_up(name: str) -> None:
    """Set IFF_UP on interface ``name`` in the current network namespace.

    Raises:
        OSError: from ioctl(2), naming the interface.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            request = struct.pack(_IFREQ, name.encode(), 0)
            flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
            fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(_IFREQ, name.encode(), flags | IFF_UP))
        except OSError as err:
            raise OSError(err.errno, f"ioctl SIOCSIFFLAGS {name} (IFF_UP): {err.strerror}") from err
