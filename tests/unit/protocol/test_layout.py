"""Tests of pyaoe.protocol.layout: the fast paths' layouts give the typed codec's bytes, and padding.

Each precompiled layout the READ/WRITE paths use, packed or unpacked as those paths do, against
encode_frame/decode_frame of the same message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class Fields:
    """What one ATA frame carries, for the layouts and the typed codec alike."""

    dst: bytes
    src: bytes
    shelf: int
    slot: int
    tag: int
    aflags: int
    feature: int
    count: int
    command: int
    lba: int
    data: bytes

    def typed(self, header_flags: int = 0, status: int | None = None) -> bytes:
        """encode_frame of these fields: a request, or with ``status`` a reply (count 0)."""
        header = Header(
            dst=self.dst,
            src=self.src,
            shelf=self.shelf,
            slot=self.slot,
            command=Command.ATA,
            tag=self.tag,
            flags=header_flags,
        )
        if status is None:
            arg = AtaArg(self.aflags, self.feature, self.count, self.command, self.lba, self.data)
        else:
            arg = AtaArg(self.aflags, self.feature, 0, status, self.lba, self.data)
        return encode_frame(Frame(header, arg))


byte = st.integers(0, 0xFF)
#: A write's data: whole sectors (or none).
sectors = st.lists(st.binary(min_size=512, max_size=512), max_size=2).map(b"".join)
fields = st.builds(
    Fields,
    dst=macs,
    src=macs,
    shelf=st.integers(0, 0xFFFE),
    slot=st.integers(0, 0xFE),
    tag=st.integers(0, 0xFFFFFFFF),
    aflags=byte,
    feature=byte,
    count=byte,
    command=byte,
    lba=st.integers(0, (1 << 48) - 1),
    data=sectors,
)


@given(f=fields)
def test_a_request_packed_from_its_prefix_is_the_typed_encoding(f: Fields) -> None:
    """As the initiator sends: the prefix packed once, then the padded header (no data) or the
    header with the data after it; into a buffer or as bytes. (The initiator sends feature 0.)"""
    f = replace(f, feature=0)
    prefix = ATA_REQUEST_PREFIX.pack(
        f.dst, f.src, ETH_P_AOE, REQUEST_VERFLAGS, 0, f.shelf, f.slot, Command.ATA
    )
    lba_bytes = f.lba.to_bytes(6, "little")
    expected = f.typed()
    if f.data:
        wire = PREFIXED_ATA_REQUEST.pack(prefix, f.tag, f.aflags, 0, f.count, f.command, lba_bytes) + f.data
    else:
        wire = PREFIXED_ATA_REQUEST_PADDED.pack(prefix, f.tag, f.aflags, 0, f.count, f.command, lba_bytes)
    assert wire == expected
    buffer = bytearray(b"\xa5" * 1200)
    PREFIXED_ATA_REQUEST_PADDED.pack_into(
        buffer, 0, prefix, f.tag, f.aflags, 0, f.count, f.command, lba_bytes
    )
    buffer[ATA_HLEN : ATA_HLEN + len(f.data)] = f.data
    assert bytes(buffer[: len(expected)]) == expected
    whole = ATA_REQUEST.pack(
        f.dst,
        f.src,
        ETH_P_AOE,
        REQUEST_VERFLAGS,
        0,
        f.shelf,
        f.slot,
        Command.ATA,
        f.tag,
        f.aflags,
        0,
        f.count,
        f.command,
        lba_bytes,
    )
    assert pad_frame(whole + f.data) == expected


@given(
    f=fields, flags=st.integers(0, 0xF), error=byte, command=st.sampled_from([int(Command.ATA), 0xF0, 0xFF])
)
def test_the_response_key_reads_what_decode_frame_reads(
    f: Fields, flags: int, error: int, command: int
) -> None:
    """The initiator reads dst, tag and status with one unpack and checks the rest of a clean
    answer by comparing one slice with response_head()."""
    header = Header(
        dst=f.dst, src=f.src, shelf=f.shelf, slot=f.slot, command=command, tag=f.tag, flags=flags, error=error
    )
    arg: AtaArg | bytes = (
        AtaArg(cmd_status=f.command, data=f.data) if command == Command.ATA else bytes(ATA_HLEN)
    )
    raw = encode_frame(Frame(header, arg))
    got_dst, middle, got_tag, got_status = ATA_RESPONSE_KEY.unpack_from(raw)
    decoded = decode_frame(raw)
    assert (got_dst, got_tag) == (decoded.header.dst, decoded.header.tag)
    if isinstance(decoded.arg, AtaArg):
        assert got_status == decoded.arg.cmd_status
    clean = flags == HeaderFlag.RESPONSE and error == 0 and command == Command.ATA
    assert (middle == response_head(f.src, RESPONSE_VERFLAGS, f.shelf, f.slot, Command.ATA)) == clean


@given(f=fields)
def test_the_little_endian_request_unpack_reads_what_decode_frame_reads(f: Fields) -> None:
    """As the target reads a request: one unpack, the EtherType and shelf byte-swapped."""
    got = ATA_REQUEST_LE.unpack_from(f.typed())
    assert got[:5] == (f.dst, f.src, TYPE_AOE_LE, REQUEST_VERFLAGS, 0)
    assert got[5:8] == (swap16(f.shelf), f.slot, Command.ATA)
    assert got[8:12] == (f.aflags, f.feature, f.count, f.command)
    assert got[12] | got[13] << 32 == f.lba


@given(f=fields, status=byte, error=byte)
def test_a_reply_written_over_its_request_is_the_typed_reply(f: Fields, status: int, error: int) -> None:
    """As the target answers in place: head and registers written over the request, then the
    data (a read's) or the padding (a write's)."""
    buf = bytearray(replace(f, dst=f.src, src=f.dst, data=bytes(1024)).typed()) + bytes(1200)
    ATA_REPLY_HEAD_LE.pack_into(buf, 0, f.dst, f.src, TYPE_AOE_LE, RESPONSE_VERFLAGS, 0)
    ATA_REGISTERS.pack_into(buf, ERR_FEATURE_OFFSET, error, 0, status)
    if f.data:
        buf[ATA_HLEN : ATA_HLEN + len(f.data)] = f.data
        length = ATA_HLEN + len(f.data)
    else:
        buf[ATA_HLEN : padded_length(ATA_HLEN)] = ATA_REPLY_PAD
        length = padded_length(ATA_HLEN)
    expected = replace(f, feature=error).typed(HeaderFlag.RESPONSE, status)
    assert bytes(buf[:length]) == expected
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
