"""The initiator against a hostile segment, on the wire: pyaoe's initiator service in the root
namespace, a real pyaoe target, and an attacker.

* A rogue target on an interface outside the iflist is never seen (and is, once the iflist
  takes that interface: the attack is real).
* On the initiator's own segment (a hub, so the attacker hears every request and its tag), the
  attacker answers each request first-hand with a wrong source MAC, a wrong shelf.slot, a wrong
  tag, or an AoE error from its own MAC, while nftables drops some requests so that tags stay
  outstanding: every read still returns the target's bytes, every write lands, nothing fails.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pyaoe.initiator import InitiatorConfig
from pyaoe.lab.netns import Lab, Link, in_netns
from pyaoe.net.packet_socket import PacketSocket
from pyaoe.service.initiator import InitiatorService
from support.packets import recv_frame
from support.target import PYAOE_TARGET, start_target

from .wire import Hub

pytestmark = pytest.mark.netns

MiB = 1 << 20
SHELF, SLOT = 3, 4


def announcement(src: bytes, shelf: int, slot: int, dst: bytes = b"\xff" * 6) -> bytes:
    """A Query Config answer, as a target announces itself (bufcnt 16, fw 0x4019, 2 sectors)."""
    head = dst + src + b"\x88\xa2" + bytes((0x18, 0)) + shelf.to_bytes(2, "big") + bytes((slot, 1)) + bytes(4)
    return head + b"\x00\x10\x40\x19\x02\x10\x00\x00" + bytes(28)


@contextmanager
def initiator(ifnames: list[str]) -> Iterator[InitiatorService]:
    service = InitiatorService(InitiatorConfig(iflist=tuple(ifnames), deadsecs=60))
    service.start()
    try:
        yield service
    finally:
        service.stop()


class Attacker(threading.Thread):
    """A packet socket in the attacker's namespace that answers what it hears, wrongly."""

    def __init__(
        self,
        link: Link,
        initiator_mac: bytes | None,
        target_mac: bytes | None,
        announce: tuple[tuple[int, int], ...],
    ) -> None:
        super().__init__(daemon=True)
        self.announce = announce
        self.rng = random.Random("junk")
        with in_netns(link.netns):
            self.sock = PacketSocket(link.ifname, rcvbuf=8 << 20)
        self.initiator_mac = initiator_mac
        self.target_mac = target_mac
        self.stopping = False
        self.spoofed = 0
        self.announced = 0
        self.error: BaseException | None = None

    def spoofs(self, request: bytes) -> list[bytes]:
        """Answers to an ATA request that must never be taken: one thing wrong in each."""
        assert self.target_mac is not None
        dst = request[6:12]
        shelf, slot, tag = request[16:18], request[18], request[20:24]
        arg = bytearray(request[24:36])
        arg[3] = 0x40  # DRDY
        count = arg[2]
        data = b"\xee" * (512 * count) if not request[24] & 0x01 else b""
        arg[2] = 0

        def answer(src: bytes, flags: int, error: int, shelf: bytes, slot: int, tag: bytes) -> bytes:
            head = dst + src + b"\x88\xa2" + bytes((flags, error)) + shelf + bytes((slot, 0)) + tag
            frame = head + bytes(arg) + data
            return frame + bytes(max(0, 60 - len(frame)))

        other_tag = (int.from_bytes(tag, "big") ^ 0x5A5A).to_bytes(4, "big")
        return [
            answer(self.sock.mac, 0x18, 0, shelf, slot, tag),  # wrong source MAC
            answer(self.target_mac, 0x18, 0, shelf, (slot + 1) % 255, tag),  # wrong slot
            answer(
                self.target_mac, 0x18, 0, (int.from_bytes(shelf, "big") + 1).to_bytes(2, "big"), slot, tag
            ),
            answer(self.target_mac, 0x18, 0, shelf, slot, other_tag),  # wrong tag
            answer(self.sock.mac, 0x1C, 6, shelf, slot, tag),  # an AoE error, from the wrong MAC
        ]

    def run(self) -> None:
        try:
            next_announce = 0.0
            while not self.stopping:
                now = time.monotonic()
                if now >= next_announce:
                    for shelf, slot in self.announce:
                        self.sock.send(announcement(self.sock.mac, shelf, slot))
                        self.announced += 1
                    next_announce = now + 0.05
                frame = recv_frame(self.sock, timeout=0.01)
                if frame is None or self.initiator_mac is None or self.target_mac is None:
                    continue
                if (
                    frame[6:12] == self.initiator_mac
                    and frame[12:14] == b"\x88\xa2"
                    and not frame[14] & 0x08
                    and frame[19] == 0
                ):
                    for spoof in self.spoofs(frame):
                        self.sock.send(spoof)
                        self.spoofed += 1
                    # And some junk: an answer header, then anything.
                    junk = (
                        frame[6:12]
                        + self.sock.mac
                        + b"\x88\xa2"
                        + bytes((0x18,))
                        + self.rng.randbytes(self.rng.randrange(60))
                    )
                    self.sock.send(junk + bytes(max(0, 60 - len(junk))))
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def stop(self) -> None:
        self.stopping = True
        self.join(10)
        self.sock.close()
        assert self.error is None, self.error


@contextmanager
def attacking(
    link: Link,
    initiator_mac: bytes | None = None,
    target_mac: bytes | None = None,
    announce: tuple[tuple[int, int], ...] = (),
) -> Iterator[Attacker]:
    """An Attacker on ``link``: announcing rogue devices at ``announce`` every 50 ms, and (given
    both MACs) answering every ATA request from ``initiator_mac`` with spoofs."""
    attacker = Attacker(link, initiator_mac, target_mac, announce)
    attacker.start()
    try:
        yield attacker
    finally:
        attacker.stop()


def check_io(service: InitiatorService, name: str, model: bytearray, total: int, rng: random.Random) -> None:
    """Random reads and writes, 8 in flight, each read checked against the model."""
    pending: list[tuple[Future[Any], bytes | None]] = []
    moved = 0
    while moved < total:
        size = rng.randint(1, 64 * 1024)
        offset = rng.randrange(len(model) - size)
        if rng.random() < 0.5:
            data = rng.randbytes(size)
            model[offset : offset + size] = data
            pending.append((service.write(name, offset, data), None))
        else:
            pending.append((service.read(name, offset, size), bytes(model[offset : offset + size])))
        moved += size
        while len(pending) >= 8 or (moved >= total and pending):
            future, expected = pending.pop(0)
            result = future.result(timeout=60)
            if expected is not None:
                assert result == expected, "read wrong data"


# -- the iflist ---------------------------------------------------------------------------------
def test_a_rogue_target_outside_the_iflist_is_never_seen(tmp_path: Path) -> None:
    rng = random.Random("iflist")
    with Lab() as lab:
        target_ns, attacker_ns = lab.netns("tgt"), lab.netns("atk")
        here, there = lab.veth(None, target_ns)
        side, rogue_end = lab.veth(None, attacker_ns)
        good, bad = tmp_path / "good.img", tmp_path / "bad.img"
        model = bytearray(rng.randbytes(2 * MiB))
        good.write_bytes(model)
        bad.write_bytes(b"\xee" * (2 * MiB))
        rogue_config = tmp_path / "rogue.toml"
        rogue_config.write_text(
            "".join(
                f'[[export]]\nshelf = {s}\nslot = {t}\nnetif = "{rogue_end.ifname}"\nfile = "{bad}"\n'
                for s, t in ((SHELF, SLOT), (9, 9))
            )
        )
        args = [str(SHELF), str(SLOT), there.ifname, str(good)]
        with (
            start_target(lab, there, args, listen=here, command=PYAOE_TARGET),
            start_target(
                lab, rogue_end, ["--config", str(rogue_config)], listen=side, command=PYAOE_TARGET, exports=2
            ),
            initiator([here.ifname]) as service,
            # Rogue devices: a new address, and the victim's own.
            attacking(rogue_end, announce=((9, 9), (SHELF, SLOT))) as attacker,
        ):
            info = service.wait_for_device(f"e{SHELF}.{SLOT}", 20)
            check_io(service, info.name, model, 4 * MiB, rng)
            assert good.read_bytes() == model and bad.read_bytes() == b"\xee" * (2 * MiB)
            assert attacker.announced > 0
            service.discover()
            assert service.read(info.name, 0, 4096).result(10) == model[:4096]
            info = service.device_info(info.name)
            assert [t.mac for t in info.targets] == [there.mac] and info.netif == here.ifname
            assert [d.name for d in service.devices()] == [info.name]

            # The same attacker, once the iflist takes its interface: now it is seen.
            service.set_iflist([here.ifname, side.ifname])
            service.wait_for_device("e9.9", 20)
            deadline = time.monotonic() + 10
            while len(service.device_info(info.name).targets) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert {t.mac for t in service.device_info(info.name).targets} == {there.mac, rogue_end.mac}


# -- spoofed answers on the initiator's own segment -------------------------------------------
LOSSY = """
table netdev pyaoe_spoof {{
    chain requests {{
        type filter hook ingress device "{ifname}" priority 0;
        ether type 0x88a2 numgen random mod 100 < 10 drop
    }}
}}
"""


def test_spoofed_answers_are_ignored_and_the_data_is_right(tmp_path: Path) -> None:
    rng = random.Random("spoof")
    with Lab() as lab:
        hub = Hub(lab)
        here = hub.plug(None)
        target_link = hub.plug(lab.netns("tgt"))
        attacker_link = hub.plug(lab.netns("atk"))
        path = tmp_path / "disk.img"
        model = bytearray(rng.randbytes(4 * MiB))
        path.write_bytes(model)
        args = [str(SHELF), str(SLOT), target_link.ifname, str(path)]
        with (
            start_target(lab, target_link, args, listen=here, command=PYAOE_TARGET),
            initiator([here.ifname]) as service,
        ):
            info = service.wait_for_device(f"e{SHELF}.{SLOT}", 20)
            # From here on, requests are lost now and then, so tags stay outstanding, and
            # the attacker hears each one and answers it first, wrongly.
            nft = lab.run(
                target_link.netns, ["nft", "-f", "-"], input=LOSSY.format(ifname=target_link.ifname)
            )
            assert nft.returncode == 0, nft.stderr
            # (Announcing the victim's address on this segment would make the attacker a
            # second target of it, which AoE cannot refuse: only the iflist keeps rogue
            # targets out, as the test above shows. Here it announces another device.)
            with attacking(attacker_link, here.mac, target_link.mac, announce=((9, 9),)) as attacker:
                check_io(service, info.name, model, 2 * MiB, rng)
                counters = service.counters
                assert attacker.spoofed > 0
            assert counters.unexpected_responses > 0 and counters.retransmits > 0
            assert counters.aoe_errors == 0 and service.running
            assert path.read_bytes() == model
            assert service.read(info.name, 0, len(model)).result(60) == model
