"""Fuzzing the initiator at the engine level: while reads and writes run against a real target
engine, an attacker injects frames: copies of the target's own answers with a wrong tag, source
MAC, shelf.slot, destination or R flag, answers arriving on an interface outside the iflist,
config answers for other addresses, and random bytes.

Pass: nothing raises from receive_frame/receive_frames and no exception is caught and logged
there but a junk frame's FrameError (swallowed.py), no request fails or hangs, every read
returns the target's bytes, every acknowledged write is in the target's storage, and the device
table stays bounded. PYAOE_FUZZ_EXAMPLES=N runs a longer campaign.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyaoe.initiator import (
    DeviceAddress,
    RequestDone,
    RequestFailed,
)
from pyaoe.initiator.discovery import MAX_DEVICES
from pyaoe.protocol import SECTOR_SIZE

from .initiator_rig import ATTACKER, IMAC, IMAC_OFFLIST, SECTORS, SHELF, SLOT, TMAC, Rig
from .strategies import examples, header
from .swallowed import WATCH

FUZZ = settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the attacker's frames ---------------------------------------------------------------------
_TAG = slice(20, 24)


def _spoof(draw: st.DrawFn, answer: bytes) -> tuple[str, bytes]:
    """A copy of a real answer the initiator must not take: at least one thing is wrong."""
    frame = bytearray(answer)
    # First any damage to the argument and data ...
    for _ in range(draw(st.integers(0, 3))):
        if len(frame) > 24:
            frame[draw(st.integers(24, len(frame) - 1))] = draw(st.integers(0, 0xFF))
    if draw(st.booleans()):
        frame = frame[: draw(st.integers(0, len(frame)))]
        frame += bytes(max(0, 24 - len(frame)))
    # ... then what makes it not an answer to anything outstanding.
    wrong = draw(st.sampled_from(["src", "tag", "shelf", "slot", "dst", "request", "offlist", "usertag"]))
    ifname = "eth0"
    if wrong == "src":
        frame[6:12] = draw(st.sampled_from([ATTACKER, IMAC, b"\xff" * 6]))
    elif wrong == "tag":
        frame[_TAG] = (
            int.from_bytes(frame[_TAG], "big") ^ draw(st.integers(1 << 24, (1 << 31) - 1)) | (1 << 30)
        ).to_bytes(4, "big")
    elif wrong == "shelf":
        frame[16:18] = draw(st.integers(0, 0xFFFF).filter(lambda s: s != SHELF)).to_bytes(2, "big")
    elif wrong == "slot":
        frame[18] = draw(st.integers(0, 0xFF).filter(lambda s: s != SLOT))
    elif wrong == "dst":
        frame[0:6] = draw(st.sampled_from([IMAC_OFFLIST, TMAC, b"\x02\x12\x34\x56\x78\x9a"]))
    elif wrong == "request":
        frame[14] &= ~0x08  # R clear: a request, not an answer
    elif wrong == "usertag":
        frame[20] |= 0x80  # aoetools' tags: never the driver's
    else:
        ifname = "eth1"  # the right answer, on an interface outside the iflist
    return ifname, bytes(frame)


def _stranger(draw: st.DrawFn) -> bytes:
    """A frame that is no copy of anything: a config answer for another address, or junk."""
    shelf = draw(st.integers(0, 0xFFFF).filter(lambda s: s != SHELF))
    slot = draw(st.integers(0, 0xFF))
    verflags = draw(st.sampled_from([0x18, 0x1C, 0x08, 0x28]) | st.integers(0, 0xFF))
    command = draw(st.sampled_from([0, 1]) | st.integers(0, 0xFF))
    head = header(
        draw(st.sampled_from([IMAC, b"\xff" * 6])),
        ATTACKER,
        verflags,
        draw(st.integers(0, 0xFF)),
        shelf,
        slot,
        command,
        draw(st.integers(0, 0xFFFFFFFF)),
    )
    if command == 1 and draw(st.booleans()):
        body = (
            draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
            + b"\x40\x19"
            + bytes((draw(st.integers(0, 0xFF)), 0x10))
            + b"\0\0"
        )
    else:
        body = draw(st.binary(max_size=600))
    return head + body


@st.composite
def attacker(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    """A function from the target's answers to the frames the attacker slips in before them."""
    plan = draw(st.lists(st.sampled_from(["spoof", "spoof", "stranger", "nothing"]), min_size=1, max_size=4))
    data = draw(st.data())

    def spoofs(answers: list[bytes]) -> list[tuple[str, bytes]]:
        out = []
        for what in plan:
            if what == "spoof" and answers:
                out.append(_spoof(data.draw, data.draw(st.sampled_from(answers))))
            elif what == "stranger":
                out.append((data.draw(st.sampled_from(["eth0", "eth1", "eth9"])), _stranger(data.draw)))
        return out

    return spoofs


io_ops = st.lists(
    st.tuples(
        st.sampled_from(["read", "write"]),
        st.integers(0, SECTORS * SECTOR_SIZE - 1),
        st.integers(1, 6000),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=6,
)


@FUZZ
@given(ops=io_ops, spoofs=attacker())
def test_spoofed_answers_never_change_what_is_read_or_written(ops, spoofs) -> None:  # type: ignore[no-untyped-def]
    rig = Rig.make()
    model = bytearray(rig.backend.buffer)
    engine = rig.engine
    reads: dict[int, bytes] = {}
    writes: list[int] = []
    for kind, offset, length, seed in ops:
        length = min(length, len(model) - offset)
        if kind == "read":
            rid = engine.submit_read((SHELF, SLOT), offset, length)
            reads[rid] = bytes(model[offset : offset + length])
        else:
            data = bytes((seed + i) % 256 for i in range(length))
            rid = engine.submit_write((SHELF, SLOT), offset, data)
            model[offset : offset + length] = data
            writes.append(rid)
    rig.pump(spoofs)
    failed = [r for r in rig.results.values() if isinstance(r, RequestFailed)]
    assert not failed, failed
    assert set(rig.results) == set(reads) | set(writes), "a request never finished"
    for rid, expected in reads.items():
        done = rig.results[rid]
        assert isinstance(done, RequestDone) and bytes(done.data or b"") == expected, "read wrong data"
    assert rig.backend.buffer == model
    devices = engine.devices()
    assert [d for d in devices if d.up] and all(d.netif in ("eth0", "") for d in devices)
    assert len(devices) <= 1 + rig.injected
    # The attacker never became a target of the real device.
    assert ATTACKER.hex() not in (engine.device_info(DeviceAddress(SHELF, SLOT)).mac or "")


@FUZZ
@given(
    frames=st.lists(
        st.tuples(st.sampled_from(["eth0", "eth1", "ethX"]), st.binary(max_size=1600)), max_size=20
    )
)
def test_arbitrary_bytes_on_any_interface_never_raise(frames: list[tuple[str, bytes]]) -> None:
    rig = Rig.make()
    engine = rig.engine
    rid = engine.submit_read((SHELF, SLOT), 0, 4096)
    engine.frames_to_send(rig.now)  # in flight, unanswered
    for ifname, frame in frames:
        engine.receive_frame(frame, ifname, rig.now)
        engine.receive_frame(IMAC + TMAC + b"\x88\xa2" + frame, ifname, rig.now)
    engine.receive_frames([f for _, f in frames], "eth0", rig.now)
    WATCH.check()
    # Still working: the read is resent and answered.
    rig.pump(lambda answers: [])
    done = rig.results[rid]
    assert isinstance(done, RequestDone) and bytes(done.data or b"") == rig.backend.buffer[:4096]


def test_config_answers_for_a_flood_of_addresses_stay_bounded() -> None:
    """An attacker announcing thousands of devices: each takes a place in the table (as in
    the driver) until the minors run out; none of it reaches the real device."""
    rig = Rig.make()
    engine = rig.engine
    body = b"\x00\x10\x40\x19\x02\x10\x00\x00"
    for i in range(20000):
        frame = header(b"\xff" * 6, ATTACKER, 0x18, 0, 100 + i // 200, i % 200, 1, 0) + body
        engine.receive_frame(frame, "eth0", rig.now)
    WATCH.check()
    while engine.next_event() is not None:
        pass
    assert 20000 < len(engine.devices()) <= MAX_DEVICES
    assert engine.device_info(DeviceAddress(SHELF, SLOT)).mac == TMAC.hex()
    rid = engine.submit_read((SHELF, SLOT), 512, 1024)
    rig.pump(lambda answers: [], until=rid)
    done = rig.results[rid]
    assert isinstance(done, RequestDone) and bytes(done.data or b"") == rig.backend.buffer[512:1536]
