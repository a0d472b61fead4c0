"""Hosts on an Ethernet segment in network namespaces, for access-control tests: a hub (a bridge
that forgets every MAC at once, so every host hears every frame, as an eavesdropper would), and
hosts that send AoE requests from their own interface and wait for the answers.

    with Lab() as lab:
        hub = Hub(lab)
        client, attacker = hub.host("cli"), hub.host("atk")
        target_link = hub.plug(lab.netns("tgt"))
        ... start a target on target_link ...
        answer = client.ask(target_mac, 1, 2, Command.ATA, AtaArg(...))
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from pyaoe.lab.netns import Lab, Link, in_netns, ip
from pyaoe.net.packet_socket import PacketSocket
from pyaoe.protocol import AtaArg, Frame, Header, decode_frame, encode_frame
from support.packets import recv_frame

__all__ = ["Hub", "Host", "ata_write", "ata_read", "plain_ata"]

_tags = itertools.count(0x1000)
#: Long enough for an answer over veth and a bridge; an absent answer is only ever checked
#: after a later request of another host was answered (the target serves frames in order).
SETTLE = 0.2


class Hub:
    """A bridge in its own namespace that floods every frame to every port."""

    def __init__(self, lab: Lab, mtu: int = 1500) -> None:
        self.lab = lab
        self.ns = lab.netns("hub")
        self.bridge = lab.bridge(self.ns, mtu=mtu)
        # Ageing time 0: no MAC is ever learnt, so unicast frames reach every port (a hub).
        ip("link", "set", "dev", self.bridge.ifname, "type", "bridge", "ageing_time", "0", netns=self.ns)
        self.mtu = mtu

    def plug(self, netns: str | None) -> Link:
        """A veth from ``netns`` (None: the root namespace) into the hub; returns that end."""
        inside, port = self.lab.veth(netns, self.ns, mtu=self.mtu)
        self.lab.attach(port, self.bridge)
        return inside

    def host(self, prefix: str) -> Host:
        ns = self.lab.netns(prefix)
        return Host(self.plug(ns))


@dataclass
class Host:
    """A host with a packet socket on its link: it sends from its own MAC and hears everything."""

    link: Link

    def __post_init__(self) -> None:
        with in_netns(self.link.netns):
            self.sock = PacketSocket(self.link.ifname, rcvbuf=8 << 20)
        self.mac = self.sock.mac
        #: Answers to us heard while waiting for another.
        self._heard: list[bytes] = []

    def close(self) -> None:
        self.sock.close()

    def request(
        self, dst: bytes, shelf: int, slot: int, command: int, arg: object, *, src: bytes | None = None
    ) -> tuple[bytes, int]:
        tag = next(_tags)
        header = Header(dst=dst, src=src or self.mac, shelf=shelf, slot=slot, command=command, tag=tag)
        return encode_frame(Frame(header, arg)), tag  # type: ignore[arg-type]

    def send(self, frame: bytes) -> None:
        self.sock.send(frame)

    def _is_answer(self, raw: bytes, tag: int) -> bool:
        return (
            raw[0:6] == self.mac
            and raw[12:14] == b"\x88\xa2"
            and bool(raw[14] & 0x08)
            and raw[20:24] == tag.to_bytes(4, "big")
        )

    def answers(self, tag: int, timeout: float, first: bool = False) -> list[Frame]:
        """The AoE answers to us with ``tag`` heard within ``timeout`` seconds (only until the
        first with ``first``). Frames for other tags are kept for later calls."""
        found = [raw for raw in self._heard if self._is_answer(raw, tag)]
        self._heard = [raw for raw in self._heard if not self._is_answer(raw, tag)]
        deadline = time.monotonic() + timeout
        while not (first and found):
            raw = recv_frame(self.sock, timeout=max(0.0, deadline - time.monotonic()))
            if raw is None:
                break
            if self._is_answer(raw, tag):
                found.append(raw)
            elif raw[0:6] == self.mac:
                self._heard.append(raw)
        return [decode_frame(raw) for raw in found]

    def ask(
        self, dst: bytes, shelf: int, slot: int, command: int, arg: object, timeout: float = 5.0
    ) -> Frame:
        """Send a request and return its answer; fails when none comes."""
        frame, tag = self.request(dst, shelf, slot, command, arg)
        self.send(frame)
        got = self.answers(tag, timeout, first=True)
        if not got:
            raise AssertionError(f"no answer to tag {tag:#x} (command {command}) within {timeout} s")
        return got[0]

    def post(self, dst: bytes, shelf: int, slot: int, command: int, arg: object) -> int:
        """Send a request without waiting; returns its tag (for unanswered())."""
        frame, tag = self.request(dst, shelf, slot, command, arg)
        self.send(frame)
        return tag

    def unanswered(self, *tags: int) -> None:
        """Check that the requests with these tags got no answer. Call it once another host's
        later request was answered: the target serves frames in order, so an answer would be here."""
        deadline = time.monotonic() + SETTLE
        heard = list(self._heard)
        while (raw := recv_frame(self.sock, timeout=max(0.0, deadline - time.monotonic()))) is not None:
            heard.append(raw)
        for tag in tags:
            answered = [raw for raw in heard if self._is_answer(raw, tag)]
            assert not answered, f"answered: {decode_frame(answered[0])}"


def plain_ata(command: int, lba: int = 0, count: int = 1, data: bytes = b"") -> AtaArg:
    extended = command in (0x24, 0x34)
    aflags = (0x40 if extended else 0) | (0x01 if data else 0)
    return AtaArg(aflags=aflags, sector_count=count, cmd_status=command, lba=lba, data=data)


def ata_write(lba: int, data: bytes) -> AtaArg:
    return plain_ata(0x34, lba, len(data) // 512, data)


def ata_read(lba: int, count: int = 1) -> AtaArg:
    return plain_ata(0x24, lba, count)
