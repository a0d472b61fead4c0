"""Tests of pyaoe.protocol.mask: the MAC Mask List argument, directives and MError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from pyaoe.errors import FrameError
from pyaoe.protocol import (
    ETH_ZLEN,
    MASK_HLEN,
    AoeError,
    Command,
    Directive,
    DirectiveCommand,
    Frame,
    Header,
    MaskArg,
    MaskCommand,
    MaskError,
    decode_frame,
    encode_frame,
)

from .strategies import mask_frames

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
MAC_C = bytes.fromhex("0a1b2c3d4e5f")
HEADER = Header(dst=MAC_A, src=MAC_B, shelf=1, slot=2, command=Command.MAC_MASK_LIST, tag=7)


def mask_frame(arg: MaskArg) -> bytes:
    return encode_frame(Frame(header=HEADER, arg=arg))


@settings(max_examples=200)
@given(mask_frames)
def test_mask_round_trip(frame: Frame) -> None:
    assert isinstance(frame.arg, MaskArg)
    raw = encode_frame(frame)
    assert len(raw) == max(ETH_ZLEN, MASK_HLEN + 8 * len(frame.arg.directives))
    assert decode_frame(raw) == frame


def test_mask_wire_layout() -> None:
    arg = MaskArg(
        mcmd=MaskCommand.EDIT,
        directives=(Directive(DirectiveCommand.ADD, MAC_C), Directive(DirectiveCommand.DELETE, MAC_A)),
    )
    raw = mask_frame(arg)
    assert raw[24:28] == bytes([0, 1, 0, 2])
    assert raw[28:36] == bytes([0, 1]) + MAC_C
    assert raw[36:44] == bytes([0, 2]) + MAC_A
    assert len(raw) == 44 + 16 and raw[44:] == bytes(16)


def test_mask_read_request_is_empty() -> None:
    raw = mask_frame(MaskArg())
    assert raw[24:28] == bytes(4)
    assert decode_frame(raw).arg == MaskArg(mcmd=MaskCommand.READ)


@pytest.mark.parametrize("merror", list(MaskError))
@pytest.mark.parametrize("failed_index", [0, 1, 31, 255])
def test_merror_carries_failed_index_in_dir_count(merror: MaskError, failed_index: int) -> None:
    arg = MaskArg(mcmd=MaskCommand.EDIT, merror=merror, failed_index=failed_index)
    raw = mask_frame(arg)
    assert raw[24:28] == bytes([0, 1, merror, failed_index])
    # An error response carries no directives (vblade answers with the 28-byte argument alone),
    # so a large failed index must not be read as a directive count running off the frame.
    assert len(raw) == ETH_ZLEN
    decoded = decode_frame(raw).arg
    assert decoded == arg
    assert isinstance(decoded, MaskArg)
    assert decoded.directives == ()


def test_merror_with_directives_is_refused() -> None:
    # Encoding both would write directives the Dir Count does not count: the frame would not
    # decode to what was built.
    with pytest.raises(ValueError):
        MaskArg(
            mcmd=MaskCommand.EDIT,
            merror=MaskError.LIST_FULL,
            failed_index=1,
            directives=(Directive(DirectiveCommand.ADD, MAC_C),),
        )


def test_failed_index_without_merror_is_refused() -> None:
    with pytest.raises(ValueError):
        MaskArg(mcmd=MaskCommand.EDIT, failed_index=3)


@pytest.mark.parametrize("count", [1, 4, 255])
def test_directives_past_the_end_are_bad_argument(count: int) -> None:
    directives = tuple(Directive(DirectiveCommand.ADD, MAC_C) for _ in range(3))
    raw = bytearray(mask_frame(MaskArg(mcmd=MaskCommand.EDIT, directives=directives)))
    del raw[MASK_HLEN + 8 * min(count, 3) - 1 :]  # cut the last directive short
    raw[27] = count
    with pytest.raises(FrameError) as info:
        decode_frame(bytes(raw))
    assert info.value.reply_error == AoeError.BAD_ARGUMENT


def test_directive_count_may_reach_into_padding() -> None:
    # 28 + 4 * 8 = 60: four directives fit exactly in a padded empty request.
    raw = bytearray(mask_frame(MaskArg(mcmd=MaskCommand.EDIT)))
    raw[27] = 4
    arg = decode_frame(bytes(raw)).arg
    assert isinstance(arg, MaskArg)
    assert arg.directives == tuple(Directive(DirectiveCommand.NONE, bytes(6)) for _ in range(4))


@pytest.mark.parametrize("length", range(24, MASK_HLEN))
def test_mask_frame_shorter_than_28_is_dropped(length: int) -> None:
    with pytest.raises(FrameError) as info:
        decode_frame(mask_frame(MaskArg())[:length])
    assert info.value.reply_error is None


def test_unknown_dcmd_and_mcmd_survive_decoding() -> None:
    # The target, not the codec, answers unknown DCmd (MError 2) and MCmd (AoE error 2).
    arg = MaskArg(mcmd=7, directives=(Directive(9, MAC_C),))
    assert decode_frame(mask_frame(arg)).arg == arg


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mcmd": 256},
        {"merror": -1},
        {"failed_index": 256, "merror": 1},
        {"directives": tuple(Directive(1, MAC_C) for _ in range(256))},
    ],
)
def test_mask_arg_rejects_out_of_range_fields(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MaskArg(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("dcmd", "mac"), [(256, MAC_C), (-1, MAC_C), (1, b"\x00" * 5), (1, b"\x00" * 7)])
def test_directive_rejects_bad_fields(dcmd: int, mac: bytes) -> None:
    with pytest.raises(ValueError):
        Directive(dcmd, mac)
