"""Tests of pyaoe.protocol.config: the Query Config argument, string rules and frame sizing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from pyaoe.errors import FrameError
from pyaoe.protocol import (
    CONFIG_HLEN,
    ETH_ZLEN,
    MAX_CONFIG_STRING,
    AoeError,
    Command,
    ConfigArg,
    ConfigCommand,
    Frame,
    Header,
    config_matches,
    decode_frame,
    effective_sector_count,
    encode_frame,
    sectors_per_frame,
)

from .strategies import config_frames

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
HEADER = Header(dst=MAC_A, src=MAC_B, shelf=1, slot=2, command=Command.QUERY_CONFIG, tag=7)


def config_frame(arg: ConfigArg) -> bytes:
    return encode_frame(Frame(header=HEADER, arg=arg))


def with_length_field(raw: bytes, length: int) -> bytes:
    return raw[:30] + length.to_bytes(2, "big") + raw[32:]


@settings(max_examples=200)
@given(config_frames)
def test_config_round_trip(frame: Frame) -> None:
    assert isinstance(frame.arg, ConfigArg)
    raw = encode_frame(frame)
    # A short string is padded after it; the length field keeps the padding out of the string.
    assert len(raw) == max(ETH_ZLEN, CONFIG_HLEN + len(frame.arg.config_string))
    assert decode_frame(raw) == frame


@pytest.mark.parametrize("ccmd", list(ConfigCommand))
def test_every_ccmd_round_trips(ccmd: ConfigCommand) -> None:
    arg = ConfigArg(buffer_count=16, firmware_version=0x4019, sector_count=2, ccmd=ccmd, config_string=b"abc")
    raw = config_frame(arg)
    assert raw[29] == 0x10 | ccmd
    assert decode_frame(raw).arg == arg


def test_config_wire_layout() -> None:
    arg = ConfigArg(
        buffer_count=0x0102,
        firmware_version=0x4019,
        sector_count=17,
        aoe_version=1,
        ccmd=ConfigCommand.TEST_PREFIX,
        config_string=b"host=a",
    )
    raw = config_frame(arg)
    assert raw[24:38] == bytes.fromhex("0102401911120006") + b"host=a"
    assert raw[38:] == bytes(ETH_ZLEN - 38)


def test_config_string_of_1024_bytes_is_accepted() -> None:
    arg = ConfigArg(ccmd=ConfigCommand.FORCE_SET, config_string=b"x" * MAX_CONFIG_STRING)
    raw = config_frame(arg)
    assert len(raw) == CONFIG_HLEN + 1024
    assert decode_frame(raw).arg == arg


def test_config_string_length_1025_is_bad_argument() -> None:
    # A frame long enough to hold the string, so only the 1024 limit is broken.
    raw = with_length_field(config_frame(ConfigArg(config_string=b"x" * 1024)) + b"x", 1025)
    with pytest.raises(FrameError) as info:
        decode_frame(raw)
    assert info.value.reply_error == AoeError.BAD_ARGUMENT
    assert "1025" in str(info.value)


def test_config_arg_refuses_a_1025_byte_string() -> None:
    with pytest.raises(ValueError):
        ConfigArg(config_string=b"x" * (MAX_CONFIG_STRING + 1))


@pytest.mark.parametrize("overrun", [1, 2, 100])
def test_config_string_past_the_frame_end_is_bad_argument(overrun: int) -> None:
    raw = config_frame(ConfigArg(config_string=b"y" * 40))
    raw = with_length_field(raw, 40 + overrun)
    with pytest.raises(FrameError) as info:
        decode_frame(raw)
    assert info.value.reply_error == AoeError.BAD_ARGUMENT


def test_config_string_length_may_reach_into_padding() -> None:
    # Padding bytes are frame bytes: a length that ends inside them is not an overrun.
    raw = with_length_field(config_frame(ConfigArg(config_string=b"")), ETH_ZLEN - CONFIG_HLEN)
    arg = decode_frame(raw).arg
    assert isinstance(arg, ConfigArg)
    assert arg.config_string == bytes(ETH_ZLEN - CONFIG_HLEN)


@pytest.mark.parametrize("length", range(24, CONFIG_HLEN))
def test_config_frame_shorter_than_32_is_dropped(length: int) -> None:
    raw = config_frame(ConfigArg())[:length]
    with pytest.raises(FrameError) as info:
        decode_frame(raw)
    assert info.value.reply_error is None


def test_linux_32_byte_query_decodes() -> None:
    # The kernel's broadcast query is 24 + 8 bytes and relies on the NIC to pad it.
    arg = decode_frame(config_frame(ConfigArg())[:CONFIG_HLEN]).arg
    assert arg == ConfigArg()


@pytest.mark.parametrize(
    ("ccmd", "argument", "current", "answers"),
    [
        (ConfigCommand.READ, b"zzz", b"abc", True),
        (ConfigCommand.TEST, b"abc", b"abc", True),
        (ConfigCommand.TEST, b"ab", b"abc", False),
        (ConfigCommand.TEST, b"abcd", b"abc", False),
        (ConfigCommand.TEST_PREFIX, b"ab", b"abc", True),
        (ConfigCommand.TEST_PREFIX, b"", b"abc", True),
        (ConfigCommand.TEST_PREFIX, b"abcd", b"abc", False),
        (ConfigCommand.TEST_PREFIX, b"b", b"abc", False),
        (ConfigCommand.SET, b"new", b"abc", True),
        (ConfigCommand.FORCE_SET, b"new", b"abc", True),
    ],
)
def test_config_matches(ccmd: int, argument: bytes, current: bytes, answers: bool) -> None:
    assert config_matches(ccmd, argument, current) is answers


@pytest.mark.parametrize(
    ("mtu", "sectors"),
    [
        (1500, 2),
        (9000, 17),
        (4200, 8),
        (547, 0),
        (548, 1),
        (100, 0),
        (0, 0),
        (-5, 0),
        (36 + 255 * 512, 255),
        (1 << 20, 255),
        (1 << 40, 255),
    ],
)
def test_sectors_per_frame(mtu: int, sectors: int) -> None:
    assert sectors_per_frame(mtu) == sectors


@pytest.mark.parametrize(("advertised", "effective"), [(0, 2), (1, 1), (2, 2), (17, 17), (255, 255)])
def test_effective_sector_count(advertised: int, effective: int) -> None:
    assert effective_sector_count(advertised) == effective


@pytest.mark.parametrize(
    "kwargs",
    [
        {"buffer_count": 0x10000},
        {"firmware_version": -1},
        {"sector_count": 256},
        {"aoe_version": 16},
        {"ccmd": 16},
    ],
)
def test_config_arg_rejects_out_of_range_fields(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ConfigArg(**kwargs)  # type: ignore[arg-type]
