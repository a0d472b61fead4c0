"""pyaoe.target.fastpath: the READ/WRITE hot path, answered in the request's own buffer.

answer_batch(buffers, lengths) decodes each request into locals and builds its reply where the
request was, as vblade does; contiguous frames of one export share one preadv/pwritev (request
merging, as ggaoed does). Anything unusual is NOT_HANDLED and goes to TargetEngine.handle_frame.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyaoe.protocol import (
    ATA_HLEN,
    LBA28_MAX,
    REQUEST_VERFLAGS,
    RESPONSE_VERFLAGS,
    SECTOR_SIZE,
    AtaCommand,
    AtaStatus,
)
from pyaoe.protocol.layout import (
    ATA_REGISTERS,
    ATA_REPLY_HEAD_LE,
    ATA_REPLY_PAD,
    ATA_REQUEST_LE,
    ERR_FEATURE_OFFSET,
    TYPE_AOE_LE,
    padded_length,
    swap16,
)
from pyaoe.target.backend import Vectored, vectored
from pyaoe.target.engine import TargetEngine
from pyaoe.target.export import Export

__all__ = ["FastPath", "NOT_HANDLED"]

#: answer_batch() could not answer a frame: give it to TargetEngine.handle_frame.
NOT_HANDLED = -1

#: Only plain requests (version 1, no flags) take the fast path.
_VERSION_REQUEST = REQUEST_VERFLAGS
_VERSION_RESPONSE = int(RESPONSE_VERFLAGS)
_OK = int(AtaStatus.DRDY)
_READ28, _READ48 = int(AtaCommand.READ_SECTORS), int(AtaCommand.READ_SECTORS_EXT)
_WRITE28, _WRITE48 = int(AtaCommand.WRITE_SECTORS), int(AtaCommand.WRITE_SECTORS_EXT)
_READS = frozenset((_READ28, _READ48))
_ATA_COMMANDS = frozenset((_READ28, _READ48, _WRITE28, _WRITE48))
_EXTENDED = frozenset((_READ48, _WRITE48))
#: A write's reply: the header alone, padded.
_WRITE_REPLY_LENGTH = padded_length(ATA_HLEN)
#: Most buffers one vectored call takes (IOV_MAX).
_MAX_RUN = 1024


class _Run:
    """Frames waiting for one vectored read or write: contiguous, one export, one direction."""

    __slots__ = ("end", "export", "indexes", "io", "sources", "start", "views", "writing")

    def __init__(self) -> None:
        self.export: Export | None = None
        self.writing = False
        self.io: Vectored | None = None
        self.start = 0
        self.end = 0
        #: Per frame: its index in the batch, the requester's MAC, the view of its data area.
        self.indexes: list[int] = []
        self.sources: list[bytes] = []
        self.views: list[memoryview] = []

    def begin(self, export: Export, writing: bool, io: Vectored, offset: int) -> None:
        self.export = export
        self.writing = writing
        self.io = io
        self.start = self.end = offset


class FastPath:
    """In-place answers to ATA READ/WRITE for one TargetEngine's unicast exports."""

    __slots__ = ("_engine", "_exports", "_mac")

    def __init__(self, engine: TargetEngine) -> None:
        self._engine = engine
        self._mac = engine.mac
        self._exports: dict[tuple[int, int], tuple[Export, Vectored, Vectored]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Call after adding or removing exports on the engine."""
        # Keyed as the request's bytes unpack (shelf byte-swapped), with the export's
        # vectored read and write.
        self._exports = {
            (swap16(e.config.shelf), e.config.slot): (
                e,
                vectored(e.backend, False),
                vectored(e.backend, True),
            )
            for e in self._engine.exports
        }

    def answer_batch(self, buffers: Sequence[memoryview], lengths: Sequence[int]) -> list[int]:
        """Answer the request in each of ``buffers`` (the first len(lengths) bytes of it), in order,
        by overwriting it with the reply; the reply lengths, or NOT_HANDLED for a frame that is
        anything but a well-formed, in-range unicast READ/WRITE from an allowed initiator (its
        header and write data are then intact for handle_frame: a masked-out source, a host
        other than a reserve's holders, a write to a read-only export among them). Each buffer
        must hold the largest reply the MTU allows.

        Frames are executed in order: a run of contiguous frames in one direction waits for
        one vectored call, made before any frame that does not extend the run. The per-frame
        work stays in this one loop with what it needs in locals: it is where a target spends
        its Python time.
        """
        replies = [NOT_HANDLED] * len(lengths)
        unpack = ATA_REQUEST_LE.unpack_from
        exports = self._exports
        mac = self._mac
        max_sectors = self._engine.max_sectors
        run = _Run()
        indexes = run.indexes
        sources = run.sources
        views = run.views
        for i, (buf, n) in enumerate(zip(buffers, lengths, strict=False)):
            if n < ATA_HLEN:
                continue
            (dst, src, ethertype, verflags, _e, shelf, slot, command, _af, _ft, count, ata, lba, lba_hi) = (
                unpack(buf, 0)
            )
            entry = exports.get((shelf, slot))
            if (
                entry is None
                or ethertype != TYPE_AOE_LE
                or verflags != _VERSION_REQUEST
                or command
                or dst != mac
                or not 0 < count <= max_sectors
                or ata not in _ATA_COMMANDS
            ):
                continue
            export, readv, writev = entry
            # Access control as the engine does it, per source: a masked-out source (dropped)
            # and a reserved export's other hosts (AoE error 6) go to the engine, which counts
            # and answers them; an allowed host's frames stay here.
            state = export.state
            masks = state.mask_list
            if masks and src not in masks:
                continue
            holders = state.reserve_list
            if holders and src not in holders:
                continue
            if ata in _EXTENDED:
                lba |= lba_hi << 32
            else:
                lba &= LBA28_MAX
            if lba + count > export.sectors:
                continue
            length = count * SECTOR_SIZE
            offset = lba * SECTOR_SIZE
            writing = ata not in _READS
            if writing and (n < ATA_HLEN + length or export.backend.readonly):
                continue
            if indexes and (
                offset != run.end
                or export is not run.export
                or writing != run.writing
                or len(indexes) >= _MAX_RUN
            ):
                self._finish(run, buffers, replies)
            if not indexes:
                run.begin(export, writing, writev if writing else readv, offset)
            indexes.append(i)
            sources.append(src)
            views.append(buf[ATA_HLEN : ATA_HLEN + length])
            run.end = offset + length
        if indexes:
            self._finish(run, buffers, replies)
        return replies

    def _finish(self, run: _Run, buffers: Sequence[memoryview], replies: list[int]) -> None:
        """Do the run's I/O in one call; answer every frame it covered in full, leave the rest
        NOT_HANDLED (the engine repeats their I/O and reports the error), and empty the run."""
        views = run.views
        try:
            done = run.io(views, run.start) if run.io is not None else 0
        except OSError:
            done = 0
        pack_head = ATA_REPLY_HEAD_LE.pack_into
        pack_regs = ATA_REGISTERS.pack_into
        mac = self._mac
        writing = run.writing
        answered = 0
        sectors = 0
        for i, src, view in zip(run.indexes, run.sources, views, strict=True):
            length = len(view)
            if done < length:
                break
            done -= length
            buf = buffers[i]
            if writing:
                buf[ATA_HLEN:_WRITE_REPLY_LENGTH] = ATA_REPLY_PAD
                replies[i] = _WRITE_REPLY_LENGTH
            else:
                replies[i] = ATA_HLEN + length
            pack_head(buf, 0, src, mac, TYPE_AOE_LE, _VERSION_RESPONSE, 0)
            pack_regs(buf, ERR_FEATURE_OFFSET, 0, 0, _OK)
            answered += 1
            sectors += length
        if answered and run.export is not None:
            counters = run.export.counters
            if writing:
                counters.writes += answered
                counters.sectors_written += sectors // SECTOR_SIZE
            else:
                counters.reads += answered
                counters.sectors_read += sectors // SECTOR_SIZE
        run.indexes.clear()
        run.sources.clear()
        views.clear()
