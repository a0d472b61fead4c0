"""Tests of pyaoe.protocol.header: the common AoE header, its flags, errors and reply rule."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from pyaoe.errors import FrameError
from pyaoe.protocol import (
    AOE_ERROR_TEXT,
    AOE_HLEN,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    ETH_P_AOE,
    AoeError,
    Command,
    Header,
    HeaderFlag,
    reply_header,
)
from pyaoe.protocol.header import decode_header, encode_header_into

from .strategies import headers, raw_commands

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def encode(header: Header) -> bytes:
    buf = bytearray(AOE_HLEN)
    encode_header_into(buf, header)
    return bytes(buf)


@settings(max_examples=200)
@given(headers(raw_commands))
def test_header_round_trip(header: Header) -> None:
    assert decode_header(encode(header)) == header


def test_header_wire_layout() -> None:
    header = Header(
        dst=MAC_A,
        src=MAC_B,
        shelf=0x1234,
        slot=0x56,
        command=Command.QUERY_CONFIG,
        tag=0x89ABCDEF,
        flags=HeaderFlag.RESPONSE | HeaderFlag.ERROR,
        error=AoeError.BAD_ARGUMENT,
    )
    raw = encode(header)
    assert raw == MAC_A + MAC_B + bytes.fromhex("88a21c021234560189abcdef")


@pytest.mark.parametrize("flags", range(16))
@pytest.mark.parametrize("version", [0, 1, 2, 15])
def test_every_flag_and_version_survive(flags: int, version: int) -> None:
    header = Header(dst=MAC_A, src=MAC_B, shelf=1, slot=2, command=0, tag=3, flags=flags, version=version)
    raw = encode(header)
    assert raw[14] == (version << 4) | flags
    decoded = decode_header(raw)
    assert decoded == header
    assert decoded.is_response == bool(flags & 0x08)
    assert decoded.is_error == bool(flags & 0x04)


@pytest.mark.parametrize("error", list(AoeError))
def test_every_error_code_survives(error: AoeError) -> None:
    header = Header(
        dst=MAC_A,
        src=MAC_B,
        shelf=1,
        slot=2,
        command=0,
        tag=3,
        flags=HeaderFlag.RESPONSE | HeaderFlag.ERROR,
        error=error,
    )
    decoded = decode_header(encode(header))
    assert decoded.error == error
    assert decoded.is_error


@pytest.mark.parametrize(
    ("shelf", "slot", "broadcast"),
    [
        (BROADCAST_SHELF, BROADCAST_SLOT, True),
        (BROADCAST_SHELF, 3, True),
        (7, BROADCAST_SLOT, True),
        (7, 3, False),
        (0, 0, False),
        (0xFFFE, 0xFE, False),
    ],
)
def test_broadcast_addresses(shelf: int, slot: int, broadcast: bool) -> None:
    header = Header(dst=b"\xff" * 6, src=MAC_B, shelf=shelf, slot=slot, command=Command.QUERY_CONFIG, tag=0)
    raw = encode(header)
    assert raw[16:19] == shelf.to_bytes(2, "big") + bytes([slot])
    decoded = decode_header(raw)
    assert (decoded.shelf, decoded.slot) == (shelf, slot)
    assert decoded.is_broadcast is broadcast


@pytest.mark.parametrize("length", range(AOE_HLEN))
def test_frames_shorter_than_the_header_are_dropped(length: int) -> None:
    raw = encode(Header(dst=MAC_A, src=MAC_B, shelf=1, slot=1, command=0, tag=0))[:length]
    with pytest.raises(FrameError) as info:
        decode_header(raw)
    assert info.value.reply_error is None
    assert str(info.value)


@pytest.mark.parametrize("ethertype", [0x0800, 0x86DD, 0x88A3, 0xA288, 0x0000, 0xFFFF])
def test_wrong_ethertype_is_dropped(ethertype: int) -> None:
    raw = bytearray(encode(Header(dst=MAC_A, src=MAC_B, shelf=1, slot=1, command=0, tag=0)))
    raw[12:14] = ethertype.to_bytes(2, "big")
    with pytest.raises(FrameError, match="EtherType") as info:
        decode_header(bytes(raw))
    assert info.value.reply_error is None


def test_ethertype_constant() -> None:
    assert ETH_P_AOE == 0x88A2


def test_reply_header_swaps_addresses_and_echoes_tag() -> None:
    request = Header(
        dst=b"\xff" * 6,
        src=MAC_A,
        shelf=BROADCAST_SHELF,
        slot=BROADCAST_SLOT,
        command=Command.ATA,
        tag=0x80001234,
        version=0,
    )
    reply = reply_header(request, MAC_B, 5, 7)
    assert (reply.dst, reply.src, reply.shelf, reply.slot) == (MAC_A, MAC_B, 5, 7)
    assert (reply.command, reply.tag, reply.version) == (Command.ATA, 0x80001234, 1)
    assert reply.is_response and not reply.is_error and reply.error == 0


@pytest.mark.parametrize("error", list(AoeError))
def test_reply_header_with_error(error: AoeError) -> None:
    request = Header(dst=MAC_B, src=MAC_A, shelf=5, slot=7, command=Command.QUERY_CONFIG, tag=9)
    reply = reply_header(request, MAC_B, 5, 7, error=error)
    assert reply.flags == HeaderFlag.RESPONSE | HeaderFlag.ERROR
    assert reply.error == error
    assert encode(reply)[14:16] == bytes([0x1C, error])


def test_error_texts_cover_every_code() -> None:
    assert set(AoeError) <= set(AOE_ERROR_TEXT)
    assert AOE_ERROR_TEXT[AoeError.BAD_ARGUMENT] == "bad argument parameter"
    assert [int(e) for e in AoeError] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dst": b"\x00" * 5},
        {"src": b"\x00" * 7},
        {"shelf": 0x10000},
        {"shelf": -1},
        {"slot": 0x100},
        {"command": 0x100},
        {"tag": 1 << 32},
        {"tag": -1},
        {"flags": 0x10},
        {"version": 16},
        {"error": 256},
    ],
)
def test_header_rejects_out_of_range_fields(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"dst": MAC_A, "src": MAC_B, "shelf": 1, "slot": 1, "command": 0, "tag": 0}
    fields.update(kwargs)
    with pytest.raises(ValueError):
        Header(**fields)  # type: ignore[arg-type]
