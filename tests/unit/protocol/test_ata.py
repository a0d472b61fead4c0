"""Tests of pyaoe.protocol.ata: the ATA argument, LBA28/LBA48 registers and status rules."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.errors import FrameError
from pyaoe.protocol import (
    ATA_HLEN,
    ETH_ZLEN,
    LBA28_MAX,
    LBA48_MAX,
    AtaArg,
    AtaCommand,
    AtaFlag,
    AtaStatus,
    Command,
    Frame,
    Header,
    command_lba,
    decode_frame,
    encode_frame,
    is_ata_failure,
    lba_register,
)
from pyaoe.protocol.ata import decode_ata

from .strategies import ata_frames

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
HEADER = Header(dst=MAC_A, src=MAC_B, shelf=1, slot=2, command=Command.ATA, tag=0x1234)


def ata_frame(arg: AtaArg) -> bytes:
    return encode_frame(Frame(header=HEADER, arg=arg))


def padding_after(data: bytes) -> bytes:
    """The zero bytes encode_frame adds after ``data`` to reach the 60-byte minimum."""
    return bytes(max(0, ETH_ZLEN - ATA_HLEN - len(data)))


@settings(max_examples=200)
@given(ata_frames)
def test_ata_round_trip(frame: Frame) -> None:
    assert isinstance(frame.arg, AtaArg)
    raw = encode_frame(frame)
    assert len(raw) == max(ETH_ZLEN, ATA_HLEN + len(frame.arg.data))
    decoded = decode_frame(raw)
    # The ATA decoder hands every byte after the argument over as data, so the padding of a
    # frame under 60 bytes comes back as 24 - len(data) zero bytes: the caller trims to the
    # sector count. Everything else comes back exactly.
    expected = dataclasses.replace(frame.arg, data=frame.arg.data + padding_after(frame.arg.data))
    assert decoded == Frame(header=frame.header, arg=expected)


def test_short_ata_frame_data_is_the_padding() -> None:
    decoded = decode_frame(ata_frame(AtaArg(cmd_status=AtaCommand.IDENTIFY_DEVICE, sector_count=1)))
    assert isinstance(decoded.arg, AtaArg)
    assert decoded.arg.data == bytes(ETH_ZLEN - ATA_HLEN)


def test_whole_sectors_are_not_padded() -> None:
    data = bytes(range(256)) * 4
    raw = ata_frame(
        AtaArg(aflags=AtaFlag.WRITE, sector_count=2, cmd_status=AtaCommand.WRITE_SECTORS, data=data)
    )
    assert len(raw) == ATA_HLEN + 1024
    decoded = decode_frame(raw)
    assert isinstance(decoded.arg, AtaArg)
    assert decoded.arg.data == data


@pytest.mark.parametrize(
    "combo",
    [
        0,
        AtaFlag.WRITE,
        AtaFlag.WRITE | AtaFlag.ASYNC,
        AtaFlag.EXTENDED,
        AtaFlag.EXTENDED | AtaFlag.DEVICE,
        AtaFlag.EXTENDED | AtaFlag.WRITE,
        AtaFlag.EXTENDED | AtaFlag.DEVICE | AtaFlag.ASYNC | AtaFlag.WRITE,
        0xFF,
    ],
)
def test_aflags_byte(combo: int) -> None:
    raw = ata_frame(AtaArg(aflags=combo))
    assert raw[24] == combo
    decoded = decode_frame(raw).arg
    assert isinstance(decoded, AtaArg)
    assert decoded.aflags == combo
    assert decoded.is_write == bool(combo & 0x01)


def test_aflag_values() -> None:
    assert (AtaFlag.WRITE, AtaFlag.ASYNC, AtaFlag.DEVICE, AtaFlag.EXTENDED) == (0x01, 0x02, 0x10, 0x40)


def test_ata_argument_wire_layout() -> None:
    arg = AtaArg(
        aflags=AtaFlag.EXTENDED,
        err_feature=0x11,
        sector_count=2,
        cmd_status=AtaCommand.READ_SECTORS_EXT,
        lba=0x0605_0403_0201,
    )
    raw = ata_frame(arg)
    # aflags, feature, count, command, LBA0..LBA5 little-endian, two reserved zero bytes.
    assert raw[24:36] == bytes([0x40, 0x11, 0x02, 0x24, 1, 2, 3, 4, 5, 6, 0, 0])


def test_reserved_bytes_are_ignored_on_decode() -> None:
    raw = bytearray(ata_frame(AtaArg(lba=5)))
    raw[34:36] = b"\xff\xff"
    decoded = decode_frame(bytes(raw)).arg
    assert isinstance(decoded, AtaArg)
    assert decoded.lba == 5


@pytest.mark.parametrize("length", range(24, ATA_HLEN))
def test_ata_frame_shorter_than_36_is_dropped(length: int) -> None:
    raw = ata_frame(AtaArg(sector_count=1, cmd_status=AtaCommand.READ_SECTORS))[:length]
    with pytest.raises(FrameError) as info:
        decode_frame(raw)
    assert info.value.reply_error is None
    with pytest.raises(FrameError):
        decode_ata(raw)


def test_ata_frame_of_exactly_36_bytes_has_no_data() -> None:
    raw = ata_frame(AtaArg(sector_count=1, cmd_status=AtaCommand.READ_SECTORS))[:ATA_HLEN]
    decoded = decode_frame(raw).arg
    assert isinstance(decoded, AtaArg)
    assert decoded.data == b""


# --- LBA registers -------------------------------------------------------------------------


def test_lba28_register_sets_device_bits_in_lba3() -> None:
    registers = lba_register(0x0ABCDEF1, extended=False)
    raw = ata_frame(AtaArg(cmd_status=AtaCommand.READ_SECTORS, lba=registers))
    # LBA0..LBA3 at 28..31: LBA3 = 0xE0 | bits 24-27; LBA4, LBA5 zero.
    assert raw[28:34] == bytes([0xF1, 0xDE, 0xBC, 0xEA, 0x00, 0x00])
    assert lba_register(0, extended=False) == 0xE0 << 24
    assert lba_register(LBA28_MAX, extended=False) == 0xEFFFFFFF


def test_lba48_register_is_the_lba() -> None:
    assert lba_register(LBA48_MAX, extended=True) == LBA48_MAX
    assert lba_register(0x0123_4567_89AB, extended=True) == 0x0123_4567_89AB
    raw = ata_frame(
        AtaArg(
            aflags=AtaFlag.EXTENDED,
            cmd_status=AtaCommand.READ_SECTORS_EXT,
            lba=lba_register(0x0123_4567_89AB, extended=True),
        )
    )
    assert raw[28:34] == bytes([0xAB, 0x89, 0x67, 0x45, 0x23, 0x01])


@pytest.mark.parametrize(
    ("lba", "extended"), [(LBA28_MAX + 1, False), (-1, False), (LBA48_MAX + 1, True), (-1, True)]
)
def test_lba_register_rejects_out_of_range(lba: int, extended: bool) -> None:
    with pytest.raises(ValueError):
        lba_register(lba, extended)


@pytest.mark.parametrize("command", [AtaCommand.READ_SECTORS, AtaCommand.WRITE_SECTORS])
def test_command_lba_is_28_bits_for_0x20_0x30(command: int) -> None:
    assert command in (0x20, 0x30)
    # Device bits in LBA3 and junk in LBA4-5 are not part of a 28-bit LBA.
    assert command_lba(command, 0xFFFF_EABC_DEF1) == 0x0ABCDEF1
    assert command_lba(command, lba_register(12345, extended=False)) == 12345


@pytest.mark.parametrize("command", [AtaCommand.READ_SECTORS_EXT, AtaCommand.WRITE_SECTORS_EXT])
def test_command_lba_is_48_bits_for_0x24_0x34(command: int) -> None:
    assert command in (0x24, 0x34)
    assert command_lba(command, 0xFFFF_EABC_DEF1) == 0xFFFF_EABC_DEF1
    assert command_lba(command, LBA48_MAX) == LBA48_MAX


@settings(max_examples=200)
@given(st.integers(0, LBA28_MAX), st.integers(0, LBA48_MAX))
def test_command_lba_undoes_lba_register(lba28: int, lba48: int) -> None:
    assert command_lba(AtaCommand.READ_SECTORS, lba_register(lba28, extended=False)) == lba28
    assert command_lba(AtaCommand.WRITE_SECTORS_EXT, lba_register(lba48, extended=True)) == lba48


def test_command_not_flag_decides_lba_width() -> None:
    # vblade ignores the E flag; so does command_lba: an EXT command without E is still 48-bit.
    frame = decode_frame(ata_frame(AtaArg(aflags=0, cmd_status=AtaCommand.READ_SECTORS_EXT, lba=1 << 40)))
    assert isinstance(frame.arg, AtaArg)
    assert command_lba(frame.arg.cmd_status, frame.arg.lba) == 1 << 40


# --- status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "failed"),
    [
        (AtaStatus.DRDY, False),
        (0x00, False),
        (AtaStatus.DRDY | AtaStatus.ERR, True),
        (AtaStatus.BSY, True),
        (AtaStatus.DF | AtaStatus.DRDY, True),
        (AtaStatus.DRQ | AtaStatus.DRDY, True),
        (0x50, False),
    ],
)
def test_is_ata_failure(status: int, failed: bool) -> None:
    assert is_ata_failure(status) is failed


@pytest.mark.parametrize(
    "kwargs",
    [
        {"aflags": 256},
        {"err_feature": -1},
        {"sector_count": 256},
        {"cmd_status": 0x100},
        {"lba": LBA48_MAX + 1},
        {"lba": -1},
    ],
)
def test_ata_arg_rejects_out_of_range_fields(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        AtaArg(**kwargs)  # type: ignore[arg-type]
