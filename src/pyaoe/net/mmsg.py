"""pyaoe.net.mmsg: batches of frames per system call with recvmmsg(2) and sendmmsg(2).

MmsgBatch owns a set of frame buffers; recv() fills some of them in one call, send() sends a
chosen list of (buffer, length) in one call. Called through ctypes: no compiler needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Sequence
from struct import Struct

__all__ = ["MmsgBatch", "MmsgSender", "MSG_WAITFORONE", "MSG_DONTWAIT", "recv_mmsg"]

MSG_DONTWAIT = 0x40
MSG_WAITFORONE = 0x10000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int
_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_sendmmsg.restype = ctypes.c_int

# struct iovec { void *base; size_t len; } ; struct mmsghdr { struct msghdr; unsigned msg_len; }
_IOVEC = Struct("@PN")
# msghdr: name, namelen (+pad), iov, iovlen, control, controllen, flags (+pad); then msg_len (+pad).
_MMSGHDR = Struct("@PI4xPNPNi4xI4x")
_MSG_LEN_OFFSET = _MMSGHDR.size - 8
_MSG_LEN = Struct("@I")


def recv_mmsg(fd: int, msgs_address: int, count: int, flags: int) -> int:
    """recvmmsg(2) into the ``count`` mmsghdrs at ``msgs_address``; how many frames came (0 on
    a signal). BlockingIOError when none is waiting and the call may not block."""
    n: int = _recvmmsg(fd, msgs_address, count, flags, None)
    if n < 0:
        err = ctypes.get_errno()
        if err == errno.EINTR:
            return 0
        if err in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise BlockingIOError(err, os.strerror(err))
        raise OSError(err, os.strerror(err))
    return n


class MmsgSender:
    """sendmmsg(2) of up to ``count`` frames, each one iovec whose base and length the caller
    sets in place (``bases[j]``, ``lengths[j]``) before send(total)."""

    def __init__(self, fd: int, count: int) -> None:
        self.fd = fd
        self._iov = ctypes.create_string_buffer(_IOVEC.size * count)
        self._msgs = ctypes.create_string_buffer(_MMSGHDR.size * count)
        iov_base = ctypes.addressof(self._iov)
        for i in range(count):
            _MMSGHDR.pack_into(self._msgs, i * _MMSGHDR.size, 0, 0, iov_base + i * _IOVEC.size, 1, 0, 0, 0, 0)
        self._msgs_address = ctypes.addressof(self._msgs)
        # Strided views of the iov_base and iov_len fields: set per frame without a Struct call.
        words = memoryview(self._iov).cast("B").cast("Q")
        self.bases = words[0 :: _IOVEC.size // 8]
        self.lengths = words[1 :: _IOVEC.size // 8]

    def send(self, total: int) -> int:
        """Send the first ``total`` iovecs (retrying the rest of a partial send); returns how
        many were sent. A full queue (ENOBUFS, EAGAIN) drops the rest: initiators retransmit."""
        sent = 0
        while sent < total:
            n = _sendmmsg(self.fd, self._msgs_address + sent * _MMSGHDR.size, total - sent, 0)
            if n < 0:
                err = ctypes.get_errno()
                if err == errno.EINTR:
                    continue
                if err in (errno.ENOBUFS, errno.EAGAIN):
                    break
                raise OSError(err, os.strerror(err))
            sent += n
        return sent


class MmsgBatch:
    """``count`` buffers of ``size`` bytes, received and sent in batches on socket ``fd``."""

    def __init__(self, fd: int, count: int = 32, size: int = 9216 + 64) -> None:
        self.fd = fd
        self.count = count
        self.size = size
        self._storage = [ctypes.create_string_buffer(size) for _ in range(count)]
        #: The frame buffers, writable in place (bytearray-like views over the ctypes memory).
        self.buffers: list[memoryview] = [memoryview(s).cast("B") for s in self._storage]
        self._addresses = [ctypes.addressof(s) for s in self._storage]
        self._recv_iov = ctypes.create_string_buffer(_IOVEC.size * count)
        self._recv_msgs = ctypes.create_string_buffer(_MMSGHDR.size * count)
        recv_iov_base = ctypes.addressof(self._recv_iov)
        for i, address in enumerate(self._addresses):
            _IOVEC.pack_into(self._recv_iov, i * _IOVEC.size, address, size)
            _MMSGHDR.pack_into(
                self._recv_msgs, i * _MMSGHDR.size, 0, 0, recv_iov_base + i * _IOVEC.size, 1, 0, 0, 0, 0
            )
        self._recv_msgs_address = ctypes.addressof(self._recv_msgs)
        self._recv_view = memoryview(self._recv_msgs).cast("B")
        # A strided view of the msg_len fields: read per frame without a Struct call.
        self._recv_lengths = self._recv_view.cast("I")[_MSG_LEN_OFFSET // 4 :: _MMSGHDR.size // 4]
        self._sender = MmsgSender(fd, count)
        #: The send iovecs point at buffers 0, 1, 2... in order (send_first relies on it).
        self._sequential = False

    def recv(self, flags: int = MSG_WAITFORONE) -> int:
        """Receive up to ``count`` frames into the buffers; returns how many (blocks for the first
        unless MSG_DONTWAIT; raises BlockingIOError when none is waiting then)."""
        return recv_mmsg(self.fd, self._recv_msgs_address, self.count, flags)

    def length(self, index: int) -> int:
        """The length of the frame received into buffer ``index`` by the last recv()."""
        return int(_MSG_LEN.unpack_from(self._recv_view, index * _MMSGHDR.size + _MSG_LEN_OFFSET)[0])

    def lengths(self, n: int) -> list[int]:
        """The lengths of the first ``n`` frames received by the last recv()."""
        lengths: list[int] = self._recv_lengths[:n].tolist()
        return lengths

    def send(self, frames: Sequence[tuple[int, int]]) -> int:
        """Send buffers by (index, length) in one call (retrying the rest of a partial send);
        returns how many were sent."""
        bases, lengths = self._sender.bases, self._sender.lengths
        addresses = self._addresses
        self._sequential = False
        for j, (index, length) in enumerate(frames):
            bases[j] = addresses[index]
            lengths[j] = length
        return self._sender.send(len(frames))

    def send_first(self, lengths: Sequence[int]) -> int:
        """Send buffers 0, 1, 2... with these lengths in one call (the caller filled them in
        that order); returns how many were sent. Cheaper than send(): only lengths are written."""
        sender = self._sender
        if not self._sequential:
            for i, address in enumerate(self._addresses):
                sender.bases[i] = address
            self._sequential = True
        send_lengths = sender.lengths
        for j, length in enumerate(lengths):
            send_lengths[j] = length
        return sender.send(len(lengths))
