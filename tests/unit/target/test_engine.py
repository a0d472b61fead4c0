"""TargetEngine as a whole: who it answers (addresses, R flag, MACs, mask list, version), what an
error reply looks like, the start-up announcement, the sector count from the MTU, and fuzzing.

No sockets: frames are built with the codec and fed to handle_frame(); MemoryBackend holds data.
"""

from __future__ import annotations

import gc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyaoe.protocol import (
    AOE_HLEN,
    ATA_HLEN,
    BROADCAST_MAC,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    ETH_P_AOE,
    ETH_ZLEN,
    SECTOR_SIZE,
    AoeError,
    AtaArg,
    AtaCommand,
    AtaErrorBit,
    AtaStatus,
    Command,
    ConfigArg,
    ConfigCommand,
    Directive,
    DirectiveCommand,
    HeaderFlag,
    MaskArg,
    MaskCommand,
    ReserveArg,
    ReserveCommand,
    decode_frame,
)
from pyaoe.target import FIRMWARE_VERSION, ExportState, TargetEngine

from .frames import (
    HOST_A,
    HOST_B,
    HOST_C,
    OTHER_MAC,
    TAG,
    TARGET_MAC,
    ata,
    ata_reply,
    config,
    make_engine,
    make_export,
    mask,
    no_reply,
    one_reply,
    pattern,
    replies,
    request,
    reserve,
)

DRDY = int(AtaStatus.DRDY)


# -- addressing -----------------------------------------------------------------------------------
def test_unicast_request_to_our_address_is_answered_with_our_address():
    engine = make_engine(make_export(7, 3))
    reply = one_reply(engine, config(ConfigArg(), shelf=7, slot=3))
    assert (reply.header.shelf, reply.header.slot) == (7, 3)
    assert not reply.header.is_error


@pytest.mark.parametrize(
    ("shelf", "slot"), [(7, 4), (8, 3), (0, 0), (BROADCAST_SHELF, 4), (8, BROADCAST_SLOT)]
)
def test_request_for_another_shelf_or_slot_is_ignored(shelf, slot):
    engine = make_engine(make_export(7, 3))
    no_reply(engine, config(ConfigArg(), shelf=shelf, slot=slot))
    no_reply(engine, ata(AtaCommand.IDENTIFY_DEVICE, shelf=shelf, slot=slot))
    assert engine.ignored == 2


def several() -> TargetEngine:
    return make_engine(make_export(1, 1), make_export(1, 2), make_export(2, 1), make_export(3, 9))


@pytest.mark.parametrize(
    ("shelf", "slot", "expected"),
    [
        (BROADCAST_SHELF, BROADCAST_SLOT, {(1, 1), (1, 2), (2, 1), (3, 9)}),
        (1, BROADCAST_SLOT, {(1, 1), (1, 2)}),
        (BROADCAST_SHELF, 1, {(1, 1), (2, 1)}),
        (3, 9, {(3, 9)}),
    ],
)
def test_broadcast_addresses_fan_out_and_replies_carry_the_real_address(shelf, slot, expected):
    engine = several()
    got = replies(engine, config(ConfigArg(), shelf=shelf, slot=slot))
    assert {(r.header.shelf, r.header.slot) for r in got} == expected
    assert len(got) == len(expected)
    # IDENTIFY fans out the same way, each export describing itself.
    got = replies(engine, ata(AtaCommand.IDENTIFY_DEVICE, shelf=shelf, slot=slot))
    assert {(r.header.shelf, r.header.slot) for r in got} == expected
    assert all(isinstance(r.arg, AtaArg) and len(r.arg.data) == SECTOR_SIZE for r in got)


def test_broadcast_destination_mac_is_answered_other_macs_are_not():
    engine = make_engine()
    assert len(replies(engine, config(ConfigArg(), dst=BROADCAST_MAC))) == 1
    no_reply(engine, config(ConfigArg(), dst=OTHER_MAC))
    no_reply(engine, ata(AtaCommand.READ_SECTORS, dst=OTHER_MAC))
    # A multicast group that is not broadcast is not for us either.
    no_reply(engine, config(ConfigArg(), dst=bytes.fromhex("01005e000001")))


def test_frames_with_r_set_are_ignored():
    """Another target's responses (and our own echoed back) must never be answered."""
    engine = make_engine()
    for flags in (HeaderFlag.RESPONSE, HeaderFlag.RESPONSE | HeaderFlag.ERROR):
        no_reply(engine, config(ConfigArg(), flags=int(flags)))
        no_reply(engine, ata(AtaCommand.IDENTIFY_DEVICE, flags=int(flags)))
        no_reply(engine, request(9, b"", flags=int(flags)))
    assert engine.ignored == 6


@pytest.mark.parametrize("length", [0, 1, 13, 14, 23])
def test_frames_shorter_than_the_aoe_header_are_ignored(length):
    frame = config(ConfigArg())[:length]
    assert make_engine().handle_frame(frame) == []


def test_other_ethertypes_are_ignored():
    frame = bytearray(config(ConfigArg()))
    frame[12:14] = (0x0800).to_bytes(2, "big")
    assert make_engine().handle_frame(bytes(frame)) == []


def test_a_truncated_ata_request_is_dropped_silently():
    """Shorter than the 36-byte ATA header (as a frame arrives on veth, unpadded): vblade drops it."""
    frame = ata(AtaCommand.IDENTIFY_DEVICE)[:30]
    assert make_engine().handle_frame(frame) == []


def test_memoryview_and_bytearray_frames_are_accepted():
    frame = ata(AtaCommand.IDENTIFY_DEVICE)
    engine = make_engine()
    assert engine.handle_frame(memoryview(frame)) == engine.handle_frame(bytearray(frame))


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", [0, 2, 15])
@pytest.mark.parametrize(
    "frame_of",
    [
        lambda v: config(ConfigArg(), version=v),
        lambda v: ata(AtaCommand.READ_SECTORS, version=v),
        lambda v: mask(MaskArg(), version=v),
        lambda v: reserve(ReserveArg(), version=v),
        lambda v: request(0x42, b"x" * 10, version=v),
    ],
)
def test_a_version_other_than_1_gets_error_5(version, frame_of):
    reply = one_reply(make_engine(), frame_of(version))
    assert reply.header.is_error
    assert reply.header.error == AoeError.UNSUPPORTED_VERSION


def test_a_version_error_changes_nothing():
    export = make_export()
    engine = make_engine(export)
    frame = ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1), version=2)
    assert one_reply(engine, frame).header.error == AoeError.UNSUPPORTED_VERSION
    assert export.backend.buffer == bytes(64 * SECTOR_SIZE)  # type: ignore[attr-defined]
    one_reply(engine, config(ConfigArg(ccmd=ConfigCommand.FORCE_SET, config_string=b"x"), version=0))
    assert export.state.config_string == b""


@pytest.mark.parametrize("command", [4, 5, 0x10, 0xEF, 0xF0, 0xFF])
def test_unknown_and_vendor_commands_get_error_1_with_the_request_echoed(command):
    body = bytes(range(40))
    frame = request(command, body)
    raw = make_engine().handle_frame(frame)
    assert len(raw) == 1
    reply = decode_frame(raw[0])
    assert reply.header.is_response and reply.header.is_error
    assert reply.header.error == AoeError.UNRECOGNIZED_COMMAND
    assert reply.header.command == command and reply.header.tag == TAG
    assert raw[0][AOE_HLEN:] == frame[AOE_HLEN:]


def test_an_error_reply_to_a_tiny_unknown_command_is_padded():
    raw = make_engine().handle_frame(request(0x77, b""))
    assert len(raw) == 1 and len(raw[0]) == ETH_ZLEN


def test_the_engine_keeps_serving_after_errors():
    engine = make_engine()
    for frame in (
        request(0x55, b""),
        ata(AtaCommand.READ_SECTORS, 1000, 1),
        ata(AtaCommand.READ_SECTORS, 0, 3),
        config(ConfigArg(), version=3),
        b"\x00" * 7,
    ):
        engine.handle_frame(frame)
    _header, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 2))
    assert arg.cmd_status == DRDY and len(arg.data) == 2 * SECTOR_SIZE


# -- mask list and reserve list at the engine's door ------------------------------------------
def test_an_empty_mask_list_allows_everyone():
    engine = make_engine()
    for host in (HOST_A, HOST_B, OTHER_MAC):
        assert len(replies(engine, config(ConfigArg(), src=host))) == 1


def test_hosts_outside_a_mask_list_are_ignored_silently():
    export = make_export(state=ExportState(mask_list=[HOST_A]))
    engine = make_engine(export)
    assert len(replies(engine, ata(AtaCommand.READ_SECTORS, src=HOST_A))) == 1
    for frame in (
        ata(AtaCommand.READ_SECTORS, src=HOST_B),
        ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1), src=HOST_B),
        config(ConfigArg(ccmd=ConfigCommand.FORCE_SET, config_string=b"mine"), src=HOST_B),
        mask(
            MaskArg(mcmd=MaskCommand.EDIT, directives=(Directive(DirectiveCommand.ADD, HOST_B),)), src=HOST_B
        ),
        reserve(ReserveArg(rcmd=ReserveCommand.FORCE_SET, macs=(HOST_B,)), src=HOST_B),
        request(0x42, b"", src=HOST_B),
        config(ConfigArg(), src=HOST_B, version=2),
    ):
        no_reply(engine, frame)
    assert export.state.config_string == b""
    assert export.state.mask_list == [HOST_A]
    assert export.state.reserve_list == []
    assert export.backend.buffer == bytes(64 * SECTOR_SIZE)  # type: ignore[attr-defined]


def test_a_reserved_target_answers_identify_and_config_but_refuses_io_to_others():
    export = make_export(state=ExportState(reserve_list=[HOST_A]))
    engine = make_engine(export)
    _h, arg = ata_reply(engine, ata(AtaCommand.IDENTIFY_DEVICE, src=HOST_B))
    assert arg.cmd_status == DRDY and len(arg.data) == SECTOR_SIZE
    assert not one_reply(engine, config(ConfigArg(), src=HOST_B)).header.is_error
    for frame in (
        ata(AtaCommand.READ_SECTORS, 0, 1, src=HOST_B),
        ata(AtaCommand.READ_SECTORS_EXT, 0, 1, src=HOST_B),
        ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1), src=HOST_B),
        ata(AtaCommand.WRITE_SECTORS_EXT, 0, 1, pattern(1), src=HOST_B),
        ata(AtaCommand.FLUSH_CACHE, count=0, src=HOST_B),
        ata(AtaCommand.CHECK_POWER_MODE, count=0, src=HOST_B),
    ):
        reply = one_reply(engine, frame)
        assert reply.header.is_error and reply.header.error == AoeError.TARGET_RESERVED
        assert len(frame) >= ETH_ZLEN
    assert export.backend.buffer == bytes(64 * SECTOR_SIZE)  # type: ignore[attr-defined]
    # The holder does its I/O as usual.
    _h, arg = ata_reply(engine, ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1), src=HOST_A))
    assert arg.cmd_status == DRDY
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 1, src=HOST_A))
    assert arg.data == pattern(1)


# -- announcement -------------------------------------------------------------------------------
def test_announcement_is_a_broadcast_config_response_with_version_1():
    engine = make_engine(make_export(4, 5, state=ExportState(config_string=b"hello")), mtu=9000)
    frames = engine.announcements()
    assert len(frames) == 1
    raw = frames[0]
    assert len(raw) >= ETH_ZLEN
    assert raw[14] >> 4 == 1, "the version nibble of the announcement must be 1 (vblade sends 0)"
    frame = decode_frame(raw)
    h = frame.header
    assert (h.dst, h.src, h.shelf, h.slot, h.command) == (
        BROADCAST_MAC,
        TARGET_MAC,
        4,
        5,
        Command.QUERY_CONFIG,
    )
    assert h.is_response and not h.is_error
    assert isinstance(frame.arg, ConfigArg)
    assert frame.arg.aoe_version == 1
    assert frame.arg.sector_count == 17
    assert frame.arg.config_string == b"hello"
    assert frame.arg.firmware_version == FIRMWARE_VERSION


def test_announcement_goes_unicast_to_each_allowed_mac():
    export = make_export(4, 5, state=ExportState(mask_list=[HOST_A, HOST_B, HOST_C]))
    frames = [decode_frame(f) for f in make_engine(export).announcements()]
    assert [f.header.dst for f in frames] == [HOST_A, HOST_B, HOST_C]
    assert all(f.header.is_response and f.header.version == 1 for f in frames)


def test_every_export_is_announced():
    frames = [decode_frame(f) for f in several().announcements()]
    assert sorted((f.header.shelf, f.header.slot) for f in frames) == [(1, 1), (1, 2), (2, 1), (3, 9)]


# -- sector count from the MTU --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mtu", "sectors"), [(1500, 2), (9000, 17), (1060, 2), (1059, 1), (548, 1), (8228, 16)]
)
def test_sector_count_is_mtu_minus_36_over_512(mtu, sectors):
    engine = make_engine(mtu=mtu)
    assert engine.max_sectors == sectors
    reply = one_reply(engine, config(ConfigArg()))
    assert isinstance(reply.arg, ConfigArg)
    assert reply.arg.sector_count == sectors


def test_the_sector_count_follows_a_changed_mtu():
    engine = make_engine(mtu=1500)
    engine.mtu = 9000
    reply = one_reply(engine, config(ConfigArg()))
    assert isinstance(reply.arg, ConfigArg) and reply.arg.sector_count == 17
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 17))
    assert arg.cmd_status == DRDY and len(arg.data) == 17 * SECTOR_SIZE
    engine.mtu = 1500
    reply = one_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 17))
    assert reply.header.error == AoeError.BAD_ARGUMENT


# -- fuzzing -------------------------------------------------------------------------------------
VALID_ATA_ERRORS = {0, int(AtaErrorBit.ABRT), int(AtaErrorBit.IDNF), int(AtaErrorBit.UNC)}


def check_reply(raw: bytes) -> None:
    """What every reply must be: padded, decodable, R set, and either an AoE error that exists or,
    for ATA, a status an initiator understands (DRDY, or DRDY|ERR with a known error bit)."""
    assert len(raw) >= ETH_ZLEN
    frame = decode_frame(raw)
    h = frame.header
    assert h.is_response and h.version == 1
    if h.is_error:
        assert h.error in set(AoeError)
        return
    assert h.error == 0
    if h.command == Command.ATA:
        assert isinstance(frame.arg, AtaArg)
        status, error = frame.arg.cmd_status, frame.arg.err_feature
        assert status in (DRDY, DRDY | AtaStatus.ERR)
        assert (error == 0) == (status == DRDY)
        assert error in VALID_ATA_ERRORS


def fuzz_engine() -> TargetEngine:
    return make_engine(
        make_export(1, 2, sectors=40),
        make_export(1, 3, sectors=8, readonly=True, state=ExportState(reserve_list=[HOST_B])),
        make_export(2, 2, sectors=16, state=ExportState(config_string=b"cfg", mask_list=[HOST_A, HOST_B])),
        mtu=9000,
    )


header_bytes = st.builds(
    lambda dst, src, verflags, err, shelf, slot, cmd, tag: (
        dst
        + src
        + ETH_P_AOE.to_bytes(2, "big")
        + bytes((verflags, err))
        + shelf.to_bytes(2, "big")
        + bytes((slot, cmd))
        + tag.to_bytes(4, "big")
    ),
    dst=st.sampled_from([TARGET_MAC, BROADCAST_MAC, OTHER_MAC]),
    src=st.sampled_from([HOST_A, HOST_B, HOST_C]),
    verflags=st.one_of(st.just(0x10), st.integers(0, 0xFF)),
    err=st.integers(0, 0xFF),
    shelf=st.sampled_from([1, 2, BROADCAST_SHELF, 7]),
    slot=st.sampled_from([2, 3, BROADCAST_SLOT, 9]),
    cmd=st.one_of(st.integers(0, 4), st.integers(0, 0xFF)),
    tag=st.integers(0, 0xFFFFFFFF),
)
ata_body = st.builds(
    lambda aflags, feat, count, cmd, lba, rest: (
        bytes((aflags, feat, count, cmd)) + lba.to_bytes(6, "little") + b"\0\0" + rest
    ),
    aflags=st.integers(0, 0xFF),
    feat=st.integers(0, 0xFF),
    count=st.one_of(st.integers(0, 18), st.integers(0, 0xFF)),
    cmd=st.one_of(st.sampled_from([int(c) for c in AtaCommand]), st.integers(0, 0xFF)),
    lba=st.one_of(st.integers(0, 50), st.integers(0, 2**48 - 1)),
    rest=st.one_of(st.binary(max_size=64), st.integers(0, 18).map(lambda n: bytes(n * SECTOR_SIZE))),
)
bodies = st.one_of(ata_body, st.binary(max_size=2000))


@st.composite
def fuzz_frames(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(header_bytes) + draw(bodies))
    # Mutate a few bytes anywhere, to reach what the builders above never make.
    for _ in range(draw(st.integers(0, 3))):
        if frame:
            frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 0xFF))
    return bytes(frame[: draw(st.integers(0, len(frame)))]) if draw(st.booleans()) else bytes(frame)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(fuzz_frames(), min_size=1, max_size=8))
def test_fuzzed_frames_never_raise_and_every_reply_is_a_valid_response(frames):
    engine = fuzz_engine()
    for frame in frames:
        for raw in engine.handle_frame(frame):
            check_reply(raw)
    # Still serving afterwards.
    assert len(engine.handle_frame(ata(AtaCommand.IDENTIFY_DEVICE, shelf=1, slot=2))) == 1


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data):
    engine = fuzz_engine()
    for raw in engine.handle_frame(data):
        check_reply(raw)
    # The same bytes behind a valid Ethernet/AoE prefix.
    for raw in engine.handle_frame(TARGET_MAC + HOST_A + b"\x88\xa2" + data):
        check_reply(raw)


def test_error_replies_keep_the_fixed_argument_but_not_write_data():
    """An error reply echoes the request's ATA registers (so the initiator can match it) but
    not the sectors of a refused write."""
    engine = make_engine(make_export(state=ExportState(reserve_list=[HOST_A])))
    frame = ata(AtaCommand.WRITE_SECTORS, 5, 2, pattern(2), src=HOST_B)
    raw = engine.handle_frame(frame)
    assert len(raw) == 1
    assert raw[0][AOE_HLEN:ATA_HLEN] == frame[AOE_HLEN:ATA_HLEN]
    assert len(raw[0]) == ETH_ZLEN


def _with_count(frame: bytes, offset: int, value: bytes) -> bytes:
    out = bytearray(frame)
    out[offset : offset + len(value)] = value
    return bytes(out)


@pytest.mark.parametrize(
    "frame",
    [
        # Config string length over 1024, and running past the frame's end.
        _with_count(config(ConfigArg(ccmd=ConfigCommand.SET)), 30, (1280).to_bytes(2, "big")),
        _with_count(
            config(ConfigArg(ccmd=ConfigCommand.SET, config_string=b"ab")), 30, (200).to_bytes(2, "big")
        ),
        # 32 mask directives announced, none there.
        _with_count(mask(MaskArg(mcmd=MaskCommand.EDIT)), 27, bytes((32,))),
        # 6 reserve MACs announced, none there.
        _with_count(reserve(ReserveArg(rcmd=ReserveCommand.SET)), 25, bytes((6,))),
        # Unsupported version with a bogus count: the echo must still decode.
        _with_count(config(ConfigArg(), version=2), 30, (1280).to_bytes(2, "big")),
    ],
    ids=["config-over-1024", "config-past-end", "mask-past-end", "reserve-past-end", "version-2"],
)
def test_error_replies_to_a_bad_count_decode(frame):
    """Found by the fuzzer: echoing a bad count made error replies an initiator cannot decode."""
    export = make_export()
    reply = one_reply(make_engine(export), frame)
    assert reply.header.is_error
    assert reply.header.error in (AoeError.BAD_ARGUMENT, AoeError.UNSUPPORTED_VERSION)
    assert export.state == ExportState()


@pytest.mark.parametrize("mtu", [1500, 9000])
def test_an_unknown_command_is_echoed_no_further_than_the_mtu(mtu):
    """Found by the fuzzer: a frame larger than the MTU (it arrives after the MTU shrank) was
    echoed whole, a reply the interface cannot send."""
    engine = make_engine(make_export(), mtu=mtu)
    frame = request(4, bytes(range(256)) * 40)
    (raw,) = engine.handle_frame(frame)
    assert len(raw) == mtu + 14
    assert raw[AOE_HLEN:] == frame[AOE_HLEN : mtu + 14]
    assert raw[14] & 0x04 and raw[15] == AoeError.UNRECOGNIZED_COMMAND


def test_undecodable_frames_leave_no_garbage_cycles():
    """Found by the fuzzer's memory check: the decode error kept in a local tied each bad frame
    to its own traceback, cyclic garbage (with a view of the receive buffer) until a collection."""
    engine = make_engine(make_export())
    bad = [
        _with_count(config(ConfigArg(ccmd=ConfigCommand.SET)), 30, (1280).to_bytes(2, "big")),
        _with_count(mask(MaskArg(mcmd=MaskCommand.EDIT)), 27, bytes((32,))),
    ]
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            for frame in bad:
                assert len(engine.handle_frame(memoryview(bytearray(frame)))) == 1
        assert gc.collect() == 0
    finally:
        gc.enable()
