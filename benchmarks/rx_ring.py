"""A PACKET_MMAP receive ring (TPACKET_V2) whose frames are answered in place and
sent from where they lie, with the same face as MmsgBatch (recv, buffers, lengths, send_first, send).

The kernel copies each frame into the ring as it arrives (on veth: on the sender's CPU), so a
receive is a look at a status word, and a system call only when the ring is empty (poll).
"""

from __future__ import annotations

import ctypes
import mmap
import select
import socket
import struct
from collections.abc import Sequence

from pyaoe.net.mmsg import MSG_DONTWAIT, MmsgSender

__all__ = ["RxRing", "ring_frame_size"]

# <linux/if_packet.h>
_SOL_PACKET = 263
_PACKET_RX_RING = 5
_PACKET_VERSION = 10
_TPACKET_V2 = 1
_TP_STATUS_KERNEL = 0
_TP_STATUS_USER = 1
# struct tpacket2_hdr: tp_status, tp_len, tp_snaplen (u32 each), then tp_mac (u16).
_SNAPLEN_WORD = 2
_MAC_HALFWORD = 6
# Where a frame's Ethernet header starts in its slot on a SOCK_RAW socket: the header and a
# sockaddr_ll (TPACKET2_HDRLEN, 52), then 16 bytes, aligned to 16, less the 14 of Ethernet.
_MAC_OFFSET = 66
_REQ = struct.Struct("@IIII")


def ring_frame_size(largest_frame: int, offset: int = _MAC_OFFSET) -> int:
    """The slot size (a power of two, at least a page's eighth) that holds ``largest_frame``
    at ``offset`` in the slot (a receive ring's frame offset by default)."""
    size = 2048
    while size < offset + largest_frame:
        size *= 2
    return size


class RxRing:
    """A receive ring of ``frames`` slots of ``frame_size`` bytes on packet socket ``sock``.

    Set up on a bound socket before any frame comes (benchmarks/lever_target.py does it at
    start-up): a frame already queued would never be seen.
    ``recv`` hands out up to ``count`` frames; their slots go back to the kernel at the next
    ``recv``, after their replies were sent from them. Each slot holds a reply of up to
    ``capacity`` bytes.
    """

    def __init__(self, sock: socket.socket, frames: int, frame_size: int, count: int = 32) -> None:
        per_block = max(1, mmap.PAGESIZE // frame_size)
        block_size = frame_size * per_block
        frames = -(-frames // per_block) * per_block
        sock.setsockopt(_SOL_PACKET, _PACKET_VERSION, _TPACKET_V2)
        sock.setsockopt(
            _SOL_PACKET, _PACKET_RX_RING, _REQ.pack(block_size, frames // per_block, frame_size, frames)
        )
        self.fd = sock.fileno()
        self.count = count
        self.frames = frames
        self.frame_size = frame_size
        #: Bytes a reply may take in a slot.
        self.capacity = frame_size - _MAC_OFFSET
        self._mm = mmap.mmap(self.fd, frames * frame_size)
        self._view = memoryview(self._mm)
        self._words = self._view.cast("I")
        self._halves = self._view.cast("H")
        self._anchor: ctypes.c_char | None = ctypes.c_char.from_buffer(self._mm)
        self._base = ctypes.addressof(self._anchor)
        self._next = 0
        #: The slots of the last recv(), in order.
        self._slots: list[int] = []
        #: The frames of the last recv(), writable in place, each as long as its slot allows.
        self.buffers: list[memoryview] = []
        self._lengths: list[int] = []
        self._addresses: list[int] = []
        self._sender = MmsgSender(self.fd, count)
        self._poller = select.poll()
        self._poller.register(self.fd, select.POLLIN)

    def recv(self, flags: int = 0, timeout_ms: int = 250) -> int:
        """Hand the slots of the last batch back, then take up to ``count`` frames; returns how
        many. Waits up to ``timeout_ms`` for the first unless ``flags`` has MSG_DONTWAIT; raises
        BlockingIOError when none came."""
        words = self._words
        step = self.frame_size // 4
        for slot in self._slots:
            words[slot * step] = _TP_STATUS_KERNEL
        slots: list[int] = []
        self._slots = slots
        i = self._next
        if not words[i * step] & _TP_STATUS_USER:
            if flags & MSG_DONTWAIT or not self._poller.poll(timeout_ms):
                self.buffers = []
                raise BlockingIOError("no frame waiting")
            if not words[i * step] & _TP_STATUS_USER:
                self.buffers = []
                raise BlockingIOError("no frame waiting")
        view = self._view
        halves = self._halves
        frames, size, count, base = self.frames, self.frame_size, self.count, self._base
        buffers: list[memoryview] = []
        lengths: list[int] = []
        addresses: list[int] = []
        while len(slots) < count and words[i * step] & _TP_STATUS_USER:
            start = i * size
            mac = start + halves[start // 2 + _MAC_HALFWORD]
            slots.append(i)
            buffers.append(view[mac : start + size])
            lengths.append(words[i * step + _SNAPLEN_WORD])
            addresses.append(base + mac)
            i = i + 1 if i + 1 < frames else 0
        self._next = i
        self.buffers = buffers
        self._lengths = lengths
        self._addresses = addresses
        return len(slots)

    def lengths(self, n: int) -> list[int]:
        """The lengths of the frames of the last recv() (``n`` of them)."""
        return self._lengths[:n]

    def send_first(self, lengths: Sequence[int]) -> int:
        """Send the last batch's frames 0, 1, 2... with these lengths, from their slots."""
        bases, send_lengths, addresses = self._sender.bases, self._sender.lengths, self._addresses
        for j, length in enumerate(lengths):
            bases[j] = addresses[j]
            send_lengths[j] = length
        return self._sender.send(len(lengths))

    def send(self, frames: Sequence[tuple[int, int]]) -> int:
        """Send frames of the last batch by (index, length) in one call."""
        bases, send_lengths, addresses = self._sender.bases, self._sender.lengths, self._addresses
        for j, (index, length) in enumerate(frames):
            bases[j] = addresses[index]
            send_lengths[j] = length
        return self._sender.send(len(frames))

    def close(self) -> None:
        """Unmap the ring (the socket's owner closes the socket)."""
        self.buffers = []
        self._anchor = None
        for view in (self._words, self._halves, self._view):
            view.release()
        self._mm.close()
