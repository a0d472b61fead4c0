"""pyaoe.target.ata: the ATA device a target simulates, run against an export's backend.

execute_ata() turns one ATA argument into the response registers and data (vblade's ata.c).
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass

from pyaoe.protocol import (
    READ_COMMANDS,
    SECTOR_SIZE,
    WRITE_COMMANDS,
    AoeError,
    AtaArg,
    AtaCommand,
    AtaErrorBit,
    AtaStatus,
    command_lba,
)
from pyaoe.target.export import Export

__all__ = ["AtaResult", "execute_ata", "OK", "ABORT", "OUT_OF_RANGE"]

log = logging.getLogger(__name__)

OK = int(AtaStatus.DRDY)
_FAIL = int(AtaStatus.DRDY | AtaStatus.ERR)
ABORT = int(AtaErrorBit.ABRT)
OUT_OF_RANGE = int(AtaErrorBit.IDNF)
_UNCORRECTABLE = int(AtaErrorBit.UNC)
#: CHECK POWER MODE's answer in the sector count register: active or idle.
_POWER_ACTIVE = 0xFF


@dataclass(frozen=True, slots=True)
class AtaResult:
    """What an ATA command did: either an AoE error, or the response registers and data."""

    #: An AoeError to answer with instead of registers (the request was malformed).
    aoe_error: int = 0
    status: int = OK
    error: int = 0
    #: Sector count register of the response (sectors remaining).
    sector_count: int = 0
    data: bytes = b""


_BAD_ARGUMENT = AtaResult(aoe_error=AoeError.BAD_ARGUMENT)


def _failed(error: int, sector_count: int = 0) -> AtaResult:
    return AtaResult(status=_FAIL, error=error, sector_count=sector_count)


def _io_error(export: Export, what: str, exc: OSError, reading: bool) -> AtaResult:
    """Storage trouble is an ATA error, never a crash: UNC for unreadable data, else ABRT."""
    export.counters.io_errors += 1
    log.warning("%s: %s failed: %s", export.config.name, what, exc)
    return _failed(_UNCORRECTABLE if reading and exc.errno == errno.EIO else ABORT)


def execute_ata(export: Export, arg: AtaArg, max_sectors: int, broadcast: bool) -> AtaResult:
    """Run one ATA command on ``export``.

    ``max_sectors`` is what one frame carries at the interface's MTU; ``broadcast`` says the
    request was addressed to every shelf or slot (data is never written through a broadcast).
    """
    command = arg.cmd_status
    counters = export.counters
    if command in READ_COMMANDS or command in WRITE_COMMANDS:
        count = arg.sector_count
        writing = command in WRITE_COMMANDS
        if count > max_sectors:
            return _BAD_ARGUMENT
        if writing and (broadcast or len(arg.data) < count * SECTOR_SIZE):
            return _BAD_ARGUMENT
        lba = command_lba(command, arg.lba)
        if lba + count > export.sectors:
            counters.ata_errors += 1
            return _failed(OUT_OF_RANGE, count)
        offset = lba * SECTOR_SIZE
        length = count * SECTOR_SIZE
        if writing:
            if export.readonly:
                counters.ata_errors += 1
                return _failed(ABORT, count)
            try:
                done = export.backend.write(memoryview(arg.data)[:length], offset)
            except OSError as exc:
                return _io_error(export, f"write of {count} sectors at {lba}", exc, reading=False)
            counters.writes += 1
            counters.sectors_written += done // SECTOR_SIZE
            if done != length:
                return _failed(ABORT, count - done // SECTOR_SIZE)
            return AtaResult()
        buf = bytearray(length)
        try:
            done = export.backend.read_into(memoryview(buf), offset)
        except OSError as exc:
            return _io_error(export, f"read of {count} sectors at {lba}", exc, reading=True)
        counters.reads += 1
        counters.sectors_read += done // SECTOR_SIZE
        if done != length:
            whole = done // SECTOR_SIZE
            return AtaResult(
                status=_FAIL, error=ABORT, sector_count=count - whole, data=bytes(buf[: whole * SECTOR_SIZE])
            )
        return AtaResult(data=bytes(buf))
    if command == AtaCommand.IDENTIFY_DEVICE:
        if arg.sector_count != 1:
            return _BAD_ARGUMENT
        return AtaResult(data=export.identify_page)
    if command == AtaCommand.CHECK_POWER_MODE:
        return AtaResult(sector_count=_POWER_ACTIVE)
    if command in (AtaCommand.FLUSH_CACHE, AtaCommand.FLUSH_CACHE_EXT):
        # vblade answers FLUSH CACHE without flushing; here the answer means the data is stable.
        if not export.readonly:
            try:
                export.backend.flush()
            except OSError as exc:
                return _io_error(export, "flush", exc, reading=False)
        counters.flushes += 1
        return AtaResult()
    counters.ata_errors += 1
    return _failed(ABORT, arg.sector_count)
