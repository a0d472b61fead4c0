"""pyaoe.service.initiator.ports: the initiator's packet sockets, one port per allowed interface.

Batch receive into reused buffers (recvmmsg), batch send (sendmmsg), the interface scan that
decides which ports exist, and a netlink watch that says when to scan again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pyaoe.net.bpf import initiator_filter
from pyaoe.net.interfaces import NoSuchInterfaceError, aoe_interfaces
from pyaoe.net.mmsg import MSG_DONTWAIT, MmsgBatch
from pyaoe.net.packet_socket import PacketSocket
from pyaoe.service.initiator.stats import InterfaceCounters

__all__ = [
    "BatchHandler",
    "Filler",
    "InterfaceFacts",
    "Port",
    "PortTable",
    "LinkWatch",
    "scan_interfaces",
    "open_port",
    "BATCH",
    "SOCKET_BUFFER",
]

log = logging.getLogger(__name__)

#: What takes a received batch: InitiatorEngine.receive_frames(buffers, ifname, now, lengths).
BatchHandler = Callable[[Sequence[memoryview], str, float, list[int]], None]
#: What fills send buffers: InitiatorEngine.frames_to_send_into(now, ifname, buffers) -> lengths.
Filler = Callable[[float, str, Sequence[memoryview]], list[int]]

#: Frames per recvmmsg/sendmmsg call.
BATCH = 64
#: Socket buffers (bytes): room for several windows of jumbo frames, so that a burst of
#: answers is not dropped while the loop is busy elsewhere.
SOCKET_BUFFER = 8 << 20
#: Room beyond the MTU in a receive buffer: the Ethernet header, a VLAN tag, slack.
_HEADROOM = 64
#: Errors on a send that lose the frame but leave the port usable (the engine resends).
_TRANSIENT = {errno.ENOBUFS, errno.EAGAIN, errno.EMSGSIZE, errno.EINTR}
#: What a receive reports, once, when the interface goes down (ENETDOWN) or away (ENODEV, ENXIO):
#: the port serves again by itself if it comes back up, and the next scan decides its fate.
LINK_ERRORS = frozenset({errno.ENETDOWN, errno.ENODEV, errno.ENXIO})
# <linux/rtnetlink.h>
_RTMGRP_LINK = 1


@dataclass(frozen=True, slots=True)
class InterfaceFacts:
    """What a scan learns of one usable interface."""

    name: str
    index: int
    mac: bytes
    mtu: int


def scan_interfaces(iflist: Iterable[str]) -> dict[str, InterfaceFacts]:
    """The interfaces AoE may use now: up, Ethernet, not loopback, in ``iflist`` (empty: all).

    Asked in the calling thread's network namespace.
    """
    return {
        info.name: InterfaceFacts(info.name, info.index, info.mac, info.mtu)
        for info in aoe_interfaces(iflist)
        if len(info.mac) == 6
    }


class Port:
    """A packet socket on one interface with its batch buffers.

    ``receive`` drains what is queued (one recvmmsg per BATCH frames) and hands each frame to a
    callback as a memoryview of a reused buffer, valid only during the call.
    """

    __slots__ = (
        "_send",
        "_send_batch",
        "batch",
        "buffers",
        "counters",
        "facts",
        "fd",
        "ifname",
        "lengths",
        "recv",
        "sock",
    )

    def __init__(
        self,
        facts: InterfaceFacts,
        *,
        batch: int = BATCH,
        buffer_bytes: int = SOCKET_BUFFER,
        counters: InterfaceCounters | None = None,
    ) -> None:
        self.facts = facts
        self.ifname = facts.name
        self.counters = counters if counters is not None else InterfaceCounters()
        self.sock = PacketSocket(
            facts.name, bpf_program=initiator_filter(facts.mac), rcvbuf=buffer_bytes, sndbuf=buffer_bytes
        )
        try:
            self.sock.setblocking(False)
            self.fd = self.sock.fileno()
            size = max(facts.mtu, 1500) + _HEADROOM
            self.batch = MmsgBatch(self.fd, batch, size)
            self._send_batch = MmsgBatch(self.fd, batch, size)
        except BaseException:
            self.sock.close()
            raise
        self.buffers = self.batch.buffers
        self.lengths = self.batch.lengths
        self.recv = self.batch.recv
        self._send = self.sock.send

    def receive(self, handle: BatchHandler, now: float) -> int:
        """Give every queued frame to ``handle(buffers, ifname, now, lengths)``, a batch at a
        time (frame i is buffers[i][:lengths[i]], valid during the call only: the buffers are
        reused); returns how many frames there were. The interface going down or away is counted
        and logged, never raised: the I/O goes on through the other interfaces."""
        total = 0
        buffers = self.buffers
        ifname = self.ifname
        recv = self.recv
        lengths = self.lengths
        counters = self.counters
        while True:
            try:
                n = recv(MSG_DONTWAIT)
            except BlockingIOError:
                return total
            except OSError as exc:
                if exc.errno not in LINK_ERRORS:
                    raise
                counters.socket_errors += 1
                log.info("%s: %s; using the other interfaces meanwhile", ifname, exc.strerror)
                return total
            if not n:
                return total
            got = lengths(n)
            handle(buffers, ifname, now, got)
            counters.frames_received += n
            counters.bytes_received += sum(got)
            total += n
            if n < BATCH:
                return total

    def send_from(self, fill: Filler, now: float) -> int:
        """Send what ``fill(now, ifname, buffers)`` writes into the send buffers (the engine's
        frames_to_send_into: it packs frames in place and returns their lengths), batch after
        batch while batches come back full; returns how many frames were lost."""
        batch = self._send_batch
        buffers = batch.buffers
        ifname = self.ifname
        counters = self.counters
        lost = 0
        while True:
            lengths = fill(now, ifname, buffers)
            if not lengths:
                break
            try:
                sent = batch.send_first(lengths)
            except OSError as exc:
                sent = len(lengths) - self._lost(exc, len(lengths))
            lost += len(lengths) - sent
            counters.frames_sent += sent
            counters.bytes_sent += sum(lengths) if sent == len(lengths) else sum(lengths[:sent])
            if len(lengths) < len(buffers):
                break
        counters.send_losses += lost
        return lost

    def holds(self, mtu: int) -> bool:
        """Whether the receive buffers take frames of this MTU."""
        return mtu + _HEADROOM <= self.batch.size

    def _lost(self, exc: OSError, count: int) -> int:
        if exc.errno not in _TRANSIENT:
            # ENETDOWN, ENXIO...: the interface went away or down; the scan will tell.
            log.debug("%s: %d frame(s) not sent: %s", self.ifname, count, exc)
        return count

    def pending_error(self) -> int:
        """Read (and clear) the socket's pending error, e.g. ENETDOWN after the link went down."""
        return self.sock.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    def close(self) -> None:
        self.sock.close()


class PortTable:
    """The open ports, by interface name and by descriptor, registered with a poller; and the
    counters of every interface ever used, which outlive its ports."""

    def __init__(self, poller: select.poll) -> None:
        self.by_name: dict[str, Port] = {}
        self.by_fd: dict[int, Port] = {}
        self.counters: dict[str, InterfaceCounters] = {}
        self._poller = poller

    def sync(self, found: dict[str, InterfaceFacts]) -> tuple[bool, bool]:
        """Open and close ports to match ``found`` (a scan); returns (any change, any new port).

        A port whose interface changed identity (index, MAC) is reopened, and so is one whose
        new MTU its buffers cannot hold; a smaller MTU only updates its facts.
        """
        changed = added = False
        for name, port in list(self.by_name.items()):
            facts = found.get(name)
            if facts == port.facts:
                continue
            changed = True
            same = facts is not None and (facts.index, facts.mac) == (port.facts.index, port.facts.mac)
            if same and facts is not None and port.holds(facts.mtu):
                port.facts = facts
            else:
                if facts is None:
                    port.counters.link_down += 1
                self.close(port)
        for name, facts in found.items():
            if name not in self.by_name:
                counters = self.counters.get(name)
                if counters is None:
                    counters = self.counters[name] = InterfaceCounters()
                new = open_port(facts, counters)
                if new is not None:
                    self.by_name[name] = new
                    self.by_fd[new.fd] = new
                    self._poller.register(new.fd, select.POLLIN)
                    changed = added = True
                    log.info("using %s (%s, MTU %d) for AoE", name, facts.mac.hex(":"), facts.mtu)
        return changed, added

    def interfaces(self) -> dict[str, tuple[bytes, int]]:
        """name -> (MAC, MTU) of every open port (what the engine is told)."""
        return {name: (p.facts.mac, p.facts.mtu) for name, p in list(self.by_name.items())}

    def close(self, port: Port) -> None:
        log.info("no longer using %s for AoE", port.ifname)
        self.by_name.pop(port.ifname, None)
        self.by_fd.pop(port.fd, None)
        with contextlib.suppress(KeyError):
            self._poller.unregister(port.fd)
        port.close()

    def close_all(self) -> None:
        for port in list(self.by_name.values()):
            port.close()
        self.by_name.clear()
        self.by_fd.clear()


class LinkWatch:
    """A netlink socket that becomes readable whenever a link appears, changes or goes away.

    The caller drains it and scans the interfaces again; the messages themselves are not read.
    """

    def __init__(self) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        try:
            sock.setblocking(False)
            sock.bind((0, _RTMGRP_LINK))
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._buf = bytearray(1 << 16)

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self) -> bool:
        """Read every queued message; True if there were any (or the queue overflowed)."""
        seen = False
        while True:
            try:
                n = self.sock.recv_into(self._buf)
            except BlockingIOError:
                return seen
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # messages were dropped: scan anyway
                    seen = True
                    continue
                raise
            if n == 0:
                return seen
            seen = True

    def close(self) -> None:
        self.sock.close()


def open_port(facts: InterfaceFacts, counters: InterfaceCounters | None = None) -> Port | None:
    """A port on ``facts.name``, or None (logged) when the interface vanished or refused us."""
    try:
        return Port(facts, counters=counters)
    except NoSuchInterfaceError:
        return None
    except OSError as exc:
        log.warning("%s: cannot open a packet socket: %s", facts.name, exc)
        return None
