"""pyaoe.net.interfaces: facts about network interfaces (index, MAC, MTU, flags) read with ioctls.

Not /sys: a process that entered only a network namespace (nsenter --net) still sees the other
namespace's /sys, while an ioctl on a socket answers for the socket's own namespace.
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from pyaoe.errors import PyaoeError

__all__ = [
    "ARPHRD_ETHER",
    "IFF_UP",
    "IFF_LOOPBACK",
    "IFF_RUNNING",
    "IFF_NOARP",
    "InterfaceInfo",
    "NoSuchInterfaceError",
    "interface_info",
    "interface_mtu",
    "list_interfaces",
    "aoe_interfaces",
]

# <linux/sockios.h>
_SIOCGIFFLAGS = 0x8913
_SIOCGIFMTU = 0x8921
_SIOCGIFHWADDR = 0x8927
_SIOCGIFINDEX = 0x8933
# <linux/if.h>
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
# <linux/if_arp.h>
ARPHRD_ETHER = 1
_IFNAMSIZ = 16
# struct ifreq is 16 bytes of name and a 24-byte union on 64-bit Linux (40 on 32-bit too: padded).
_IFREQ_SIZE = 40
_IFREQ_NAME = struct.Struct(f"{_IFNAMSIZ}s")
_IFREQ_INT = struct.Struct(f"{_IFNAMSIZ}si")
_IFREQ_SHORT = struct.Struct(f"{_IFNAMSIZ}sh")
_IFREQ_SOCKADDR = struct.Struct(f"{_IFNAMSIZ}sH6s")


class NoSuchInterfaceError(PyaoeError, OSError):
    """The named network interface does not exist (in this network namespace)."""

    def __init__(self, name: str) -> None:
        super().__init__(errno.ENODEV, f"no such interface: {name}")
        self.name = name

    def __str__(self) -> str:
        return f"no such interface: {self.name}"


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    """What pyaoe needs to know about one network interface."""

    name: str
    index: int
    #: Hardware address (6 bytes for Ethernet; other lengths for other link types).
    mac: bytes
    mtu: int
    #: IFF_UP: administratively up.
    up: bool
    loopback: bool
    #: The link type is Ethernet (ARPHRD_ETHER): AoE can run on it.
    ethernet: bool
    #: IFF_RUNNING: the link has a carrier.
    running: bool = False
    #: IFF_NOARP (aoe-sancheck skips such interfaces).
    noarp: bool = False


def _ifreq(name: str) -> bytearray:
    raw = name.encode("utf-8", "surrogateescape")
    if not raw or len(raw) >= _IFNAMSIZ or b"\0" in raw or b"/" in raw:
        raise NoSuchInterfaceError(name)
    buf = bytearray(_IFREQ_SIZE)
    _IFREQ_NAME.pack_into(buf, 0, raw)
    return buf


def _ioctl(fd: int, request: int, name: str) -> bytearray:
    buf = _ifreq(name)
    try:
        fcntl.ioctl(fd, request, buf)
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            raise NoSuchInterfaceError(name) from None
        raise
    return buf


def interface_info(name: str, fd: int | None = None) -> InterfaceInfo:
    """Read the facts of interface ``name``.

    The ioctls go through ``fd`` (any socket; its network namespace is the one asked) or a
    throwaway AF_INET socket made in the calling thread's namespace. Raises
    NoSuchInterfaceError (an OSError, ENODEV) when there is no such interface.
    """
    if fd is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            return interface_info(name, sock.fileno())
    (_n, index) = _IFREQ_INT.unpack_from(_ioctl(fd, _SIOCGIFINDEX, name))
    (_n, family, hwaddr) = _IFREQ_SOCKADDR.unpack_from(_ioctl(fd, _SIOCGIFHWADDR, name))
    (_n, mtu) = _IFREQ_INT.unpack_from(_ioctl(fd, _SIOCGIFMTU, name))
    (_n, flags) = _IFREQ_SHORT.unpack_from(_ioctl(fd, _SIOCGIFFLAGS, name))
    flags &= 0xFFFF
    return InterfaceInfo(
        name=name,
        index=index,
        mac=bytes(hwaddr),
        mtu=mtu,
        up=bool(flags & IFF_UP),
        loopback=bool(flags & IFF_LOOPBACK),
        ethernet=family == ARPHRD_ETHER,
        running=bool(flags & IFF_RUNNING),
        noarp=bool(flags & IFF_NOARP),
    )


def interface_mtu(name: str, fd: int | None = None) -> int:
    """The current MTU of ``name`` (one ioctl; see interface_info for ``fd``)."""
    if fd is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            return interface_mtu(name, sock.fileno())
    mtu: int = _IFREQ_INT.unpack_from(_ioctl(fd, _SIOCGIFMTU, name))[1]
    return mtu


def list_interfaces() -> list[str]:
    """Names of the interfaces in the calling thread's network namespace, in index order."""
    return [name for _index, name in sorted(socket.if_nameindex())]


def aoe_interfaces(iflist: Iterable[str] = ()) -> list[InterfaceInfo]:
    """The interfaces AoE may use: up, Ethernet, not loopback, and named in ``iflist`` unless
    it is empty (names, as pyaoe.initiator.parse_iflist gives them from an aoe_iflist string).

    Names in ``iflist`` that do not exist are skipped, as the Linux driver skips them.
    """
    if isinstance(iflist, str):
        raise TypeError("aoe_interfaces takes names; split an aoe_iflist string with parse_iflist")
    allowed = frozenset(iflist) or None
    result = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in list_interfaces():
            if allowed is not None and name not in allowed:
                continue
            try:
                info = interface_info(name, sock.fileno())
            except NoSuchInterfaceError:
                continue  # removed since the listing
            if info.up and info.ethernet and not info.loopback:
                result.append(info)
    return result
