"""pyaoe.initiator.requests: a caller's read, write or flush, and how far it has got.

Byte ranges of any size and alignment become sector ranges; unaligned writes read their edge
sectors first (read-modify-write). Overlapping requests run in submission order.
"""

from __future__ import annotations

from enum import Enum

from pyaoe.initiator.device import Device, Target
from pyaoe.protocol import SECTOR_SIZE

__all__ = ["RequestKind", "Request", "register_request"]


class RequestKind(Enum):
    READ = "read"
    WRITE = "write"
    FLUSH = "flush"


#: The kinds as module constants: the per-request code reads them often.
_READ, _WRITE, _FLUSH = RequestKind.READ, RequestKind.WRITE, RequestKind.FLUSH


class Request:
    """One submitted request and its progress.

    Sectors [lba, lba + nsect) are transferred through ``buf``; the caller's bytes are
    ``buf[skip:skip + length]``.
    """

    __slots__ = (
        "buf",
        "dependents",
        "device",
        "edges",
        "edges_pending",
        "end_lba",
        "failed",
        "finished",
        "flush_targets",
        "id",
        "into",
        "kind",
        "lba",
        "length",
        "next_lba",
        "nsect",
        "outstanding",
        "retransmitted",
        "skip",
        "waiting",
    )

    def __init__(
        self,
        request_id: int,
        kind: RequestKind,
        device: Device,
        offset: int,
        length: int,
        buffer: bytearray | memoryview | None = None,
    ) -> None:
        self.id = request_id
        self.kind = kind
        self.device = device
        self.length = length
        self.lba = offset // SECTOR_SIZE
        self.skip = offset - self.lba * SECTOR_SIZE
        end = offset + length
        self.end_lba = -(-end // SECTOR_SIZE) if length else self.lba
        self.nsect = self.end_lba - self.lba
        #: The next sector to send in the current phase.
        self.next_lba = self.lba
        #: Sectors [lba, end_lba): ``buffer`` when given (a caller's, or a write's data
        #: already copied), else a new zeroed one.
        self.buf: bytearray | memoryview
        if buffer is not None:
            self.buf = buffer
        else:
            self.buf = bytearray(self.nsect * SECTOR_SIZE) if kind is not _FLUSH else bytearray()
        #: The caller's buffer a read goes to (submit_read_into); the same object as buf
        #: when the read is sector-aligned, else filled from buf when it completes.
        self.into: memoryview | None = None
        #: Exchanges made and not retired (DataPath counts them in, InFlight.retire out).
        self.outstanding = 0
        #: Earlier requests this one must wait for; later ones waiting for this one.
        self.waiting = 0
        self.dependents: list[Request] = []
        #: Edge sectors (offsets from lba) still to read for an unaligned write.
        self.edges: list[int] = []
        self.edges_pending = 0
        #: Flush: the targets still to be sent a FLUSH CACHE.
        self.flush_targets: list[Target] = []
        #: The caller has been told (done or failed).
        self.finished = False
        self.failed = False
        #: A write frame of it was sent more than once: a late copy may still be on the wire.
        self.retransmitted = False

    def set_write_data(self, data: bytes | bytearray | memoryview) -> None:
        """Place the caller's bytes and plan the edge reads an unaligned write needs."""
        self.buf[self.skip : self.skip + self.length] = data
        edges = []
        if self.skip:
            edges.append(0)
        if (self.skip + self.length) % SECTOR_SIZE and self.nsect - 1 not in edges:
            edges.append(self.nsect - 1)
        self.edges = edges
        self.edges_pending = len(edges)
        if edges:
            # Nothing is written until both edges are known.
            self.next_lba = self.end_lba

    def merge_edge(self, index: int, sector: bytes | bytearray | memoryview) -> None:
        """Keep the bytes of edge sector ``index`` that the caller's data does not cover."""
        start = index * SECTOR_SIZE
        stop = start + SECTOR_SIZE
        user_start, user_stop = self.skip, self.skip + self.length
        head_stop = max(start, min(user_start, stop))
        if head_stop > start:
            self.buf[start:head_stop] = sector[: head_stop - start]
        tail_start = min(stop, max(user_stop, start))
        if tail_start < stop:
            self.buf[tail_start:stop] = sector[tail_start - start :]
        self.edges_pending -= 1
        if self.edges_pending == 0:
            self.next_lba = self.lba

    def result(self) -> memoryview:
        """A finished read's bytes, read-only: in the caller's buffer for submit_read_into."""
        data = memoryview(self.buf)[self.skip : self.skip + self.length]
        into = self.into
        if into is None:
            return data.toreadonly()
        if into is not self.buf:
            into[:] = data
        return into.toreadonly()

    @property
    def has_frames_to_send(self) -> bool:
        if self.failed:
            return False
        if self.kind is _FLUSH:
            return bool(self.flush_targets)
        return bool(self.edges) or self.next_lba < self.end_lba

    @property
    def is_complete(self) -> bool:
        """Every frame was sent and answered (and no edge read is pending)."""
        return (
            self.outstanding == 0
            and not self.edges
            and self.edges_pending == 0
            and (self.next_lba >= self.end_lba if self.kind is not _FLUSH else not self.flush_targets)
        )

    def conflicts_with(self, later: Request) -> bool:
        """Whether ``later`` must wait for this request (submitted before it)."""
        if later.kind is _FLUSH:
            # A flush covers the writes submitted before it.
            return self.kind is _WRITE
        if self.kind is _FLUSH:
            return False
        if self.kind is _READ and later.kind is _READ:
            return False
        return self.lba < later.end_lba and later.lba < self.end_lba


def register_request(active: dict[int, Request], request: Request) -> None:
    """Enter ``request`` into a device's active set, waiting for each earlier one it conflicts with."""
    reading = request.kind is _READ
    for earlier in active.values():
        if reading and earlier.kind is _READ:
            continue  # reads never wait for reads (conflicts_with's rule, without the call)
        if earlier.conflicts_with(request):
            request.waiting += 1
            earlier.dependents.append(request)
    active[request.id] = request
