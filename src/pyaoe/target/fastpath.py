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
    Command,
)
from pyaoe.protocol.layout import (
    ATA_REGISTERS,
    ATA_REPLY_PAD,
    ATA_REPLY_WORDS,
    ATA_REQUEST_WORDS,
    ERR_FEATURE_OFFSET,
    address_word,
    aoe_word,
    padded_length,
)
from pyaoe.target.backend import IoRun, Submit, submitter, vectored
from pyaoe.target.engine import TargetEngine
from pyaoe.target.export import Export

__all__ = ["FastPath", "NOT_HANDLED"]

#: answer_batch() could not answer a frame: give it to TargetEngine.handle_frame.
NOT_HANDLED = -1

#: Only plain requests (version 1, no flags, no error) take the fast path: EtherType, ver|flags
#: and error as one word; the reply's the same with R set.
_REQUEST_WORD = aoe_word(REQUEST_VERFLAGS)
_REPLY_WORD = aoe_word(int(RESPONSE_VERFLAGS))
_OK = int(AtaStatus.DRDY)
_READ28, _READ48 = int(AtaCommand.READ_SECTORS), int(AtaCommand.READ_SECTORS_EXT)
_WRITE28, _WRITE48 = int(AtaCommand.WRITE_SECTORS), int(AtaCommand.WRITE_SECTORS_EXT)
#: A write's reply: the header alone, padded.
_WRITE_REPLY_LENGTH = padded_length(ATA_HLEN)
#: Most buffers one vectored call takes (IOV_MAX).
_MAX_RUN = 1024


class _Export:
    """What the per-frame loop needs of one export, in slots: fewer lookups a frame."""

    __slots__ = ("export", "readonly", "readv", "sectors", "state", "submit", "writev")

    def __init__(self, export: Export) -> None:
        self.export = export
        self.readv = vectored(export.backend, False)
        self.writev = vectored(export.backend, True)
        self.submit: Submit | None = submitter(export.backend)
        self.sectors = export.sectors
        self.readonly = export.backend.readonly
        self.state = export.state


class _Run:
    """A closed run waiting, with others of the same export, for the backend's submit()."""

    __slots__ = ("end", "indexes", "sources", "start", "views", "writing")

    def __init__(
        self,
        writing: bool,
        start: int,
        end: int,
        indexes: list[int],
        sources: list[bytes],
        views: list[memoryview],
    ) -> None:
        self.writing = writing
        self.start = start
        self.end = end
        self.indexes = indexes
        self.sources = sources
        self.views = views

    def conflicts(self, other: _Run) -> bool:
        """Whether the two must not be in flight together: they overlap and one writes."""
        return (self.writing or other.writing) and self.start < other.end and other.start < self.end


class FastPath:
    """In-place answers to ATA READ/WRITE for one TargetEngine's unicast exports."""

    __slots__ = ("_engine", "_exports", "_mac")

    def __init__(self, engine: TargetEngine) -> None:
        self._engine = engine
        self._mac = engine.mac
        self._exports: dict[int, _Export] = {}
        self.refresh()

    def refresh(self) -> None:
        """Call after adding or removing exports on the engine."""
        # Keyed as the request's shelf, slot and command (ATA) read as one word.
        self._exports = {
            address_word(e.config.shelf, e.config.slot, Command.ATA): _Export(e) for e in self._engine.exports
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
        unpack = ATA_REQUEST_WORDS.unpack_from
        exports = self._exports
        mac = self._mac
        max_sectors = self._engine.max_sectors
        # The run waiting for its vectored call: its export, direction, byte range, and per
        # frame its index in the batch, the requester's MAC and the view of its data area.
        run: _Export | None = None
        waiting: list[tuple[_Export, _Run]] = []
        writing = False
        start = end = 0
        indexes: list[int] = []
        sources: list[bytes] = []
        views: list[memoryview] = []
        for i, n in enumerate(lengths):
            if n < ATA_HLEN:
                continue
            buf = buffers[i]
            dst, src, head, address, count, ata, lba, lba_hi = unpack(buf, 0)
            entry = exports.get(address)
            if entry is None or head != _REQUEST_WORD or dst != mac or not 0 < count <= max_sectors:
                continue
            # The commands by how often they come (the Linux initiator sends the 48-bit ones).
            if ata == _READ48:
                write, extended = False, True
            elif ata == _WRITE48:
                write, extended = True, True
            elif ata == _READ28:
                write, extended = False, False
            elif ata == _WRITE28:
                write, extended = True, False
            else:
                continue
            # Access control as the engine does it, per source: a masked-out source (dropped)
            # and a reserved export's other hosts (AoE error 6) go to the engine, which counts
            # and answers them; an allowed host's frames stay here.
            state = entry.state
            masks = state.mask_list
            if masks and src not in masks:
                continue
            holders = state.reserve_list
            if holders and src not in holders:
                continue
            if extended:
                lba |= lba_hi << 32
            else:
                lba &= LBA28_MAX
            if lba + count > entry.sectors:
                continue
            length = count * SECTOR_SIZE
            if write and (entry.readonly or n < ATA_HLEN + length):
                continue
            offset = lba * SECTOR_SIZE
            if indexes and (
                offset != end or entry is not run or write != writing or len(indexes) >= _MAX_RUN
            ):
                if run is not None and run.submit is not None:
                    waiting = self._wait(
                        waiting, run, _Run(writing, start, end, indexes, sources, views), buffers, replies
                    )
                else:
                    self._answer(run, writing, start, None, indexes, sources, views, buffers, replies)
                indexes, sources, views = [], [], []
            if not indexes:
                run, writing, start = entry, write, offset
            indexes.append(i)
            sources.append(src)
            views.append(buf[ATA_HLEN : ATA_HLEN + length])
            end = offset + length
        if indexes:
            if run is not None and run.submit is not None:
                waiting = self._wait(
                    waiting, run, _Run(writing, start, end, indexes, sources, views), buffers, replies
                )
            else:
                self._answer(run, writing, start, None, indexes, sources, views, buffers, replies)
        if waiting:
            self._submit(waiting, buffers, replies)
        return replies

    def _wait(
        self,
        waiting: list[tuple[_Export, _Run]],
        entry: _Export,
        run: _Run,
        buffers: Sequence[memoryview],
        replies: list[int],
    ) -> list[tuple[_Export, _Run]]:
        """Queue a closed run for its export's submit(); the runs queued before it go first when
        it is another export's or must not be in flight with one of them (order is kept)."""
        if waiting and (waiting[0][0] is not entry or any(run.conflicts(r) for _e, r in waiting)):
            self._submit(waiting, buffers, replies)
            waiting = []
        waiting.append((entry, run))
        return waiting

    def _submit(
        self, waiting: list[tuple[_Export, _Run]], buffers: Sequence[memoryview], replies: list[int]
    ) -> None:
        """Hand the queued runs (all of one export) to its backend at once, then answer them."""
        entry = waiting[0][0]
        submit = entry.submit
        if submit is None:  # only runs of an export with submit() are queued
            raise RuntimeError("queued runs of an export without submit()")
        runs: list[IoRun] = [(r.writing, r.start, r.views) for _e, r in waiting]
        try:
            done = submit(runs)
        except OSError:
            done = [0] * len(runs)
        for (_e, r), n in zip(waiting, done, strict=True):
            self._answer(entry, r.writing, r.start, n, r.indexes, r.sources, r.views, buffers, replies)

    def _answer(
        self,
        run: _Export | None,
        writing: bool,
        start: int,
        done: int | None,
        indexes: list[int],
        sources: list[bytes],
        views: list[memoryview],
        buffers: Sequence[memoryview],
        replies: list[int],
    ) -> None:
        """Answer a run: every frame its I/O covered in full gets its reply; the rest stay
        NOT_HANDLED (the engine repeats their I/O and reports the error). ``done`` is the bytes
        a submit() did; None: do the run's I/O here, in one call."""
        if run is None:
            return
        if done is None:
            try:
                done = (run.writev if writing else run.readv)(views, start)
            except OSError:
                done = 0
        pack_head = ATA_REPLY_WORDS.pack_into
        pack_regs = ATA_REGISTERS.pack_into
        mac = self._mac
        answered = 0
        moved = 0
        for i, src, view in zip(indexes, sources, views, strict=True):
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
            pack_head(buf, 0, src, mac, _REPLY_WORD)
            pack_regs(buf, ERR_FEATURE_OFFSET, 0, 0, _OK)
            answered += 1
            moved += length
        if answered:
            counters = run.export.counters
            if writing:
                counters.writes += answered
                counters.sectors_written += moved // SECTOR_SIZE
            else:
                counters.reads += answered
                counters.sectors_read += moved // SECTOR_SIZE
