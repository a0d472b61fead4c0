"""pyaoe.protocol.ata: the Issue ATA Command argument (AoEr11 §3.1) and ATA register meanings.

AFlags, ATA command codes, status and error register bits, LBA28/LBA48 register packing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

from pyaoe.errors import FrameError
from pyaoe.protocol.constants import ATA_HLEN
from pyaoe.protocol.layout import AFLAGS_OFFSET, ATA_ARG

__all__ = [
    "AtaFlag",
    "AtaCommand",
    "AtaStatus",
    "AtaErrorBit",
    "ATA_FAILURE_MASK",
    "EXTENDED_COMMANDS",
    "READ_COMMANDS",
    "WRITE_COMMANDS",
    "LBA28_MAX",
    "LBA48_MAX",
    "AtaArg",
    "decode_ata",
    "encode_ata_into",
    "command_lba",
    "lba_register",
    "is_ata_failure",
]


class AtaFlag(IntFlag):
    """AFlags byte of the ATA argument (Linux AOEAFL_*, vblade Write/Async/Device/Extend)."""

    #: W: data follows the argument (a write).
    WRITE = 0x01
    #: A: asynchronous write (the target may answer before the data is stored).
    ASYNC = 0x02
    #: D: the device/head register bit.
    DEVICE = 0x10
    #: E: LBA48 extended command.
    EXTENDED = 0x40


class AtaCommand(IntEnum):
    """ATA command codes seen in the AoE world (ACS-3 names)."""

    READ_SECTORS = 0x20
    READ_SECTORS_EXT = 0x24
    WRITE_SECTORS = 0x30
    WRITE_SECTORS_EXT = 0x34
    SMART = 0xB0
    CHECK_POWER_MODE = 0xE5
    FLUSH_CACHE = 0xE7
    IDENTIFY_DEVICE = 0xEC
    FLUSH_CACHE_EXT = 0xEA
    SET_FEATURES = 0xEF


class AtaStatus(IntFlag):
    """ATA Status register bits."""

    ERR = 0x01
    DRQ = 0x08
    DF = 0x20
    DRDY = 0x40
    BSY = 0x80


class AtaErrorBit(IntFlag):
    """ATA Error register bits."""

    #: Command aborted (unsupported command, or a short read/write).
    ABRT = 0x04
    #: ID not found: the LBA range is outside the device.
    IDNF = 0x10
    #: Uncorrectable data error (an I/O error in the backing store).
    UNC = 0x40


#: Status bits an initiator treats as failure (Linux aoecmd.c ktiocomplete: BSY|DF|DRQ|ERR).
ATA_FAILURE_MASK = AtaStatus.BSY | AtaStatus.DF | AtaStatus.DRQ | AtaStatus.ERR
EXTENDED_COMMANDS = frozenset({AtaCommand.READ_SECTORS_EXT, AtaCommand.WRITE_SECTORS_EXT})
READ_COMMANDS = frozenset({AtaCommand.READ_SECTORS, AtaCommand.READ_SECTORS_EXT})
WRITE_COMMANDS = frozenset({AtaCommand.WRITE_SECTORS, AtaCommand.WRITE_SECTORS_EXT})
LBA28_MAX = 0x0FFFFFFF
LBA48_MAX = 0xFFFFFFFFFFFF
#: The device register value Linux puts in LBA3's high nibble for LBA28 commands.
_LBA28_DEVICE_BITS = 0xE0


@dataclass(frozen=True, slots=True)
class AtaArg:
    """The 12-byte ATA argument and the sector data after it."""

    #: AtaFlag bits.
    aflags: int = 0
    #: Feature register in a request, Error register in a response.
    err_feature: int = 0
    #: Sectors to transfer in a request; sectors remaining in a response.
    sector_count: int = 0
    #: ATA command in a request, Status register in a response.
    cmd_status: int = 0
    #: The six LBA register bytes as one little-endian 48-bit number, exactly as on the wire
    #: (for LBA28 commands LBA3's high nibble holds device bits: see command_lba()).
    lba: int = 0
    #: Sector data: a write's data, or a read response's data.
    data: bytes = b""

    def __post_init__(self) -> None:
        for name in ("aflags", "err_feature", "sector_count", "cmd_status"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} {getattr(self, name)} does not fit in a byte")
        if not 0 <= self.lba <= LBA48_MAX:
            raise ValueError(f"lba {self.lba} does not fit in 48 bits")

    @property
    def is_write(self) -> bool:
        return bool(self.aflags & AtaFlag.WRITE)


def decode_ata(buf: bytes | bytearray | memoryview) -> AtaArg:
    """Decode the ATA argument of a whole frame (Ethernet header included).

    The data is every byte after the argument; a request's caller decides how much of it
    counts (padding may follow a short frame). Raises FrameError (drop) when the frame is
    shorter than 36 bytes, as vblade ignores it.
    """
    if len(buf) < ATA_HLEN:
        raise FrameError(f"ATA frame of {len(buf)} bytes is shorter than {ATA_HLEN}")
    aflags, err, scnt, cmd, lba_lo, lba_hi, _reserved = ATA_ARG.unpack_from(buf, AFLAGS_OFFSET)
    return AtaArg(
        aflags=aflags,
        err_feature=err,
        sector_count=scnt,
        cmd_status=cmd,
        lba=lba_lo | (lba_hi << 32),
        data=bytes(buf[ATA_HLEN:]),
    )


def encode_ata_into(buf: bytearray | memoryview, arg: AtaArg) -> int:
    """Write the argument and data after the 24-byte header; return the frame length."""
    ATA_ARG.pack_into(
        buf,
        AFLAGS_OFFSET,
        arg.aflags,
        arg.err_feature,
        arg.sector_count,
        arg.cmd_status,
        arg.lba & 0xFFFFFFFF,
        arg.lba >> 32,
        0,
    )
    end = ATA_HLEN + len(arg.data)
    buf[ATA_HLEN:end] = arg.data
    return end


def command_lba(command: int, lba_registers: int) -> int:
    """The LBA a READ/WRITE command addresses: 48 bits for the EXT forms, else 28 bits.

    As vblade and the ATA standard do, the command code decides the width, not the E flag.
    """
    if command in EXTENDED_COMMANDS:
        return lba_registers & LBA48_MAX
    return lba_registers & LBA28_MAX


def lba_register(lba: int, extended: bool) -> int:
    """The six LBA register bytes (as one number) an initiator sends for ``lba``."""
    if extended:
        if not 0 <= lba <= LBA48_MAX:
            raise ValueError(f"LBA {lba} does not fit in 48 bits")
        return lba
    if not 0 <= lba <= LBA28_MAX:
        raise ValueError(f"LBA {lba} does not fit in 28 bits")
    return lba | (_LBA28_DEVICE_BITS << 24)


def is_ata_failure(status: int) -> bool:
    """True when an ATA Status register reports failure."""
    return bool(status & ATA_FAILURE_MASK)
