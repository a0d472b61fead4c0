"""A PACKET_MMAP transmit ring (TPACKET_V2) that frames are received into (recvmmsg), answered
in place and sent from, all of a batch with one send(), with the same face as MmsgBatch (recv,
buffers, lengths, send_first, send).

The ring is on a second packet socket bound to the interface with protocol 0 (it receives
nothing): with a transmit ring every send on a socket takes its frames from the ring, and the
target's own socket still sends the engine's one-off answers. The kernel sends the ring's
frames in ring order from where it stopped, up to the first slot not marked for sending, so a
batch is received into the slots from that point on and its replies are kept contiguous there.
"""

from __future__ import annotations

import ctypes
import mmap
import socket
from collections.abc import Sequence

from rx_ring import _PACKET_VERSION, _REQ, _SOL_PACKET, _TPACKET_V2, ring_frame_size

from pyaoe.net import mmsg
from pyaoe.net.mmsg import MSG_WAITFORONE

__all__ = ["TxRing", "slot_size"]

# <linux/if_packet.h>
_PACKET_TX_RING = 13
_TP_STATUS_SEND_REQUEST = 1
# struct tpacket2_hdr: tp_status, tp_len (u32 each). A frame's bytes start at TPACKET2_HDRLEN
# less the sockaddr_ll: after the 32-byte aligned header.
_LEN_WORD = 1
_DATA_OFFSET = 32


def slot_size(largest_frame: int) -> int:
    """A slot that holds ``largest_frame`` after the slot's header."""
    return ring_frame_size(largest_frame, _DATA_OFFSET)


class TxRing:
    """A transmit ring of ``frames`` slots of ``frame_size`` bytes on interface ``ifname``;
    recv() takes up to ``count`` frames from socket ``fd`` into the slots from the ring's head."""

    def __init__(self, fd: int, ifname: str, frame_size: int, count: int = 32, frames: int = 256) -> None:
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.tx.bind((ifname, 0))
        per_block = max(1, mmap.PAGESIZE // frame_size)
        frames = -(-frames // per_block) * per_block
        self.tx.setsockopt(_SOL_PACKET, _PACKET_VERSION, _TPACKET_V2)
        self.tx.setsockopt(
            _SOL_PACKET,
            _PACKET_TX_RING,
            _REQ.pack(frame_size * per_block, frames // per_block, frame_size, frames),
        )
        self._mm = mmap.mmap(self.tx.fileno(), frames * frame_size)
        view = memoryview(self._mm)
        self._words = view.cast("I")
        self._step = frame_size // 4
        self.fd, self.count, self.frames = fd, count, frames
        capacity = frame_size - _DATA_OFFSET
        slots = [view[k * frame_size + _DATA_OFFSET : (k + 1) * frame_size] for k in range(frames)]
        #: Twice over, so that the slots from any head on are one slice.
        self._slots = slots + slots
        self._anchor: ctypes.c_char | None = ctypes.c_char.from_buffer(self._mm)
        base = ctypes.addressof(self._anchor)
        # One iovec a slot; msghdrs for twice the ring, each pointing at its slot's iovec, so that
        # recvmmsg from any head on is one call on a contiguous run of them.
        self._iov = ctypes.create_string_buffer(mmsg._IOVEC.size * frames)
        for k in range(frames):
            mmsg._IOVEC.pack_into(
                self._iov, k * mmsg._IOVEC.size, base + k * frame_size + _DATA_OFFSET, capacity
            )
        self._msgs = ctypes.create_string_buffer(mmsg._MMSGHDR.size * 2 * frames)
        iov_base = ctypes.addressof(self._iov)
        for i in range(2 * frames):
            iov = iov_base + (i % frames) * mmsg._IOVEC.size
            mmsg._MMSGHDR.pack_into(self._msgs, i * mmsg._MMSGHDR.size, 0, 0, iov, 1, 0, 0, 0, 0)
        self._msgs_address = ctypes.addressof(self._msgs)
        msgs_view = memoryview(self._msgs).cast("B").cast("I")
        self._msg_lengths = msgs_view[mmsg._MSG_LEN_OFFSET // 4 :: mmsg._MMSGHDR.size // 4]
        self.head = 0
        self.buffers: list[memoryview] = self._slots[:count]

    def recv(self, flags: int = MSG_WAITFORONE) -> int:
        head, words, step = self.head, self._words, self._step
        # A blocking send() returns once every frame it queued has left and its slot is free;
        # the first and last slot of this batch are checked all the same.
        for slot in (head, (head + self.count - 1) % self.frames):
            while words[slot * step] == _TP_STATUS_SEND_REQUEST:
                self.tx.send(b"")
        self.buffers = self._slots[head : head + self.count]
        return mmsg.recv_mmsg(self.fd, self._msgs_address + head * mmsg._MMSGHDR.size, self.count, flags)

    def lengths(self, n: int) -> list[int]:
        lengths: list[int] = self._msg_lengths[self.head : self.head + n].tolist()
        return lengths

    def send_first(self, lengths: Sequence[int]) -> int:
        return self.send(list(enumerate(lengths)))

    def send(self, frames: Sequence[tuple[int, int]]) -> int:
        """Mark the replies (index in the last batch, length) for sending, moved down where a
        frame before them has none (the kernel stops at the first unmarked slot), and send."""
        head, words, step, slots, size = self.head, self._words, self._step, self._slots, self.frames
        k = head
        for index, length in frames:
            if length <= 0:
                continue
            if head + index != k:
                slots[k][:length] = slots[head + index][:length]
            word = (k % size) * step
            words[word + _LEN_WORD] = length
            words[word] = _TP_STATUS_SEND_REQUEST
            k += 1
        if k == head:
            return 0
        self.head = k % size
        self.tx.send(b"")
        return k - head

    def close(self) -> None:
        self.buffers = []
        self._slots = []
        self._anchor = None
        self._msg_lengths.release()
        self._words.release()
        self.tx.close()
