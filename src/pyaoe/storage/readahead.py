"""pyaoe.storage.readahead: reading ahead of a sequential reader on an NBD connection.

The target's loop waits for each batch's read; with chunks of what comes next already asked for,
the NBD server works while the target answers frames, and the next batch finds its data here.
Any write drops every chunk first (after its reply), so nothing read ahead is older than a write.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyaoe.nbd.client import NbdConnection, Op
from pyaoe.protocol.nbd.wire import Cmd

__all__ = ["ReadAhead", "CHUNK", "DEPTH", "MAX_AGE"]

#: Bytes per chunk asked for, and chunks in flight ahead of the reader.
CHUNK = 64 * 1024
DEPTH = 4
#: Seconds a chunk may wait for its reader; older ones are read again (another client of the
#: NBD export may have written meanwhile).
MAX_AGE = 0.2


@dataclass(slots=True)
class _Chunk:
    start: int
    data: memoryview
    handle: int
    issued: float
    #: The reply's NBD error once waited for (None: not yet).
    error: int | None = None

    @property
    def end(self) -> int:
        return self.start + len(self.data)


class ReadAhead:
    """Chunks [start, end) of one export (offsets as the NBD server counts them) being read."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        #: Where the export ends: nothing is asked for past it.
        self.limit = limit
        self.clock = clock
        self.chunks: deque[_Chunk] = deque()
        #: Where the last read ended: a read starting there is sequential.
        self.last_end = -1
        #: Reads served from chunks (what tests and logs look at).
        self.hits = 0

    def read(self, conn: NbdConnection, buffers: Sequence[memoryview], offset: int, length: int) -> bool:
        """Fill ``buffers`` from the chunks if they hold all of [offset, offset+length) fresh and
        without error; False (nothing filled) otherwise."""
        chunks = self.chunks
        if not chunks or offset < chunks[0].start or offset + length > chunks[-1].end:
            return False
        now = self.clock()
        needed = [c for c in chunks if c.start < offset + length and c.end > offset]
        if any(now - c.issued > MAX_AGE for c in needed):
            return False
        for chunk in needed:
            if chunk.error is None:
                (chunk.error,) = conn.wait([chunk.handle])
            if chunk.error:
                return False
        _scatter(needed, buffers, offset)
        self.hits += 1
        return True

    def advance(self, conn: NbdConnection, offset: int, length: int) -> None:
        """After a read of [offset, offset+length): forget chunks behind it and, when reads are
        sequential, keep DEPTH chunks asked for ahead of it."""
        sequential = offset == self.last_end
        end = self.last_end = offset + length
        if not sequential:
            self.drop(conn)
            return
        chunks = self.chunks
        while chunks and chunks[0].end <= end:
            self._forget(conn, chunks.popleft())
        if chunks and chunks[0].start > end:
            self.drop(conn)
        start = chunks[-1].end if chunks else end
        while len(chunks) < DEPTH and start < self.limit:
            size = min(CHUNK, self.limit - start)
            data = memoryview(bytearray(size))
            handle = conn.send(Op(Cmd.READ, start, (data,)))
            chunks.append(_Chunk(start, data, handle, self.clock()))
            start += size

    def drop(self, conn: NbdConnection) -> None:
        """Forget every chunk, once its reply is in (it must not land in a buffer we reuse, nor
        cross a write)."""
        while self.chunks:
            self._forget(conn, self.chunks.popleft())

    def reset(self) -> None:
        """The connection is gone: forget everything without waiting."""
        self.chunks.clear()
        self.last_end = -1

    @staticmethod
    def _forget(conn: NbdConnection, chunk: _Chunk) -> None:
        if chunk.error is None:
            conn.wait([chunk.handle])


def _scatter(chunks: Sequence[_Chunk], buffers: Sequence[memoryview], offset: int) -> None:
    """Copy [offset, ...) of the contiguous ``chunks`` into ``buffers`` in turn."""
    position = offset
    index = 0
    for buf in buffers:
        done = 0
        while done < len(buf):
            while chunks[index].end <= position:
                index += 1
            chunk = chunks[index]
            at = position - chunk.start
            n = min(len(buf) - done, len(chunk.data) - at)
            buf[done : done + n] = chunk.data[at : at + n]
            done += n
            position += n
