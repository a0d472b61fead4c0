"""pyaoe.protocol.identify: the 512-byte ATA IDENTIFY DEVICE page.

build_identify() writes what a target answers (capacity, LBA48, FLUSH CACHE EXT, strings);
parse_identify() reads what an initiator needs from one.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct

from pyaoe.errors import FrameError
from pyaoe.protocol.ata import LBA28_MAX, LBA48_MAX
from pyaoe.protocol.constants import SECTOR_SIZE

__all__ = [
    "IDENTIFY_SIZE",
    "IdentifyInfo",
    "build_identify",
    "parse_identify",
    "ata_string",
    "read_ata_string",
]

IDENTIFY_SIZE = SECTOR_SIZE
_WORDS = Struct("<256H")

# Word numbers (ATA/ATAPI-7 and ACS-3).
_W_SERIAL, _SERIAL_LEN = 10, 20
_W_FIRMWARE, _FIRMWARE_LEN = 23, 8
_W_MODEL, _MODEL_LEN = 27, 40
_W_MAX_MULTIPLE = 47
_W_CAPABILITIES = 49
_W_CAPABILITIES2 = 50
_W_VALID = 53
_W_LBA28 = 60
_W_MAJOR_VERSION = 80
_W_SUPPORTED_82, _W_SUPPORTED_83, _W_SUPPORTED_84 = 82, 83, 84
_W_ENABLED_85, _W_ENABLED_86, _W_ENABLED_87 = 85, 86, 87
_W_HW_RESET = 93
_W_LBA48 = 100

_CAP_LBA = 1 << 9
_VALID_BIT14 = 1 << 14  # words 83/84/87 must have bit 14 set and bit 15 clear
_WRITE_CACHE = 1 << 5  # words 82/85
_LBA48 = 1 << 10  # words 83/86
_FLUSH_CACHE = 1 << 12  # words 83/86
_FLUSH_CACHE_EXT = 1 << 13  # words 83/86
_SMART = 1 << 0  # word 82


def ata_string(text: str, length: int) -> list[int]:
    """ATA text as words: ASCII padded with spaces, the two bytes of each word swapped."""
    raw = text.encode("ascii", "replace")[:length].ljust(length, b" ")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, length, 2)]


def read_ata_string(words: tuple[int, ...] | list[int], first: int, length: int) -> str:
    """The text of ``length`` bytes of ATA string starting at word ``first``, trailing blanks cut."""
    out = bytearray()
    for word in words[first : first + length // 2]:
        out += bytes((word >> 8, word & 0xFF))
    return out.decode("ascii", "replace").rstrip(" \x00")


def build_identify(
    sectors: int,
    *,
    model: str = "pyaoe",
    serial: str = "",
    firmware: str = "",
    write_cache: bool = True,
) -> bytes:
    """The IDENTIFY DEVICE page of an export of ``sectors`` sectors.

    Words 60-61 carry the capacity clamped to LBA28 (as vblade does), 100-103 the LBA48
    capacity; LBA48, FLUSH CACHE and FLUSH CACHE EXT are supported and enabled; the volatile
    write cache is reported enabled when ``write_cache`` (writes may sit in the page cache).
    """
    if not 0 <= sectors <= LBA48_MAX:
        raise ValueError(f"{sectors} sectors do not fit in 48 bits")
    words = [0] * 256
    words[_W_SERIAL : _W_SERIAL + _SERIAL_LEN // 2] = ata_string(serial, _SERIAL_LEN)
    words[_W_FIRMWARE : _W_FIRMWARE + _FIRMWARE_LEN // 2] = ata_string(firmware, _FIRMWARE_LEN)
    words[_W_MODEL : _W_MODEL + _MODEL_LEN // 2] = ata_string(model, _MODEL_LEN)
    words[_W_MAX_MULTIPLE] = 0x8000
    words[_W_CAPABILITIES] = _CAP_LBA
    words[_W_CAPABILITIES2] = 0x4000
    lba28 = min(sectors, LBA28_MAX)
    words[_W_LBA28] = lba28 & 0xFFFF
    words[_W_LBA28 + 1] = lba28 >> 16
    # ATA/ATAPI-4 to -7 (bits 4-7).
    words[_W_MAJOR_VERSION] = 0x00F0
    words[_W_SUPPORTED_82] = _WRITE_CACHE
    words[_W_SUPPORTED_83] = _VALID_BIT14 | _FLUSH_CACHE_EXT | _FLUSH_CACHE | _LBA48
    words[_W_SUPPORTED_84] = _VALID_BIT14
    words[_W_ENABLED_85] = _WRITE_CACHE if write_cache else 0
    words[_W_ENABLED_86] = _FLUSH_CACHE_EXT | _FLUSH_CACHE | _LBA48
    words[_W_ENABLED_87] = _VALID_BIT14
    words[_W_HW_RESET] = 0x400B
    for i in range(4):
        words[_W_LBA48 + i] = (sectors >> (16 * i)) & 0xFFFF
    return _WORDS.pack(*words)


@dataclass(frozen=True, slots=True)
class IdentifyInfo:
    """What an initiator reads from an IDENTIFY DEVICE page."""

    model: str
    serial: str
    firmware: str
    #: Capacity in 512-byte sectors: words 100-103 when LBA48 is supported, else 60-61.
    sectors: int
    lba48: bool
    flush_cache: bool
    flush_cache_ext: bool
    smart: bool
    write_cache: bool
    words: tuple[int, ...]


def parse_identify(page: bytes | bytearray | memoryview) -> IdentifyInfo:
    """Read an IDENTIFY DEVICE page from the first 512 bytes of ``page`` (a read response may
    carry padding after it). Raises FrameError when it is shorter than 512 bytes."""
    if len(page) < IDENTIFY_SIZE:
        raise FrameError(f"IDENTIFY data of {len(page)} bytes is shorter than {IDENTIFY_SIZE}")
    words = _WORDS.unpack_from(page, 0)
    w83 = words[_W_SUPPORTED_83]
    # Linux (aoecmd.c ataid_complete) trusts word 83 bit 10 alone.
    lba48 = bool(w83 & _LBA48)
    if lba48:
        sectors = sum(words[_W_LBA48 + i] << (16 * i) for i in range(4))
    else:
        sectors = words[_W_LBA28] | (words[_W_LBA28 + 1] << 16)
    return IdentifyInfo(
        model=read_ata_string(words, _W_MODEL, _MODEL_LEN),
        serial=read_ata_string(words, _W_SERIAL, _SERIAL_LEN),
        firmware=read_ata_string(words, _W_FIRMWARE, _FIRMWARE_LEN),
        sectors=sectors,
        lba48=lba48,
        flush_cache=bool(w83 & _FLUSH_CACHE),
        flush_cache_ext=bool(w83 & _FLUSH_CACHE_EXT),
        smart=bool(words[_W_SUPPORTED_82] & _SMART),
        write_cache=bool(words[_W_ENABLED_85] & _WRITE_CACHE),
        words=words,
    )
