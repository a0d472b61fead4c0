"""The initiator's fast frame builder gives the same bytes as the typed codec."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyaoe.initiator.wire import build_ata_request, build_config_query
from pyaoe.protocol import (
    AtaArg,
    Command,
    ConfigArg,
    Frame,
    Header,
    decode_frame,
    encode_frame,
)

macs = st.binary(min_size=6, max_size=6)


@given(
    dst=macs,
    src=macs,
    shelf=st.integers(0, 0xFFFE),
    slot=st.integers(0, 0xFE),
    tag=st.integers(1, 0x7FFFFFFF),
    aflags=st.sampled_from([0, 0x01, 0x40, 0x41]),
    count=st.integers(0, 255),
    command=st.sampled_from([0x20, 0x24, 0x30, 0x34, 0xEC, 0xE7, 0xEA]),
    lba=st.integers(0, (1 << 48) - 1),
    data=st.binary(max_size=2048),
)
def test_fast_ata_request_equals_typed_encoding(
    dst: bytes,
    src: bytes,
    shelf: int,
    slot: int,
    tag: int,
    aflags: int,
    count: int,
    command: int,
    lba: int,
    data: bytes,
) -> None:
    fast = build_ata_request(dst, src, shelf, slot, tag, aflags, count, command, lba, data)
    header = Header(dst=dst, src=src, shelf=shelf, slot=slot, command=Command.ATA, tag=tag)
    arg = AtaArg(aflags=aflags, sector_count=count, cmd_status=command, lba=lba, data=data)
    assert fast == encode_frame(Frame(header, arg))


def test_short_requests_are_padded_to_sixty_bytes() -> None:
    frame = build_ata_request(b"\xff" * 6, b"\x02" * 6, 1, 0, 5, 0, 1, 0xEC, 0xA0 << 24)
    assert len(frame) == 60
    decoded = decode_frame(frame)
    assert isinstance(decoded.arg, AtaArg)
    assert decoded.arg.cmd_status == 0xEC and decoded.arg.lba == 0xA0 << 24


def test_config_query_is_a_broadcast_read_with_tag_zero() -> None:
    frame = build_config_query(b"\x02" * 6, 0xFFFF, 0xFF)
    assert len(frame) == 60
    decoded = decode_frame(frame)
    assert decoded.header.dst == b"\xff" * 6
    assert (decoded.header.shelf, decoded.header.slot, decoded.header.tag) == (0xFFFF, 0xFF, 0)
    assert decoded.arg == ConfigArg()
