"""InFlight.send: the one place frames are made gives the typed codec's bytes, into the driver's
buffers or as bytes alike, and keeps the tags, deadlines and counts an answer or timeout needs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.initiator.address import DeviceAddress
from pyaoe.initiator.device import Device, Target
from pyaoe.initiator.events import Counters
from pyaoe.initiator.exchange import (
    TAGS_KEPT,
    Exchange,
    ExchangeKind,
    ExchangeState,
    command_fields,
    new_exchange,
)
from pyaoe.initiator.inflight import InFlight
from pyaoe.initiator.requests import Request, RequestKind
from pyaoe.initiator.rtt import RttEstimator
from pyaoe.initiator.tags import TagAllocator
from pyaoe.initiator.timers import NEVER
from pyaoe.protocol import (
    LBA28_MAX,
    SECTOR_SIZE,
    AtaArg,
    Command,
    Frame,
    Header,
    build_identify,
    encode_frame,
    parse_identify,
)

from .helpers import IMAC, IMAC2, TMAC

MACS = {"eth0": IMAC, "eth1": IMAC2}


def device(lba48: bool, interfaces: tuple[str, ...] = ("eth0",), shelf: int = 7, slot: int = 3) -> Device:
    dev = Device(DeviceAddress(shelf, slot), minor=0)
    dev.apply_identify(parse_identify(build_identify(1 << 30)), TMAC)
    dev.lba48 = lba48
    target = Target(dev, TMAC, bufcnt=64, maxout=64, rtt=RttEstimator(initial_rto=0.2))
    for name in interfaces:
        target.paths.add(name)
    dev.targets.append(target)
    return dev


def exchange(
    dev: Device, kind: ExchangeKind, lba: int, nsect: int, request: Request | None, now: float = 1.0
) -> Exchange:
    """An exchange made for the device's first target at ``now``."""
    command, aflags, bits = command_fields(kind, dev)
    offset = 0 if kind is not ExchangeKind.WRITE else SECTOR_SIZE
    return new_exchange(
        kind, dev, request, dev.targets[0], now, lba, nsect, command, aflags, lba | bits, None, offset
    )


def expected(ex: Exchange, src: bytes, tag: int) -> bytes:
    shelf, slot = ex.device.address
    header = Header(dst=TMAC, src=src, shelf=shelf, slot=slot, command=Command.ATA, tag=tag)
    data = bytes(ex.write_data() or b"")
    arg = AtaArg(
        aflags=ex.aflags, sector_count=ex.nsect, cmd_status=ex.command, lba=ex.lba_registers, data=data
    )
    return encode_frame(Frame(header, arg))


kinds = st.sampled_from(list(ExchangeKind))


@settings(max_examples=60)
@given(
    lba48=st.booleans(),
    two_interfaces=st.booleans(),
    plan=st.lists(
        st.tuples(kinds, st.integers(0, LBA28_MAX - 20), st.integers(1, 17)), min_size=1, max_size=12
    ),
    tag_start=st.integers(1, (1 << 31) - 1),
    buffers=st.integers(0, 12),
)
def test_frames_are_the_typed_encoding_into_buffers_or_as_bytes(
    lba48: bool, two_interfaces: bool, plan: list[tuple[ExchangeKind, int, int]], tag_start: int, buffers: int
) -> None:
    dev = device(lba48, ("eth0", "eth1") if two_interfaces else ("eth0",))
    data = bytes(range(256)) * (20 * SECTOR_SIZE // 256)
    request = Request(1, RequestKind.WRITE, dev, 0, len(data), bytearray(data))
    inflight = InFlight(TagAllocator(tag_start), 0.0, MACS, Counters())
    send_buffers = [bytearray(9100) for _ in range(buffers)]
    inflight.outbox.open("eth0", send_buffers, MACS)
    exchanges = [exchange(dev, kind, lba, nsect, request, 5.0) for kind, lba, nsect in plan]
    inflight.send(exchanges, dev.targets[0], 5.0)
    lengths = inflight.outbox.close()
    into = [("eth0", bytes(send_buffers[i][:n])) for i, n in enumerate(lengths)]
    sent = into + inflight.outbox.take()
    assert sorted(sent) == sorted((ex.ifname, expected(ex, MACS[ex.ifname], ex.tag)) for ex in exchanges)
    assert len(into) == min(buffers, sum(ex.ifname == "eth0" for ex in exchanges))
    rotation = ["eth0", "eth1"] if two_interfaces else ["eth0"]
    assert [ex.ifname for ex in exchanges] == [rotation[i % len(rotation)] for i in range(len(exchanges))]


def test_a_burst_gets_consecutive_tags_one_deadline_and_is_counted_once_each() -> None:
    dev = device(True)
    target = dev.targets[0]
    counters = Counters()
    inflight = InFlight(TagAllocator(100), 0.15, MACS, counters)
    inflight.by_tag[101] = exchange(dev, ExchangeKind.READ, 0, 1, None)  # a tag still in use
    burst = [exchange(dev, ExchangeKind.READ, lba, 2, None, 10.0) for lba in range(0, 8, 2)]
    inflight.send(burst, target, 10.0)
    assert [ex.tag for ex in burst] == [100, 102, 103, 104]
    # The first timeout is the target's RTO (0.2 s), cut to deadsecs after the first send.
    assert {ex.deadline for ex in burst} == {10.15}
    assert inflight.timers.next_deadline() == 10.15
    assert (target.nout, target.reads, counters.frames_sent) == (4, 4, 4)
    assert all(ex.state is ExchangeState.IN_FLIGHT and ex.first_sent == 10.0 for ex in burst)


def test_a_resend_keeps_its_last_tags_matchable_and_starts_afresh_at_a_new_target() -> None:
    dev = device(False)
    first = dev.targets[0]
    other = Target(dev, bytes.fromhex("0200000000bb"), bufcnt=8, maxout=8, rtt=RttEstimator(initial_rto=0.5))
    other.paths.add("eth1")
    dev.targets.append(other)
    inflight = InFlight(TagAllocator(1), 0.0, MACS, Counters())
    ex = exchange(dev, ExchangeKind.READ, 40, 1, None)
    inflight.send([ex], first, 1.0)
    inflight.send([ex], first, 2.0)
    assert (ex.tries, ex.transmissions, ex.deadline) == (2, 2, 2.0 + 2 * 0.2)  # backed off
    assert ex.sent_with(1) == (first, 1.0) and ex.sent_with(2) == (first, 2.0)
    inflight.send([ex], other, 3.0)
    assert (ex.tries, ex.transmissions, ex.target_since, ex.deadline) == (1, 3, 3.0, 3.5)
    for now in (4.0, 5.0, 6.0):
        inflight.send([ex], other, now)
    assert sorted(inflight.by_tag) == [3, 4, 5, 6][-TAGS_KEPT:] and ex.tag == 6
    assert ex.sent_with(2) is None and ex.sent_with(3) == (other, 3.0)
    inflight.retire(ex)
    assert not inflight.by_tag and ex.state is ExchangeState.RETIRED and ex.deadline == NEVER


def test_probes_are_not_cut_to_deadsecs() -> None:
    dev = device(True)
    inflight = InFlight(TagAllocator(1), 0.1, MACS, Counters())
    probe = exchange(dev, ExchangeKind.PROBE, 0, 2, None)
    read = exchange(dev, ExchangeKind.READ, 0, 2, None)
    other = Target(dev, bytes(6), bufcnt=4, maxout=4, rtt=RttEstimator())
    other.paths.add("eth0")
    with pytest.raises(ValueError, match="made for another target"):
        inflight.send([exchange(dev, ExchangeKind.READ, 0, 1, None)], other, 1.0)
    inflight.send([probe, read], dev.targets[0], 1.0)
    assert (probe.deadline, read.deadline) == (1.2, 1.1)


def test_an_exchange_is_made_only_by_new_exchange() -> None:
    with pytest.raises(TypeError, match="new_exchange"):
        Exchange()
