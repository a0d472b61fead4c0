"""The initiator's packet ports over a veth pair: batches go out whole and in order, answers come
in whole and filtered, the interface scan sees what AoE may use, and link changes wake the watch."""

from __future__ import annotations

import select
from collections.abc import Iterator

import pytest

from pyaoe.lab.netns import Lab, Link, in_netns
from pyaoe.net import PacketSocket
from pyaoe.service.initiator_ports import BATCH, LinkWatch, Port, scan_interfaces
from support.packets import recv_frame

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
        assert port.send(sent) == 0
        assert port.send(sent[:1]) == 0
        assert receive(peer, len(sent) + 1) == [*sent, sent[0]]
        # Too big for the interface: counted as lost, the rest still goes.
        assert port.send([sent[0], bytes(20000), sent[1]]) == 1
        assert receive(peer, 2) == sent[:2]
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
