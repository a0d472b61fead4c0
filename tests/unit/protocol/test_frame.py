"""Tests of pyaoe.protocol.frame: whole frames of every command, and decoding arbitrary bytes.

The codec's promise: what encode_frame builds, decode_frame gives back, and no input makes
decode_frame raise anything but FrameError.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.errors import FrameError
from pyaoe.protocol import (
    AOE_HLEN,
    ATA_HLEN,
    ETH_P_AOE,
    ETH_ZLEN,
    AoeError,
    AtaArg,
    Command,
    ConfigArg,
    Frame,
    Header,
    MaskArg,
    ReserveArg,
    decode_frame,
    encode_frame,
)
from pyaoe.protocol.frame import frame_length

from .strategies import any_frames, raw_frames

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def as_decoded(frame: Frame) -> Frame:
    """What decode_frame returns for encode_frame(frame): the same frame, except that ATA data
    and raw arguments (which run to the end of the frame) gain the zero padding of a frame
    under 60 bytes. Config, mask and reserve arguments carry their own lengths."""
    arg = frame.arg
    if isinstance(arg, AtaArg):
        pad = bytes(max(0, ETH_ZLEN - ATA_HLEN - len(arg.data)))
        return dataclasses.replace(frame, arg=dataclasses.replace(arg, data=arg.data + pad))
    if isinstance(arg, bytes):
        return dataclasses.replace(frame, arg=arg + bytes(max(0, ETH_ZLEN - AOE_HLEN - len(arg))))
    return frame


@settings(max_examples=200)
@given(any_frames)
def test_every_message_round_trips(frame: Frame) -> None:
    raw = encode_frame(frame)
    assert len(raw) == max(ETH_ZLEN, frame_length(frame))
    assert raw[frame_length(frame) :] == bytes(len(raw) - frame_length(frame))
    assert decode_frame(raw) == as_decoded(frame)


@settings(max_examples=200)
@given(raw_frames)
def test_unknown_and_vendor_commands_keep_raw_arguments(frame: Frame) -> None:
    assert isinstance(frame.arg, bytes)
    decoded = decode_frame(encode_frame(frame))
    assert decoded.header == frame.header
    assert isinstance(decoded.arg, bytes)
    assert decoded.arg[: len(frame.arg)] == frame.arg
    assert decoded.arg[len(frame.arg) :] == bytes(len(decoded.arg) - len(frame.arg))
    assert len(decoded.arg) == max(ETH_ZLEN - AOE_HLEN, len(frame.arg))


@pytest.mark.parametrize("command", [4, 0x7F, 0xEF, 0xF0, 0xFF])
def test_vendor_command_exact_bytes(command: int) -> None:
    header = Header(dst=MAC_A, src=MAC_B, shelf=3, slot=4, command=command, tag=5)
    payload = bytes(range(40))
    raw = encode_frame(Frame(header=header, arg=payload))
    assert len(raw) == AOE_HLEN + 40
    assert raw[19] == command
    assert decode_frame(raw) == Frame(header=header, arg=payload)


@settings(max_examples=200)
@given(any_frames)
def test_decode_accepts_bytes_bytearray_and_memoryview(frame: Frame) -> None:
    raw = encode_frame(frame)
    expected = decode_frame(raw)
    assert decode_frame(bytearray(raw)) == expected
    assert decode_frame(memoryview(raw)) == expected


def check_decode(raw: bytes) -> None:
    """decode_frame either succeeds, with a frame that re-encodes to the same decode, or raises
    FrameError with a message and reply_error None or an AoeError."""
    try:
        frame = decode_frame(raw)
    except FrameError as exc:
        assert str(exc)
        assert exc.reply_error is None or isinstance(exc.reply_error, AoeError)
        return
    assert decode_frame(encode_frame(frame)) == as_decoded(frame)


@settings(max_examples=200)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_frame_error(raw: bytes) -> None:
    check_decode(raw)


@settings(max_examples=300)
@given(
    command=st.one_of(st.integers(0, 3), st.integers(0, 0xFF)),
    verflags=st.integers(0, 0xFF),
    body=st.binary(max_size=120),
)
def test_arbitrary_aoe_bodies_raise_only_frame_error(command: int, verflags: int, body: bytes) -> None:
    # A valid EtherType and length so the argument decoders see the random bytes.
    raw = (
        MAC_A + MAC_B + ETH_P_AOE.to_bytes(2, "big") + bytes([verflags, 0, 0, 1, 2, command]) + b"tag!" + body
    )
    check_decode(raw)


@pytest.mark.parametrize(
    ("command", "arg"),
    [
        (Command.ATA, ConfigArg()),
        (Command.QUERY_CONFIG, AtaArg()),
        (Command.MAC_MASK_LIST, ReserveArg()),
        (Command.RESERVE_RELEASE, MaskArg()),
        (Command.ATA, b""),
        (0xF0, AtaArg()),
    ],
)
def test_frame_refuses_an_argument_of_the_wrong_type(command: int, arg: object) -> None:
    header = Header(dst=MAC_A, src=MAC_B, shelf=1, slot=1, command=command, tag=0)
    with pytest.raises(ValueError):
        Frame(header=header, arg=arg)  # type: ignore[arg-type]


def test_decoded_command_is_the_int_from_the_wire() -> None:
    header = Header(dst=MAC_A, src=MAC_B, shelf=1, slot=1, command=Command.RESERVE_RELEASE, tag=0)
    decoded = decode_frame(encode_frame(Frame(header=header, arg=ReserveArg())))
    assert decoded.header.command == Command.RESERVE_RELEASE
    assert decoded.header.command == 3
