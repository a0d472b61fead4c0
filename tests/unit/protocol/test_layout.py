"""Tests of pyaoe.protocol.layout: the fast paths' layouts give the typed codec's bytes, and padding.

Each precompiled layout the READ/WRITE paths use, packed or unpacked as those paths do, against
encode_frame/decode_frame of the same message.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyaoe.protocol import (
    ATA_HLEN,
    ETH_P_AOE,
    ETH_ZLEN,
    REQUEST_VERFLAGS,
    RESPONSE_VERFLAGS,
    AtaArg,
    Command,
    Frame,
    Header,
    HeaderFlag,
    decode_frame,
    encode_frame,
    pad_frame,
    padded_length,
)
from pyaoe.protocol.layout import (
    ATA_REGISTERS,
    ATA_REPLY_HEAD_LE,
    ATA_REPLY_PAD,
    ATA_REQUEST,
    ATA_REQUEST_LE,
    ATA_REQUEST_PREFIX,
    ATA_RESPONSE_KEY,
    COMMAND_OFFSET,
    ERR_FEATURE_OFFSET,
    PREFIXED_ATA_REQUEST,
    PREFIXED_ATA_REQUEST_PADDED,
    TYPE_AOE_LE,
    response_head,
    swap16,
)

from .strategies import macs

shelves = st.integers(0, 0xFFFE)
slots = st.integers(0, 0xFE)
tags = st.integers(0, 0xFFFFFFFF)
lbas = st.integers(0, (1 << 48) - 1)
bytes8 = st.integers(0, 0xFF)
#: A write's data: whole sectors.
sectors = st.lists(st.binary(min_size=512, max_size=512), max_size=2).map(b"".join)


def typed_request(
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
) -> bytes:
    header = Header(dst=dst, src=src, shelf=shelf, slot=slot, command=Command.ATA, tag=tag)
    return encode_frame(
        Frame(header, AtaArg(aflags=aflags, sector_count=count, cmd_status=command, lba=lba, data=data))
    )


@given(
    dst=macs,
    src=macs,
    shelf=shelves,
    slot=slots,
    tag=tags,
    aflags=bytes8,
    count=bytes8,
    command=bytes8,
    lba=lbas,
    data=sectors,
)
def test_a_request_packed_from_its_prefix_is_the_typed_encoding(
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
    """As the initiator sends: the prefix packed once, then the padded header (no data) or the
    header with the data after it; into a buffer or as bytes."""
    prefix = ATA_REQUEST_PREFIX.pack(dst, src, ETH_P_AOE, REQUEST_VERFLAGS, 0, shelf, slot, Command.ATA)
    lba_bytes = lba.to_bytes(6, "little")
    if data:
        wire = PREFIXED_ATA_REQUEST.pack(prefix, tag, aflags, 0, count, command, lba_bytes) + data
        length = len(wire)
    else:
        wire = PREFIXED_ATA_REQUEST_PADDED.pack(prefix, tag, aflags, 0, count, command, lba_bytes)
        length = ATA_HLEN
    expected = typed_request(dst, src, shelf, slot, tag, aflags, count, command, lba, data)
    assert wire == expected
    buffer = bytearray(b"\xa5" * 1200)
    PREFIXED_ATA_REQUEST_PADDED.pack_into(buffer, 0, prefix, tag, aflags, 0, count, command, lba_bytes)
    buffer[ATA_HLEN : ATA_HLEN + len(data)] = data
    assert bytes(buffer[: max(len(expected), length)]) == expected
    whole = ATA_REQUEST.pack(
        dst,
        src,
        ETH_P_AOE,
        REQUEST_VERFLAGS,
        0,
        shelf,
        slot,
        Command.ATA,
        tag,
        aflags,
        0,
        count,
        command,
        lba_bytes,
    )
    assert pad_frame(whole + data) == expected


@given(
    dst=macs,
    src=macs,
    shelf=shelves,
    slot=slots,
    tag=tags,
    status=bytes8,
    flags=st.integers(0, 0xF),
    error=bytes8,
    command=st.sampled_from([int(Command.ATA), 0xF0, 0xFF]),
    data=st.binary(max_size=600),
)
def test_the_response_key_reads_what_decode_frame_reads(
    dst: bytes,
    src: bytes,
    shelf: int,
    slot: int,
    tag: int,
    status: int,
    flags: int,
    error: int,
    command: int,
    data: bytes,
) -> None:
    """The initiator reads dst, tag and status with one unpack and checks the rest of a clean
    answer by comparing one slice with response_head()."""
    header = Header(
        dst=dst, src=src, shelf=shelf, slot=slot, command=command, tag=tag, flags=flags, error=error
    )
    raw = (
        encode_frame(Frame(header, AtaArg(cmd_status=status, data=data))) if command == Command.ATA else None
    )
    if raw is None:
        raw = encode_frame(Frame(header, bytes(ATA_HLEN)))
    got_dst, middle, got_tag, got_status = ATA_RESPONSE_KEY.unpack_from(raw)
    decoded = decode_frame(raw)
    assert (got_dst, got_tag) == (decoded.header.dst, decoded.header.tag)
    if isinstance(decoded.arg, AtaArg):
        assert got_status == decoded.arg.cmd_status
    clean = flags == HeaderFlag.RESPONSE and error == 0 and command == Command.ATA
    assert (middle == response_head(src, RESPONSE_VERFLAGS, shelf, slot, Command.ATA)) == clean


@given(
    dst=macs,
    src=macs,
    shelf=shelves,
    slot=slots,
    tag=tags,
    aflags=bytes8,
    feature=bytes8,
    count=bytes8,
    command=bytes8,
    lba=lbas,
)
def test_the_little_endian_request_unpack_reads_what_decode_frame_reads(
    dst: bytes,
    src: bytes,
    shelf: int,
    slot: int,
    tag: int,
    aflags: int,
    feature: int,
    count: int,
    command: int,
    lba: int,
) -> None:
    header = Header(dst=dst, src=src, shelf=shelf, slot=slot, command=Command.ATA, tag=tag)
    raw = encode_frame(
        Frame(
            header,
            AtaArg(aflags=aflags, err_feature=feature, sector_count=count, cmd_status=command, lba=lba),
        )
    )
    fields = ATA_REQUEST_LE.unpack_from(raw)
    got_dst, got_src, ethertype, verflags, error, got_shelf, got_slot, aoe_command = fields[:8]
    got_aflags, got_feature, got_count, got_command, lba_lo, lba_hi = fields[8:]
    assert (got_dst, got_src, ethertype, verflags, error) == (dst, src, TYPE_AOE_LE, REQUEST_VERFLAGS, 0)
    assert (got_shelf, got_slot, aoe_command) == (swap16(shelf), slot, Command.ATA)
    assert (got_aflags, got_feature, got_count, got_command) == (aflags, feature, count, command)
    assert lba_lo | lba_hi << 32 == lba


@given(
    requester=macs,
    target=macs,
    shelf=shelves,
    slot=slots,
    tag=tags,
    aflags=bytes8,
    count=st.integers(1, 255),
    command=bytes8,
    lba=lbas,
    status=bytes8,
    error=bytes8,
    data=st.binary(max_size=600),
)
def test_a_reply_written_over_its_request_is_the_typed_reply(
    requester: bytes,
    target: bytes,
    shelf: int,
    slot: int,
    tag: int,
    aflags: int,
    count: int,
    command: int,
    lba: int,
    status: int,
    error: int,
    data: bytes,
) -> None:
    """As the target answers in place: head and registers written over the request, the data
    (a read's) or the padding (a write's) after them."""
    request = typed_request(target, requester, shelf, slot, tag, aflags, count, command, lba, bytes(512))
    buf = bytearray(request) + bytes(1200)
    ATA_REPLY_HEAD_LE.pack_into(buf, 0, requester, target, TYPE_AOE_LE, RESPONSE_VERFLAGS, 0)
    ATA_REGISTERS.pack_into(buf, ERR_FEATURE_OFFSET, error, 0, status)
    if data:
        buf[ATA_HLEN : ATA_HLEN + len(data)] = data
        length = padded_length(ATA_HLEN + len(data))
        buf[ATA_HLEN + len(data) : length] = bytes(length - ATA_HLEN - len(data))
    else:
        buf[ATA_HLEN : padded_length(ATA_HLEN)] = ATA_REPLY_PAD
        length = padded_length(ATA_HLEN)
    header = Header(
        dst=requester,
        src=target,
        shelf=shelf,
        slot=slot,
        command=Command.ATA,
        tag=tag,
        flags=HeaderFlag.RESPONSE,
    )
    arg = AtaArg(aflags=aflags, err_feature=error, sector_count=0, cmd_status=status, lba=lba, data=data)
    assert bytes(buf[:length]) == encode_frame(Frame(header, arg))
    assert buf[COMMAND_OFFSET] == Command.ATA


@pytest.mark.parametrize("length", [0, 1, 24, 32, 36, 59])
def test_pad_frame_pads_to_60_with_zeros(length: int) -> None:
    frame = bytes(range(1, length + 1))
    padded = pad_frame(frame)
    assert len(padded) == ETH_ZLEN == padded_length(length)
    assert padded[:length] == frame
    assert padded[length:] == bytes(ETH_ZLEN - length)


@pytest.mark.parametrize("length", [60, 61, 1514, 9014])
def test_pad_frame_leaves_longer_frames_alone(length: int) -> None:
    frame = bytes(i & 0xFF for i in range(length))
    assert pad_frame(frame) == frame
    assert pad_frame(bytearray(frame)) == frame
    assert padded_length(length) == length


def test_the_padded_layouts_follow_the_padding_rule() -> None:
    assert PREFIXED_ATA_REQUEST_PADDED.size == padded_length(ATA_HLEN) == ETH_ZLEN
    assert len(ATA_REPLY_PAD) == ETH_ZLEN - ATA_HLEN and not any(ATA_REPLY_PAD)
