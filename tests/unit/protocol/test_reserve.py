"""Tests of pyaoe.protocol.reserve: the Reserve/Release argument and its MAC list."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from pyaoe.errors import FrameError
from pyaoe.protocol import (
    ETH_ZLEN,
    RESERVE_HLEN,
    AoeError,
    Command,
    Frame,
    Header,
    ReserveArg,
    ReserveCommand,
    decode_frame,
    encode_frame,
)

from .strategies import reserve_frames

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
MAC_C = bytes.fromhex("0a1b2c3d4e5f")
HEADER = Header(dst=MAC_A, src=MAC_B, shelf=1, slot=2, command=Command.RESERVE_RELEASE, tag=7)


def reserve_frame(arg: ReserveArg) -> bytes:
    return encode_frame(Frame(header=HEADER, arg=arg))


@settings(max_examples=200)
@given(reserve_frames)
def test_reserve_round_trip(frame: Frame) -> None:
    assert isinstance(frame.arg, ReserveArg)
    raw = encode_frame(frame)
    assert len(raw) == max(ETH_ZLEN, RESERVE_HLEN + 6 * len(frame.arg.macs))
    assert decode_frame(raw) == frame


@pytest.mark.parametrize("rcmd", list(ReserveCommand))
def test_every_rcmd_round_trips(rcmd: ReserveCommand) -> None:
    arg = ReserveArg(rcmd=rcmd, macs=(MAC_A, MAC_C))
    raw = reserve_frame(arg)
    assert raw[24:38] == bytes([rcmd, 2]) + MAC_A + MAC_C
    assert decode_frame(raw).arg == arg


def test_release_is_an_empty_set() -> None:
    raw = reserve_frame(ReserveArg(rcmd=ReserveCommand.SET))
    assert raw[24:26] == bytes([1, 0])
    assert decode_frame(raw).arg == ReserveArg(rcmd=ReserveCommand.SET, macs=())


@pytest.mark.parametrize(("nmacs", "present"), [(1, 0), (2, 1), (6, 5), (255, 40)])
def test_truncated_mac_list_is_bad_argument(nmacs: int, present: int) -> None:
    raw = bytearray(reserve_frame(ReserveArg(rcmd=ReserveCommand.FORCE_SET, macs=(MAC_C,) * max(present, 6))))
    # Keep ``present`` whole MACs and half of the next one (unpadded, as veth delivers it),
    # then claim ``nmacs``.
    del raw[RESERVE_HLEN + 6 * present + 3 :]
    raw[25] = nmacs
    assert RESERVE_HLEN + 6 * nmacs > len(raw)
    with pytest.raises(FrameError) as info:
        decode_frame(bytes(raw))
    assert info.value.reply_error == AoeError.BAD_ARGUMENT


def test_mac_list_may_reach_into_padding() -> None:
    # 26 + 5 * 6 = 56 <= 60: five MACs fit in a padded empty request, all zero.
    raw = bytearray(reserve_frame(ReserveArg(rcmd=ReserveCommand.SET)))
    raw[25] = 5
    arg = decode_frame(bytes(raw)).arg
    assert arg == ReserveArg(rcmd=ReserveCommand.SET, macs=(bytes(6),) * 5)


@pytest.mark.parametrize("length", range(24, RESERVE_HLEN))
def test_reserve_frame_shorter_than_26_is_dropped(length: int) -> None:
    with pytest.raises(FrameError) as info:
        decode_frame(reserve_frame(ReserveArg())[:length])
    assert info.value.reply_error is None


def test_unknown_rcmd_survives_decoding() -> None:
    # The target answers an unknown RCmd with AoE error 2; the codec passes it on.
    assert decode_frame(reserve_frame(ReserveArg(rcmd=9))).arg == ReserveArg(rcmd=9)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rcmd": 256},
        {"rcmd": -1},
        {"macs": (b"\x00" * 5,)},
        {"macs": (MAC_A, b"\x00" * 7)},
        {"macs": (MAC_A,) * 256},
    ],
)
def test_reserve_arg_rejects_bad_fields(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ReserveArg(**kwargs)  # type: ignore[arg-type]
