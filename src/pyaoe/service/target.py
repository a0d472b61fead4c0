"""pyaoe.service.target: the target's serving loop: packet sockets in, TargetEngine, replies out.

One socket and one engine per interface, any number of exports; announces at start, keeps
serving whatever a frame does, flushes on the way out.
"""

from __future__ import annotations

import errno
import functools
import logging
import select
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import FrameType

from pyaoe.net.bpf import target_filter
from pyaoe.net.mmsg import MSG_DONTWAIT, MSG_WAITFORONE, MmsgBatch
from pyaoe.net.packet_socket import PacketSocket
from pyaoe.protocol import Command
from pyaoe.protocol.layout import COMMAND_OFFSET
from pyaoe.target import Export, TargetEngine
from pyaoe.target.fastpath import NOT_HANDLED, FastPath

__all__ = ["ExportSpec", "TargetService"]

log = logging.getLogger(__name__)

#: Room for the largest frame any MTU allows (65535 + the Ethernet header): the MTU may grow
#: while we run, and the fast path builds replies of up to the current MTU in these buffers.
_RECV_BUFFER = 1 << 17
#: Longest a blocked receive lasts (seconds). A signal (SIGTERM) that lands just before the
#: receive starts is handled only when it returns; without a timeout it could wait forever.
_WAKE_INTERVAL = 0.25
_WAKE_TIMEVAL = struct.pack("@ll", 0, int(_WAKE_INTERVAL * 1_000_000))
#: Cap of a socket's buffers (bytes), however many exports share it.
_MAX_SOCKET_BUFFER = 64 << 20


def _link_down(port: _Port, exc: OSError) -> None:
    """A receive failed: ENETDOWN (the interface went down) is reported once by the socket,
    which serves again by itself once the interface is up, so serving goes on (vblade exits,
    and every initiator's device with it); any other error ends the loop."""
    if exc.errno != errno.ENETDOWN:
        raise exc
    log.warning("%s: interface down; serving again once it is up", port.sock.ifname)


@dataclass
class ExportSpec:
    """An export and the interfaces it is served on."""

    export: Export
    interfaces: Sequence[str]


@dataclass
class _Port:
    sock: PacketSocket
    engine: TargetEngine


@dataclass
class TargetService:
    """Serve ``specs`` until stop() or SIGTERM/SIGINT."""

    specs: Sequence[ExportSpec]
    #: Socket buffer size in frames (vblade sizes its buffers as bufcnt x MTU).
    buffer_frames: int = 0
    #: Receive and send in batches (recvmmsg/sendmmsg) and answer READ/WRITE in place; False
    #: gives the plain one-frame-per-call loop (the portable fallback).
    batched: bool = True
    #: Frames per batch.
    batch_size: int = 32
    _ports: list[_Port] = field(default_factory=list)
    _stopping: bool = False

    def open(self) -> None:
        """Open a socket per interface; raises OSError (e.g. no such interface) before serving."""
        by_interface: dict[str, list[Export]] = {}
        for spec in self.specs:
            for ifname in spec.interfaces:
                by_interface.setdefault(ifname, []).append(spec.export)
        try:
            for ifname, exports in by_interface.items():
                probe = PacketSocket(ifname)
                mac, mtu = probe.mac, probe.mtu
                probe.close()
                only = exports[0].config if len(exports) == 1 else None
                program = target_filter(mac, only.shelf if only else None, only.slot if only else None)
                # Room for every request the exports' buffer counts invite at once: they share
                # this socket, and one discovery of many exports brings that many IDENTIFYs.
                frames = self.buffer_frames or sum(e.config.bufcnt for e in exports)
                size = min(max(frames * (mtu + 14), 1 << 16), _MAX_SOCKET_BUFFER)
                sock = PacketSocket(ifname, bpf_program=program, rcvbuf=size, sndbuf=size)
                sock.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _WAKE_TIMEVAL)
                self._ports.append(_Port(sock, TargetEngine(sock.mac, sock.mtu, exports)))
        except BaseException:
            self.close()
            raise

    def announce(self) -> None:
        """Tell running initiators about every export (vblade's start-up announcement)."""
        for port in self._ports:
            for frame in port.engine.announcements():
                self._send(port, frame)

    def stop(self, *_: object) -> None:
        self._stopping = True

    def serve_forever(self) -> None:
        """Answer frames until stopped. Bad frames never end the loop; socket errors do."""
        self.announce()
        if len(self._ports) == 1 and self.batched:
            self._serve_batched(self._ports[0])
        elif len(self._ports) == 1:
            self._serve_one(self._ports[0])
        else:
            self._serve_many()

    def _handle(self, port: _Port, view: memoryview, n: int) -> None:
        if n > COMMAND_OFFSET and view[COMMAND_OFFSET] == Command.QUERY_CONFIG:
            # The sector count is recomputed from the MTU on every query, as vblade does; the
            # Linux initiator's queries are 32 bytes, unpadded on veth and tap.
            port.engine.mtu = port.sock.refresh_mtu()
        for reply in port.engine.handle_frame(view[:n], time.monotonic()):
            self._send(port, reply)

    @staticmethod
    def _send(port: _Port, frame: bytes) -> None:
        try:
            port.sock.send(frame)
        except OSError as exc:
            # A full queue (ENOBUFS) or a frame the MTU no longer takes (EMSGSIZE) loses one
            # frame, as the wire could; initiators retransmit and rediscover. Serving goes on.
            log.warning("%s: frame of %d bytes not sent: %s", port.sock.ifname, len(frame), exc)

    def _serve_one(self, port: _Port) -> None:
        """The plain loop: one recv and one send a frame (the socket blocks, with a timeout)."""
        step = self._one_step(port)
        while not self._stopping:
            step()

    def _serve_batched(self, port: _Port) -> None:
        """recvmmsg a batch, answer READ/WRITE in place, sendmmsg the replies: the fast path."""
        step = self._batch_step(port)
        while not self._stopping:
            step(MSG_WAITFORONE)

    def _batch_step(self, port: _Port) -> Callable[[int], bool]:
        """One port's batch loop body: receive a batch (``flags``: MSG_WAITFORONE to block for
        its first frame, MSG_DONTWAIT not to), answer it, send the replies. The step returns
        whether it received anything (False: the receive timeout, nothing waiting, a signal)."""
        batch = MmsgBatch(port.sock.fileno(), self.batch_size, _RECV_BUFFER)
        answer = FastPath(port.engine).answer_batch
        buffers = batch.buffers

        def step(flags: int) -> bool:
            try:
                n = batch.recv(flags)
            except BlockingIOError:
                return False  # the receive timeout (a chance to run a signal handler), or none
            except OSError as exc:
                _link_down(port, exc)
                return False
            if not n:
                return False
            lengths = batch.lengths(n)
            replies = answer(buffers, lengths)
            try:
                if NOT_HANDLED not in replies:
                    batch.send_first(replies)
                else:
                    self._answer_rest(port, batch, lengths, replies)
            except OSError as exc:
                # As in _handle: lost replies (EMSGSIZE after the MTU shrank), not a crash.
                log.warning("%s: %d replies not sent: %s", port.sock.ifname, len(replies), exc)
            return True

        return step

    def _answer_rest(self, port: _Port, batch: MmsgBatch, lengths: list[int], replies: list[int]) -> None:
        """A batch with frames the fast path left alone: the engine answers those one by one,
        then the fast path's replies go out together."""
        for i, reply in enumerate(replies):
            if reply == NOT_HANDLED:
                self._handle(port, batch.buffers[i], lengths[i])
        sends = [(i, reply) for i, reply in enumerate(replies) if reply != NOT_HANDLED]
        if sends:
            batch.send(sends)

    def _serve_many(self) -> None:
        """Several interfaces (or sockets): poll, then drain each ready one, in batches when
        batched (a few batches a turn, so one busy interface cannot starve the others)."""
        poller = select.poll()
        steps: dict[int, Callable[[], bool]] = {}
        for port in self._ports:
            port.sock.setblocking(False)
            poller.register(port.sock.fileno(), select.POLLIN)
            steps[port.sock.fileno()] = (
                functools.partial(self._batch_step(port), MSG_DONTWAIT)
                if self.batched
                else self._one_step(port)
            )
        turns = 4 if self.batched else 64  # batches, or frames, of one port per turn
        while not self._stopping:
            for fd, _event in poller.poll(_WAKE_INTERVAL * 1000):
                step = steps[fd]
                for _ in range(turns):
                    if not step():
                        break

    def _one_step(self, port: _Port) -> Callable[[], bool]:
        """The plain loop body: one frame, if one comes (False: the receive timeout of a
        blocking socket, a chance to run a signal handler, or nothing waiting on a
        non-blocking one)."""
        buf = bytearray(_RECV_BUFFER)
        view = memoryview(buf)

        def step() -> bool:
            try:
                n = port.sock.recv_into(buf)
            except BlockingIOError:
                return False
            except OSError as exc:
                _link_down(port, exc)
                return False
            self._handle(port, view, n)
            return True

        return step

    def flush(self) -> None:
        """fsync every writable export (called on the way out)."""
        for spec in self.specs:
            if not spec.export.readonly:
                try:
                    spec.export.backend.flush()
                except OSError as exc:
                    log.warning("%s: flush on exit failed: %s", spec.export.config.name, exc)

    def close(self) -> None:
        for port in self._ports:
            port.sock.close()
        self._ports.clear()

    def run(self) -> None:
        """open(), serve until SIGTERM/SIGINT, then flush and close."""

        def _terminate(signum: int, _frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        previous = {s: signal.signal(s, _terminate) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            if not self._ports:
                self.open()
            try:
                self.serve_forever()
            except KeyboardInterrupt:
                log.info("stopping")
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.flush()
            self.close()

    @property
    def engines(self) -> Iterable[TargetEngine]:
        return [p.engine for p in self._ports]
