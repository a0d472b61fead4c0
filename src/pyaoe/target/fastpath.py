"""pyaoe.target.fastpath: the READ/WRITE hot path, answered in the request's own buffer.

answer_in_place(buf, n) decodes into locals and builds the reply where the request was, as
vblade does; anything unusual returns NOT_HANDLED and goes to TargetEngine.handle_frame.
"""

from __future__ import annotations

from struct import Struct

from pyaoe.protocol import ATA_HLEN, ETH_P_AOE, ETH_ZLEN, LBA28_MAX, SECTOR_SIZE, AtaStatus
from pyaoe.target.engine import TargetEngine
from pyaoe.target.export import Export

__all__ = ["FastPath", "NOT_HANDLED"]

#: answer_in_place() could not answer: give the frame to TargetEngine.handle_frame.
NOT_HANDLED = -1

# The whole 36-byte request in one little-endian unpack: the ATA LBA is little-endian, so the
# big-endian fields (type, shelf) are compared in byte-swapped form instead of converted.
# dst, src, type, ver|flags, error, shelf, slot, command, (tag), aflags, feature, count, ata cmd,
# LBA 0-3, LBA 4-5.
_REQUEST = Struct("<6s6sHBBHBB4xBBBBIH")
# Reply addresses, type, ver|flags, error; then error, sector count, status at 25. The type is
# written back (as the byte-swapped value the little-endian struct needs): a pad byte ("x")
# there would write zeros over it, and a frame of type 0 is no AoE frame at all.
_REPLY_HEAD = Struct("<6s6sHBB")
_REPLY_REGS = Struct("<BBB")
_REPLY_REGS_OFFSET = 25


def _swap16(value: int) -> int:
    return ((value & 0xFF) << 8) | (value >> 8)


_TYPE_LE = _swap16(ETH_P_AOE)
_VERSION_REQUEST = 0x10  # version 1, no flags: only plain requests take the fast path
_VERSION_RESPONSE = 0x18
_OK = int(AtaStatus.DRDY)
_READ28, _READ48, _WRITE28, _WRITE48 = 0x20, 0x24, 0x30, 0x34
_READS = frozenset((_READ28, _READ48))
_ATA_COMMANDS = frozenset((_READ28, _READ48, _WRITE28, _WRITE48))
_EXTENDED = frozenset((_READ48, _WRITE48))
_ZERO_PAD = bytes(ETH_ZLEN - ATA_HLEN)


class FastPath:
    """In-place answers to ATA READ/WRITE for one TargetEngine's unicast exports."""

    __slots__ = ("_engine", "_exports", "_mac")

    def __init__(self, engine: TargetEngine) -> None:
        self._engine = engine
        self._mac = engine.mac
        self._exports: dict[tuple[int, int], Export] = {}
        self.refresh()

    def refresh(self) -> None:
        """Call after adding or removing exports on the engine."""
        self._exports = {(_swap16(e.config.shelf), e.config.slot): e for e in self._engine.exports}

    def answer_in_place(self, buf: memoryview, n: int) -> int:
        """Answer the request in ``buf[:n]`` by overwriting it with the reply.

        Returns the reply's length, or NOT_HANDLED when the frame is anything but a well-formed,
        in-range unicast READ/WRITE from an allowed initiator; the request's header and any write
        data are then intact for handle_frame. ``buf`` must hold the largest reply the MTU allows.
        """
        if n < ATA_HLEN:
            return NOT_HANDLED
        (dst, src, ethertype, verflags, _e, shelf, slot, command, _af, _ft, count, ata, lba, lba_hi) = (
            _REQUEST.unpack_from(buf, 0)
        )
        if (
            ethertype != _TYPE_LE
            or verflags != _VERSION_REQUEST
            or command
            or dst != self._mac
            or ata not in _ATA_COMMANDS
        ):
            return NOT_HANDLED
        export = self._exports.get((shelf, slot))
        if export is None or not count or count > self._engine.max_sectors:
            return NOT_HANDLED
        state = export.state
        if state.mask_list or state.reserve_list:
            return NOT_HANDLED
        if ata in _EXTENDED:
            lba |= lba_hi << 32
        else:
            lba &= LBA28_MAX
        if lba + count > export.sectors:
            return NOT_HANDLED
        length: int = count * SECTOR_SIZE
        offset = lba * SECTOR_SIZE
        backend = export.backend
        counters = export.counters
        if ata in _READS:
            read_view = getattr(backend, "read_view", None)
            try:
                if read_view is not None:
                    buf[ATA_HLEN : ATA_HLEN + length] = read_view[offset : offset + length]
                elif backend.read_into(buf[ATA_HLEN : ATA_HLEN + length], offset) != length:
                    return NOT_HANDLED
            except OSError:
                return NOT_HANDLED  # the engine repeats it and turns the error into ATA status
            counters.reads += 1
            counters.sectors_read += count
            reply = ATA_HLEN + length
        else:
            if n < ATA_HLEN + length or backend.readonly:
                return NOT_HANDLED
            try:
                if backend.write(buf[ATA_HLEN : ATA_HLEN + length], offset) != length:
                    return NOT_HANDLED
            except OSError:
                return NOT_HANDLED
            counters.writes += 1
            counters.sectors_written += count
            buf[ATA_HLEN:ETH_ZLEN] = _ZERO_PAD
            reply = ETH_ZLEN
        counters.requests += 1
        _REPLY_HEAD.pack_into(buf, 0, src, self._mac, _TYPE_LE, _VERSION_RESPONSE, 0)
        _REPLY_REGS.pack_into(buf, _REPLY_REGS_OFFSET, 0, 0, _OK)
        return reply
