"""pyaoe.net.packet_socket: a raw AF_PACKET socket that sends and receives whole AoE frames.

One interface, EtherType 0x88A2, an optional BPF filter; recv_into/send are the socket's own
bound methods, so a frame costs one system call and no allocation. A packet ring can sit behind
the same small interface later.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Callable, Sequence
from types import TracebackType

from pyaoe.net.bpf import BpfInsn, attach_filter
from pyaoe.net.interfaces import interface_info, interface_mtu
from pyaoe.protocol.constants import ETH_P_AOE

__all__ = ["PacketSocket", "set_buffers"]

# <asm-generic/socket.h>: like SO_RCVBUF/SO_SNDBUF, but root may pass net.core.*mem_max.
_SO_SNDBUFFORCE = 32
_SO_RCVBUFFORCE = 33
# <linux/if_packet.h>
_SOL_PACKET = 263
_PACKET_IGNORE_OUTGOING = 23


class PacketSocket:
    """A SOCK_RAW packet socket bound to ``ifname`` and EtherType 0x88A2.

    Frames are whole (Ethernet header included) both ways. The socket lives in the network
    namespace of the thread that made it (see pyaoe.lab.netns.in_netns), and so do the
    interface facts, which are read through the socket itself.
    """

    #: Receive one frame into a writable buffer; returns its length (the socket's own method).
    recv_into: Callable[..., int]
    #: Send one whole frame; returns the bytes sent (the socket's own method).
    send: Callable[..., int]

    def __init__(
        self,
        ifname: str,
        *,
        bpf_program: Sequence[BpfInsn] | None = None,
        rcvbuf: int | None = None,
        sndbuf: int | None = None,
    ) -> None:
        # Protocol 0 receives nothing until bind(); attaching the filter first means no frame
        # from any other interface, or unfiltered, is ever queued.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            info = interface_info(ifname, sock.fileno())
            if bpf_program is not None:
                attach_filter(sock, bpf_program)
            set_buffers(sock, rcvbuf, sndbuf)
            # Without this the kernel hands the socket a copy of every frame it sends, for the
            # filter to throw away: a clone and a filter run per frame (Linux 4.20+).
            with contextlib.suppress(OSError):
                sock.setsockopt(_SOL_PACKET, _PACKET_IGNORE_OUTGOING, 1)
            sock.bind((ifname, ETH_P_AOE))
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self.ifname = ifname
        self.index = info.index
        self.mac = info.mac
        self.mtu = info.mtu
        self.recv_into = sock.recv_into
        self.send = sock.send

    @property
    def socket(self) -> socket.socket:
        """The underlying socket (for setsockopt, asyncio's add_reader, ...)."""
        return self._sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def refresh_mtu(self) -> int:
        """Re-read the interface's MTU (it may change while we run) and return it."""
        self.mtu = interface_mtu(self.ifname, self._sock.fileno())
        return self.mtu

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def wait_readable(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) for a frame; True when one is queued."""
        poller = select.poll()
        poller.register(self._sock.fileno(), select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        return bool(poller.poll(ms))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> PacketSocket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PacketSocket({self.ifname!r}, index={self.index}, mac={self.mac.hex(':')}, mtu={self.mtu})"


def set_buffers(sock: socket.socket, rcvbuf: int | None, sndbuf: int | None = -1) -> None:
    """Size a socket's receive and send buffers (None: leave it; ``sndbuf`` -1: as ``rcvbuf``)."""
    if sndbuf == -1:
        sndbuf = rcvbuf
    if rcvbuf is not None:
        _set_buffer(sock, _SO_RCVBUFFORCE, socket.SO_RCVBUF, rcvbuf)
    if sndbuf is not None:
        _set_buffer(sock, _SO_SNDBUFFORCE, socket.SO_SNDBUF, sndbuf)


def _set_buffer(sock: socket.socket, force_opt: int, opt: int, size: int) -> None:
    """Set a socket buffer size, beyond net.core.[rw]mem_max when we may (as root)."""
    if size <= 0:
        raise ValueError(f"socket buffer size must be positive, not {size}")
    with contextlib.suppress(PermissionError):
        sock.setsockopt(socket.SOL_SOCKET, force_opt, size)
        return
    sock.setsockopt(socket.SOL_SOCKET, opt, size)
