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
    AoeError,
    AtaCommand,
    AtaErrorBit,
    AtaFlag,
    AtaStatus,
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
    assert not check_same(ata(AtaCommand.READ_SECTORS, 0, 1), state=ExportState(mask_list=[HOST_B]))
    assert not check_same(ata(AtaCommand.READ_SECTORS, 0, 1), state=ExportState(reserve_list=[HOST_B]))


def test_allowed_hosts_of_masked_reserved_and_read_only_exports_take_the_fast_path():
    """Access control must not send the hosts it lets in to the slow path (issue 11: a masked
    export's random reads fell to 0.15x of vblade)."""
    read, write = ata(AtaCommand.READ_SECTORS_EXT, 4, 2), ata(AtaCommand.WRITE_SECTORS, 4, 2, pattern(2))
    assert check_same(read, state=ExportState(mask_list=[HOST_B, HOST_A]))
    assert check_same(write, state=ExportState(mask_list=[HOST_A]))
    assert check_same(read, state=ExportState(reserve_list=[HOST_A]))
    assert check_same(write, state=ExportState(mask_list=[HOST_A], reserve_list=[HOST_B, HOST_A]))
    assert check_same(read, readonly=True)


def served(engine: TargetEngine, frame: bytes) -> list[bytes]:
    """What a port sends for ``frame``: the fast path's reply, or the engine's for a frame the
    fast path declined (the port hands it the same buffer)."""
    buf = bytearray(BUFFER)
    buf[: len(frame)] = frame
    n = FastPath(engine).answer_batch((memoryview(buf),), (len(frame),))[0]
    if n != NOT_HANDLED:
        return [bytes(buf[:n])]
    return engine.handle_frame(memoryview(buf)[: len(frame)])


def test_denied_hosts_get_exactly_what_the_engine_gives_them():
    """A masked-out source is dropped silently, another host of a reserved export gets AoE
    error 6, a write to a read-only export ATA ABRT: the same bytes and counters as the engine's."""
    cases = [
        (ata(AtaCommand.READ_SECTORS, 0, 1, src=HOST_B), ExportState(mask_list=[HOST_A]), False),
        (
            ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1), src=HOST_B),
            ExportState(reserve_list=[HOST_A]),
            False,
        ),
        (ata(AtaCommand.WRITE_SECTORS_EXT, 0, 1, pattern(1)), None, True),
    ]
    for frame, state, readonly in cases:
        through_port, engine_only = twins(state, readonly)
        got, want = served(through_port, frame), engine_only.handle_frame(frame)
        assert got == want
        assert through_port.exports[0].counters == engine_only.exports[0].counters
    masked, _ = twins(ExportState(mask_list=[HOST_A]))
    assert served(masked, ata(AtaCommand.READ_SECTORS, 0, 1, src=HOST_B)) == []
    assert masked.exports[0].counters.dropped == 1
    reserved, _ = twins(ExportState(reserve_list=[HOST_A]))
    (reply,) = served(reserved, ata(AtaCommand.READ_SECTORS, 0, 1, src=HOST_B))
    assert decode_frame(reply).header.error == AoeError.TARGET_RESERVED
    read_only, _ = twins(readonly=True)
    (reply,) = served(read_only, ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1)))
    assert decode_frame(reply).arg.cmd_status & AtaStatus.ERR  # type: ignore[union-attr]
    assert decode_frame(reply).arg.err_feature == AtaErrorBit.ABRT  # type: ignore[union-attr]


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


#: Export states the hypothesis test draws: open, masked and reserved to the sender (HOST_A) or
#: to another host only, and both at once.
access = st.sampled_from(
    [
        None,
        ExportState(mask_list=[HOST_A]),
        ExportState(mask_list=[HOST_B]),
        ExportState(reserve_list=[HOST_A]),
        ExportState(reserve_list=[HOST_B]),
        ExportState(mask_list=[HOST_B, HOST_A], reserve_list=[HOST_A, HOST_B]),
        ExportState(mask_list=[HOST_A], reserve_list=[HOST_B]),
    ]
)


@settings(max_examples=600, deadline=None)
@given(request=requests, tail=st.binary(max_size=40), state=access, readonly=st.booleans())
def test_fast_path_and_engine_give_the_same_bytes(request, tail, state, readonly):
    command, lba, count, aflags, feature, slot_pick = request
    writing = command in (AtaCommand.WRITE_SECTORS, AtaCommand.WRITE_SECTORS_EXT)
    ext = command in (AtaCommand.READ_SECTORS_EXT, AtaCommand.WRITE_SECTORS_EXT)
    registers = lba if ext else (lba & 0x0FFFFFFF) | 0xE0000000 if lba < 2**32 else lba
    data = pattern(count, seed=lba % 7) if writing else b""
    frame = bytearray(
        ata(command, count=count, data=data, aflags=aflags, registers=registers, slot=2 + slot_pick % 2)
    )
    frame[AOE_HLEN + 1] = feature
    frame = bytes(frame) + (tail if not writing else b"")
    took = check_same(frame, state, readonly)
    event("fast path" if took else "engine")
    through_port, engine_only = twins(state, readonly)
    assert served(through_port, frame) == engine_only.handle_frame(frame)
    assert through_port.exports[0].backend.buffer == engine_only.exports[0].backend.buffer  # type: ignore[attr-defined]
