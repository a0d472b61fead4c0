"""pyaoe.service.target_port: one interface of a running target: its packet socket, engine and
fast path, and the two loop bodies that serve it (a batch, or one frame), with its counters.

A port outlives reloads: its exports change in place (set_exports), its socket stays open, so
frames queued for unchanged exports are answered as if nothing happened.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import time
from collections.abc import Callable, Sequence

from pyaoe.net.bpf import BpfProgram, attach_filter, target_filter
from pyaoe.net.mmsg import MmsgBatch
from pyaoe.net.packet_socket import PacketSocket, set_buffers
from pyaoe.protocol import Command
from pyaoe.protocol.layout import COMMAND_OFFSET
from pyaoe.service.target_stats import BUCKETS, PortCounters
from pyaoe.target import Export, TargetEngine
from pyaoe.target.fastpath import NOT_HANDLED, FastPath

__all__ = ["Port", "WAKE_INTERVAL"]

log = logging.getLogger(__name__)

#: Room for the largest frame any MTU allows (65535 + the Ethernet header): the MTU may grow
#: while we run, and the fast path builds replies of up to the current MTU in these buffers.
_RECV_BUFFER = 1 << 17
#: Longest a blocked receive lasts (seconds): a signal or a control command that lands while
#: the receive is being entered is seen at the latest then.
WAKE_INTERVAL = 0.25
_WAKE_TIMEVAL = struct.pack("@ll", 0, int(WAKE_INTERVAL * 1_000_000))
#: Cap of a socket's buffers (bytes), however many exports share it.
_MAX_SOCKET_BUFFER = 64 << 20
# <asm-generic/socket.h>: SO_MEMINFO, and the index of the receive queue's bytes in its answer.
_SO_MEMINFO = 55
_SK_MEMINFO_RMEM_ALLOC = 0
_LAST_BUCKET = BUCKETS - 1


class Port:
    """A packet socket on ``ifname`` answering for ``exports`` (see open())."""

    def __init__(
        self, sock: PacketSocket, exports: Sequence[Export], buffer_frames: int, batch_size: int
    ) -> None:
        self.sock = sock
        self.engine = TargetEngine(sock.mac, sock.mtu, exports)
        self.fastpath = FastPath(self.engine)
        self.counters = PortCounters()
        self.buffer_frames = buffer_frames
        self.batch_size = batch_size
        self._batch: MmsgBatch | None = None

    @classmethod
    def open(
        cls, ifname: str, exports: Sequence[Export], buffer_frames: int = 0, batch_size: int = 32
    ) -> Port:
        """Open a socket on ``ifname``; raises OSError (e.g. no such interface)."""
        probe = PacketSocket(ifname)
        mac, mtu = probe.mac, probe.mtu
        probe.close()
        # The filter goes on before the socket is bound, so nothing unfiltered is ever queued.
        size = _buffer_size(exports, buffer_frames, mtu)
        sock = PacketSocket(ifname, bpf_program=_filter(mac, exports), rcvbuf=size, sndbuf=size)
        try:
            sock.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _WAKE_TIMEVAL)
            return cls(sock, exports, buffer_frames, batch_size)
        except BaseException:
            sock.close()
            raise

    @property
    def ifname(self) -> str:
        return self.sock.ifname

    def _tune(self) -> None:
        """The filter and buffer sizes the current exports call for (after a change)."""
        exports = self.engine.exports
        attach_filter(self.sock.socket, _filter(self.sock.mac, exports))
        size = _buffer_size(exports, self.buffer_frames, self.sock.mtu)
        set_buffers(self.sock.socket, size)

    def set_exports(self, exports: Sequence[Export]) -> None:
        """Serve exactly ``exports`` from now on (same objects stay, others come and go)."""
        wanted = {id(e) for e in exports}
        for old in self.engine.exports:
            if id(old) not in wanted:
                self.engine.remove_export(old.config.shelf, old.config.slot)
        present = {id(e) for e in self.engine.exports}
        for export in exports:
            if id(export) not in present:
                self.engine.add_export(export)
        self.fastpath.refresh()
        self._tune()

    def receive_queue_bytes(self) -> int:
        """Bytes of frames waiting in the socket's receive queue (SO_MEMINFO), or -1."""
        try:
            info = self.sock.socket.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, 4 * 9)
        except OSError:
            return -1
        return int(struct.unpack_from("@I", info, _SK_MEMINFO_RMEM_ALLOC * 4)[0])

    def send(self, frame: bytes) -> bool:
        try:
            self.sock.send(frame)
        except OSError as exc:
            # A full queue (ENOBUFS) or a frame the MTU no longer takes (EMSGSIZE) loses one
            # frame, as the wire could; initiators retransmit and rediscover. Serving goes on.
            self.counters.send_failures += 1
            log.warning("%s: frame of %d bytes not sent: %s", self.ifname, len(frame), exc)
            return False
        return True

    def handle(self, view: memoryview, n: int) -> int:
        """Answer one frame through the engine; returns the replies sent."""
        if n > COMMAND_OFFSET and view[COMMAND_OFFSET] == Command.QUERY_CONFIG:
            # The sector count is recomputed from the MTU on every query, as vblade does; the
            # Linux initiator's queries are 32 bytes, unpadded on veth and tap.
            self.engine.mtu = self.sock.refresh_mtu()
        sent = 0
        for reply in self.engine.handle_frame(view[:n], time.monotonic()):
            sent += self.send(reply)
        return sent

    def _link_down(self, exc: OSError) -> None:
        """A receive failed: ENETDOWN (the interface went down) is reported once by the socket,
        which serves again by itself once the interface is up, so serving goes on (vblade exits,
        and every initiator's device with it); any other error ends the loop."""
        if exc.errno != errno.ENETDOWN:
            raise exc
        self.counters.link_down += 1
        log.warning("%s: interface down; serving again once it is up", self.ifname)

    def batch_step(self) -> Callable[[int], bool]:
        """The batch loop body: receive a batch (``flags``: MSG_WAITFORONE to block for its first
        frame, MSG_DONTWAIT not to), answer it (READ/WRITE in place), send the replies, count.
        The step returns whether it received anything (False: the receive timeout, nothing
        waiting, a signal)."""
        if self._batch is None:
            self._batch = MmsgBatch(self.sock.fileno(), self.batch_size, _RECV_BUFFER)
        batch = self._batch
        answer = self.fastpath.answer_batch
        counters = self.counters
        histogram = counters.latency
        buckets = histogram.counts
        clock = time.monotonic_ns

        def step(flags: int) -> bool:
            try:
                n = batch.recv(flags)
            except BlockingIOError:
                return False  # the receive timeout (a chance to run a signal handler), or none
            except OSError as exc:
                self._link_down(exc)
                return False
            if not n:
                return False
            start = clock()
            counters.in_flight = n
            lengths = batch.lengths(n)
            # Read each time: a receive ring (benchmarks/rx_ring.py) hands out other buffers.
            replies = answer(batch.buffers, lengths)
            try:
                if NOT_HANDLED not in replies:
                    sent = batch.send_first(replies)
                    counters.send_failures += n - sent
                else:
                    sent = self._answer_rest(batch, lengths, replies)
            except OSError as exc:
                # As in send(): lost replies (EMSGSIZE after the MTU shrank), not a crash.
                sent = 0
                counters.send_failures += n
                log.warning("%s: %d replies not sent: %s", self.ifname, len(replies), exc)
            micros = (clock() - start) // 1000
            # target_stats.bucket_index, inlined: it runs once a batch.
            shift = micros.bit_length() - 3
            index = micros if shift <= 0 else (shift << 2) + (micros >> shift)
            buckets[index if index < _LAST_BUCKET else _LAST_BUCKET] += n
            histogram.sum_micros += micros * n
            counters.frames_in += n
            counters.frames_out += sent
            counters.batches += 1
            counters.in_flight = 0
            return True

        return step

    def _answer_rest(self, batch: MmsgBatch, lengths: list[int], replies: list[int]) -> int:
        """A batch with frames the fast path left alone: the engine answers those one by one,
        then the fast path's replies go out together. Returns the replies sent."""
        sent = 0
        for i, reply in enumerate(replies):
            if reply == NOT_HANDLED:
                sent += self.handle(batch.buffers[i], lengths[i])
        sends = [(i, reply) for i, reply in enumerate(replies) if reply != NOT_HANDLED]
        if sends:
            done = batch.send(sends)
            self.counters.send_failures += len(sends) - done
            sent += done
        return sent

    def one_step(self) -> Callable[[], bool]:
        """The plain loop body: one frame, if one comes (False: the receive timeout of a
        blocking socket, a chance to run a signal handler, or nothing waiting on a
        non-blocking one)."""
        buf = bytearray(_RECV_BUFFER)
        view = memoryview(buf)
        counters = self.counters

        def step() -> bool:
            try:
                n = self.sock.recv_into(buf)
            except BlockingIOError:
                return False
            except OSError as exc:
                self._link_down(exc)
                return False
            start = time.monotonic_ns()
            counters.in_flight = 1
            sent = self.handle(view, n)
            counters.latency.add((time.monotonic_ns() - start) // 1000)
            counters.frames_in += 1
            counters.frames_out += sent
            counters.batches += 1
            counters.in_flight = 0
            return True

        return step

    def close(self) -> None:
        self.sock.close()


def _filter(mac: bytes, exports: Sequence[Export]) -> BpfProgram:
    only = exports[0].config if len(exports) == 1 else None
    return target_filter(mac, only.shelf if only else None, only.slot if only else None)


def _buffer_size(exports: Sequence[Export], buffer_frames: int, mtu: int) -> int:
    """Room for every request the exports' buffer counts invite at once: they share the
    socket, and one discovery of many exports brings that many IDENTIFYs."""
    frames = buffer_frames or sum(e.config.bufcnt for e in exports)
    return min(max(frames * (mtu + 14), 1 << 16), _MAX_SOCKET_BUFFER)
