"""The READ/WRITE fast path answers exactly as TargetEngine.handle_frame would, byte for byte, and
leaves every frame it does not take untouched for the engine.

Two identical exports: one served by FastPath.answer_batch, its twin by the engine.
"""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from pyaoe.protocol import (
    AOE_HLEN,
    BROADCAST_MAC,
    BROADCAST_SHELF,
    ETH_P_AOE,
    SECTOR_SIZE,
    AtaCommand,
    AtaFlag,
    decode_frame,
)
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target import ExportState, TargetEngine
from pyaoe.target.fastpath import NOT_HANDLED, FastPath

from .frames import HOST_A, HOST_B, TARGET_MAC, ata, make_engine, make_export, pattern

SECTORS = 48
MTU = 9000
BUFFER = MTU + 64


def twins(state: ExportState | None = None, readonly: bool = False) -> tuple[TargetEngine, TargetEngine]:
    def one() -> TargetEngine:
        data = pattern(SECTORS, seed=5)
        backend = MemoryBackend(SECTORS * SECTOR_SIZE, data=data, readonly=readonly)
        copy = (
            ExportState(state.config_string, list(state.mask_list), list(state.reserve_list))
            if state
            else None
        )
        return make_engine(make_export(1, 2, backend=backend, state=copy), make_export(1, 3), mtu=MTU)

    return one(), one()


def fast_answer(engine: TargetEngine, frame: bytes) -> bytes | None:
    """The fast path's reply, or None when it declines (then the buffer must be unchanged)."""
    buf = bytearray(BUFFER)
    buf[: len(frame)] = frame
    before = bytes(buf)
    n = FastPath(engine).answer_batch((memoryview(buf),), (len(frame),))[0]
    if n == NOT_HANDLED:
        assert bytes(buf) == before, "a declined frame must reach the engine intact"
        return None
    return bytes(buf[:n])


def check_same(frame: bytes, state: ExportState | None = None, readonly: bool = False) -> bool:
    """Feed ``frame`` to both paths; True when the fast path took it."""
    fast_engine, slow_engine = twins(state, readonly)
    fast = fast_answer(fast_engine, frame)
    slow = slow_engine.handle_frame(frame)
    fast_backend = fast_engine.exports[0].backend
    slow_backend = slow_engine.exports[0].backend
    if fast is None:
        return False
    assert len(slow) == 1
    assert fast == slow[0], f"fast {fast[:40].hex()} != engine {slow[0][:40].hex()}"
    assert fast[12:14] == ETH_P_AOE.to_bytes(2, "big")
    reply = decode_frame(fast)
    assert reply.header.is_response and reply.header.dst == HOST_A and reply.header.src == TARGET_MAC
    assert fast_backend.buffer == slow_backend.buffer  # type: ignore[attr-defined]
    return True


def test_a_read_reply_is_a_real_aoe_frame():
    """Found on the wire: the in-place reply overwrote the EtherType with zeros, so every
    READ/WRITE answered by the fast path was dropped by the initiator."""
    engine, _ = twins()
    reply = fast_answer(engine, ata(AtaCommand.READ_SECTORS_EXT, 3, 1))
    assert reply is not None
    assert reply[12:14] == b"\x88\xa2"
    frame = decode_frame(reply)
    assert frame.arg.data == pattern(SECTORS, seed=5)[3 * SECTOR_SIZE : 4 * SECTOR_SIZE]  # type: ignore[union-attr]


def test_plain_reads_and_writes_take_the_fast_path_and_match():
    assert check_same(ata(AtaCommand.READ_SECTORS, 0, 1))
    assert check_same(ata(AtaCommand.READ_SECTORS_EXT, SECTORS - 17, 17))
    assert check_same(ata(AtaCommand.WRITE_SECTORS, 5, 2, pattern(2, seed=9)))
    assert check_same(ata(AtaCommand.WRITE_SECTORS_EXT, SECTORS - 1, 1, pattern(1, seed=1)))


def test_unusual_frames_are_left_to_the_engine():
    declined = [
        ata(AtaCommand.READ_SECTORS, SECTORS, 1),  # out of range
        ata(AtaCommand.READ_SECTORS, 0, 18),  # more than a frame carries
        ata(AtaCommand.READ_SECTORS, 0, 0),
        ata(AtaCommand.IDENTIFY_DEVICE),
        ata(AtaCommand.READ_SECTORS, 0, 1, dst=BROADCAST_MAC),
        ata(AtaCommand.READ_SECTORS, 0, 1, shelf=BROADCAST_SHELF),
        ata(AtaCommand.READ_SECTORS, 0, 1, version=2),
        ata(AtaCommand.READ_SECTORS, 0, 1, flags=0x08),
        ata(AtaCommand.WRITE_SECTORS, 0, 2, pattern(1)),  # short data
    ]
    for frame in declined:
        assert not check_same(frame)
    assert not check_same(ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1)), readonly=True)
    assert not check_same(ata(AtaCommand.READ_SECTORS, 0, 1), state=ExportState(mask_list=[HOST_A]))
    assert not check_same(ata(AtaCommand.READ_SECTORS, 0, 1), state=ExportState(reserve_list=[HOST_B]))


requests = st.tuples(
    st.sampled_from(
        [
            AtaCommand.READ_SECTORS,
            AtaCommand.READ_SECTORS_EXT,
            AtaCommand.WRITE_SECTORS,
            AtaCommand.WRITE_SECTORS_EXT,
        ]
    ),
    st.one_of(st.integers(0, SECTORS + 2), st.integers(0, 2**48 - 1)),
    st.integers(0, 19),
    st.sets(st.sampled_from(list(AtaFlag))).map(lambda s: sum(s, 0)),
    st.integers(0, 0xFF),
    st.integers(0, 3),
)


@settings(max_examples=400, deadline=None)
@given(request=requests, tail=st.binary(max_size=40))
def test_fast_path_and_engine_give_the_same_bytes(request, tail):
    command, lba, count, aflags, feature, slot_pick = request
    writing = command in (AtaCommand.WRITE_SECTORS, AtaCommand.WRITE_SECTORS_EXT)
    ext = command in (AtaCommand.READ_SECTORS_EXT, AtaCommand.WRITE_SECTORS_EXT)
    registers = lba if ext else (lba & 0x0FFFFFFF) | 0xE0000000 if lba < 2**32 else lba
    data = pattern(count, seed=lba % 7) if writing else b""
    frame = bytearray(
        ata(command, count=count, data=data, aflags=aflags, registers=registers, slot=2 + slot_pick % 2)
    )
    frame[AOE_HLEN + 1] = feature
    took = check_same(bytes(frame) + (tail if not writing else b""))
    event("fast path" if took else "engine")
