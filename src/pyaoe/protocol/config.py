"""pyaoe.protocol.config: the Query Config Information argument (AoEr11 §3.2).

Config commands, the ConfigArg message, config string matching rules and sectors_per_frame().
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pyaoe.errors import FrameError
from pyaoe.protocol.constants import (
    AOE_HLEN,
    AOE_VERSION,
    ATA_HLEN,
    CONFIG_HLEN,
    MAX_CONFIG_STRING,
    MAX_SECTOR_COUNT,
    SECTOR_SIZE,
)
from pyaoe.protocol.header import AoeError
from pyaoe.protocol.layout import CONFIG_ARG

__all__ = [
    "ConfigCommand",
    "ConfigArg",
    "decode_config",
    "encode_config_into",
    "config_matches",
    "sectors_per_frame",
    "effective_sector_count",
]


class ConfigCommand(IntEnum):
    """CCmd, the low nibble of byte 5 of the argument."""

    #: Read the config string.
    READ = 0
    #: Answer only if the argument equals the config string exactly.
    TEST = 1
    #: Answer only if the argument is a prefix of the config string.
    TEST_PREFIX = 2
    #: Set the string if it is empty (else error CONFIG_STRING_PRESENT).
    SET = 3
    #: Set the string unconditionally.
    FORCE_SET = 4


@dataclass(frozen=True, slots=True)
class ConfigArg:
    """The 8-byte Query Config argument and the config string after it."""

    #: Frames the target can queue (vblade -b; Linux bufcnt).
    buffer_count: int = 0
    #: Target firmware version (vblade 0x4019).
    firmware_version: int = 0
    #: Most sectors per ATA command; 0 means 2 (effective_sector_count).
    sector_count: int = 0
    #: AoE version the target speaks (high nibble of byte 5).
    aoe_version: int = AOE_VERSION
    #: A ConfigCommand value (low nibble of byte 5).
    ccmd: int = ConfigCommand.READ
    #: Up to 1024 bytes.
    config_string: bytes = b""

    def __post_init__(self) -> None:
        if not (0 <= self.buffer_count <= 0xFFFF and 0 <= self.firmware_version <= 0xFFFF):
            raise ValueError("buffer count or firmware version out of range")
        if not (0 <= self.sector_count <= 0xFF and 0 <= self.aoe_version <= 0xF and 0 <= self.ccmd <= 0xF):
            raise ValueError("sector count, version or ccmd out of range")
        if len(self.config_string) > MAX_CONFIG_STRING:
            raise ValueError(f"config string of {len(self.config_string)} bytes is over {MAX_CONFIG_STRING}")


def decode_config(buf: bytes | bytearray | memoryview) -> ConfigArg:
    """Decode the Query Config argument of a whole frame.

    Raises FrameError: drop when the frame is shorter than 32 bytes (as vblade does);
    BAD_ARGUMENT when the string length is over 1024 or runs past the end of the frame.
    """
    if len(buf) < CONFIG_HLEN:
        raise FrameError(f"config frame of {len(buf)} bytes is shorter than {CONFIG_HLEN}")
    bufcnt, fwver, scnt, vercmd, length = CONFIG_ARG.unpack_from(buf, AOE_HLEN)
    if length > MAX_CONFIG_STRING:
        raise FrameError(f"config string length {length} is over {MAX_CONFIG_STRING}", AoeError.BAD_ARGUMENT)
    if CONFIG_HLEN + length > len(buf):
        raise FrameError(
            f"config string length {length} runs past the end of a {len(buf)}-byte frame",
            AoeError.BAD_ARGUMENT,
        )
    return ConfigArg(
        buffer_count=bufcnt,
        firmware_version=fwver,
        sector_count=scnt,
        aoe_version=vercmd >> 4,
        ccmd=vercmd & 0x0F,
        config_string=bytes(buf[CONFIG_HLEN : CONFIG_HLEN + length]),
    )


def encode_config_into(buf: bytearray | memoryview, arg: ConfigArg) -> int:
    """Write the argument and string after the 24-byte header; return the frame length."""
    CONFIG_ARG.pack_into(
        buf,
        AOE_HLEN,
        arg.buffer_count,
        arg.firmware_version,
        arg.sector_count,
        (arg.aoe_version << 4) | arg.ccmd,
        len(arg.config_string),
    )
    end = CONFIG_HLEN + len(arg.config_string)
    buf[CONFIG_HLEN:end] = arg.config_string
    return end


def config_matches(ccmd: int, argument: bytes, current: bytes) -> bool:
    """Whether a target answers a TEST or TEST_PREFIX query (other commands always answer)."""
    if ccmd == ConfigCommand.TEST:
        return argument == current
    if ccmd == ConfigCommand.TEST_PREFIX:
        return current.startswith(argument)
    return True


def sectors_per_frame(mtu: int) -> int:
    """Sectors one frame carries at this MTU, as vblade and Linux compute it: (MTU - 36) / 512.

    1500 gives 2, 9000 gives 17. The 36 counts the Ethernet header the MTU leaves out, which
    is conservative; capped at 255, the width of the field.
    """
    return max(0, min((mtu - ATA_HLEN) // SECTOR_SIZE, MAX_SECTOR_COUNT))


def effective_sector_count(advertised: int) -> int:
    """A Query Config sector count as an initiator must read it: 0 means 2 (AoEr11 §3.2)."""
    return advertised or 2
