"""The initiator's packet ports over a veth pair: batches go out whole and in order, answers come
in whole and filtered, the interface scan sees what AoE may use, link changes wake the watch, and
a receive that finds the interface down is counted, never fatal (to a port or to the I/O thread)."""

from __future__ import annotations

import fcntl
import select
import struct
import termios
import threading
from collections.abc import Iterator, Sequence

import pytest

from pyaoe.initiator import InitiatorConfig
from pyaoe.lab.netns import Lab, Link, in_netns
from pyaoe.net import PacketSocket
from pyaoe.service.initiator import InitiatorService
from pyaoe.service.initiator.ports import BATCH, LinkWatch, Port, scan_interfaces
from support.packets import recv_frame
from support.wait import wait_until

pytestmark = pytest.mark.netns

TARGET_MAC = bytes.fromhex("02aabbccdd01")


@pytest.fixture
def pair() -> Iterator[tuple[Lab, Link, Link]]:
    with Lab() as lab:
        ns_i, ns_t = lab.netns("porti"), lab.netns("portt")
        here, there = lab.veth(ns_i, ns_t, mtu=9000)
        yield lab, here, there


def frame(dst: bytes, src: bytes, tag: int, size: int, *, response: bool) -> bytes:
    header = dst + src + b"\x88\xa2" + bytes([0x18 if response else 0x10, 0]) + b"\x00\x01\x02\x00"
    body = header + tag.to_bytes(4, "big")
    return body + bytes((tag + i) & 0xFF for i in range(size - len(body)))


def receive(sock: PacketSocket, count: int, timeout: float = 5.0) -> list[bytes]:
    """Up to ``count`` frames, stopping early when none comes for ``timeout`` seconds."""
    frames = []
    while len(frames) < count and (got := recv_frame(sock, timeout=timeout)) is not None:
        frames.append(got)
    return frames


def open_port(link: Link) -> Port:
    with in_netns(link.netns):
        (facts,) = scan_interfaces([link.ifname]).values()
        return Port(facts)


def test_a_batch_goes_out_whole_and_in_order(pair: tuple[Lab, Link, Link]) -> None:
    _lab, here, there = pair
    port = open_port(here)
    with in_netns(there.netns):
        peer = PacketSocket(there.ifname, rcvbuf=16 << 20)
    try:
        sizes = [60, 1514, 9014, 61, 4000] * 30  # more than one sendmmsg batch
        assert len(sizes) > BATCH
        mac = port.facts.mac
        sent = [frame(TARGET_MAC, mac, tag, size, response=False) for tag, size in enumerate(sizes)]
        queue = list(sent)
        calls: list[tuple[float, str]] = []

        def fill(now: float, ifname: str, buffers: Sequence[memoryview]) -> list[int]:
            """What the engine's frames_to_send_into does: pack frames into the buffers."""
            calls.append((now, ifname))
            lengths = []
            while queue and len(lengths) < len(buffers):
                data = queue.pop(0)
                buffers[len(lengths)][: len(data)] = data
                lengths.append(len(data))
            return lengths

        assert port.send_from(fill, 7.0) == 0
        assert calls == [(7.0, here.ifname)] * (len(sent) // BATCH + 1)
        assert receive(peer, len(sent)) == sent
    finally:
        port.close()
        peer.close()


def test_answers_come_in_whole_and_filtered(pair: tuple[Lab, Link, Link]) -> None:
    _lab, here, there = pair
    port = open_port(here)
    with in_netns(there.netns):
        peer = PacketSocket(there.ifname)
    try:
        mine = [frame(port.facts.mac, TARGET_MAC, tag, 60 + tag * 97, response=True) for tag in range(90)]
        others = [
            frame(port.facts.mac, TARGET_MAC, 999, 60, response=False),  # a request, not an answer
            frame(bytes.fromhex("02ffffffff01"), TARGET_MAC, 998, 60, response=True),  # not for us
        ]
        broadcast = frame(b"\xff" * 6, TARGET_MAC, 0, 60, response=True)  # an announcement
        for f in [*others, *mine, broadcast]:
            peer.send(f)
        poller = select.poll()
        poller.register(port.fd, select.POLLIN)
        assert poller.poll(5000)
        received: list[tuple[bytes, str]] = []
        while len(received) < len(mine) + 1 and poller.poll(1000):
            port.receive(
                lambda buffers, ifname, now, lengths: received.extend(
                    (bytes(buffers[i][:n]), ifname) for i, n in enumerate(lengths)
                ),
                0.0,
            )
        assert received == [(f, here.ifname) for f in [*mine, broadcast]]
        assert port.receive(lambda *args: None, 0.0) == 0
    finally:
        port.close()
        peer.close()


def test_scan_sees_up_ethernet_interfaces_and_the_watch_sees_changes(pair: tuple[Lab, Link, Link]) -> None:
    lab, here, _there = pair
    second, _ = lab.veth(here.netns, None)
    with in_netns(here.netns):
        watch = LinkWatch()
        try:
            found = scan_interfaces([])
            assert set(found) == {here.ifname, second.ifname}  # not lo
            assert found[here.ifname].mtu == 9000 and len(found[here.ifname].mac) == 6
            assert set(scan_interfaces([second.ifname, "nosuch0"])) == {second.ifname}
            watch.drain()
            second.set_up(False)
            poller = select.poll()
            poller.register(watch.fileno(), select.POLLIN)
            assert poller.poll(5000)
            assert watch.drain()
            assert set(scan_interfaces([])) == {here.ifname}
            assert not watch.drain()
        finally:
            watch.close()


def queued_bytes(fd: int) -> int:
    """Bytes of the first frame waiting in a packet socket (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]


def test_a_receive_that_finds_the_link_down_is_counted_not_raised(pair: tuple[Lab, Link, Link]) -> None:
    """Answers wait in the socket when the interface goes down: the next receive reports ENETDOWN
    (once). The port counts it and returns; once the link is back, it receives again."""
    _lab, here, there = pair
    port = open_port(here)
    with in_netns(there.netns):
        peer = PacketSocket(there.ifname)
    try:
        answers = [frame(port.facts.mac, TARGET_MAC, tag, 60, response=True) for tag in range(3)]
        for f in answers:
            peer.send(f)
        wait_until(lambda: queued_bytes(port.fd) > 0, 5, "answers queued")
        here.set_up(False)
        got: list[bytes] = []

        def keep(buffers: Sequence[memoryview], _ifname: str, _now: float, lengths: list[int]) -> None:
            got.extend(bytes(buffers[i][:n]) for i, n in enumerate(lengths))

        assert port.receive(keep, 0.0) == 0
        assert (port.counters.socket_errors, port.counters.frames_received) == (1, 0)
        here.set_up(True)
        wait_until(lambda: port.receive(keep, 0.0) and len(got) >= 3, 10, "the queued answers")
        assert got == answers
        assert port.counters.frames_received == 3 and port.counters.bytes_received == 3 * 60
        assert port.counters.socket_errors == 1
    finally:
        port.close()
        peer.close()


def test_the_io_thread_survives_a_receive_that_finds_the_link_down(pair: tuple[Lab, Link, Link]) -> None:
    """The race a loaded machine lost once: the I/O thread is busy while answers arrive and the
    interface goes down and up again, so its next receive gets ENETDOWN. It used to end the
    thread (and every device with it); now the event is counted and the I/O goes on."""
    _lab, here, there = pair
    with in_netns(here.netns):
        service = InitiatorService(InitiatorConfig(iflist=(here.ifname,)))
        service.start()
    with in_netns(there.netns):
        peer = PacketSocket(there.ifname)
    busy, release = threading.Event(), threading.Event()

    def hold(_now: float) -> None:
        busy.set()
        release.wait(30)

    holder = threading.Thread(target=service.call, args=(hold,))
    try:
        holder.start()
        assert busy.wait(10)
        mac = service.interfaces[here.ifname][0]
        port = service._io.ports.by_name[here.ifname]  # the socket the thread will read next
        for tag in range(3):
            peer.send(frame(mac, TARGET_MAC, tag, 60, response=True))
        wait_until(lambda: queued_bytes(port.fd) > 0, 5, "answers queued")
        here.set_up(False)
        here.set_up(True)
        release.set()
        holder.join(10)
        stats = service.stats()  # a round trip through the I/O thread, after its receive
        assert service.running
        (interface,) = [i for i in stats.interfaces if i.name == here.ifname]
        assert interface.counters.socket_errors == 1
    finally:
        release.set()
        service.stop()
        peer.close()
