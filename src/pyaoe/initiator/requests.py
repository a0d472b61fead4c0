"""pyaoe.initiator.requests: a caller's read, write or flush, and the frames it is split into.

Byte ranges of any size and alignment become sector ranges; unaligned writes read their edge
sectors first (read-modify-write). Overlapping requests run in submission order.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import TYPE_CHECKING

from pyaoe.protocol import SECTOR_SIZE

if TYPE_CHECKING:
    from pyaoe.initiator.device import Device, Target

__all__ = ["RequestKind", "Request", "FrameKind", "FrameState", "Frame", "register_request"]


class RequestKind(Enum):
    READ = "read"
    WRITE = "write"
    FLUSH = "flush"


class FrameKind(IntEnum):
    """What a frame does; decides what its answer completes."""

    READ = 0
    WRITE = 1
    #: Reads an edge sector of an unaligned write.
    RMW_READ = 2
    FLUSH = 3
    IDENTIFY = 4
    #: Checks whether a tainted target answers again (the driver's probe).
    PROBE = 5


class FrameState(IntEnum):
    #: Sent, waiting for an answer or a timeout.
    IN_FLIGHT = 0
    #: Timed out, waiting in the device's rexmit queue for room in a window.
    WAITING = 1
    #: Answered, failed or dropped; its tags are forgotten.
    RETIRED = 2


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
            self.buf = bytearray(self.nsect * SECTOR_SIZE) if kind is not RequestKind.FLUSH else bytearray()
        #: The caller's buffer a read goes to (submit_read_into); the same object as buf
        #: when the read is sector-aligned, else filled from buf when it completes.
        self.into: memoryview | None = None
        #: Frames sent and not retired.
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

    @property
    def has_frames_to_send(self) -> bool:
        if self.failed:
            return False
        if self.kind is RequestKind.FLUSH:
            return bool(self.flush_targets)
        return bool(self.edges) or self.next_lba < self.end_lba

    @property
    def is_complete(self) -> bool:
        """Every frame was sent and answered (and no edge read is pending)."""
        return (
            self.outstanding == 0
            and not self.edges
            and self.edges_pending == 0
            and (
                self.next_lba >= self.end_lba
                if self.kind is not RequestKind.FLUSH
                else not self.flush_targets
            )
        )

    def conflicts_with(self, later: Request) -> bool:
        """Whether ``later`` must wait for this request (submitted before it)."""
        if later.kind is RequestKind.FLUSH:
            # A flush covers the writes submitted before it.
            return self.kind is RequestKind.WRITE
        if self.kind is RequestKind.FLUSH:
            return False
        if self.kind is RequestKind.READ and later.kind is RequestKind.READ:
            return False
        return self.lba < later.end_lba and later.lba < self.end_lba


def register_request(active: dict[int, Request], request: Request) -> None:
    """Enter ``request`` into a device's active set, waiting for each earlier one it conflicts with."""
    reading = request.kind is RequestKind.READ
    for earlier in active.values():
        if reading and earlier.kind is RequestKind.READ:
            continue  # reads never wait for reads (conflicts_with's rule, without the call)
        if earlier.conflicts_with(request):
            request.waiting += 1
            earlier.dependents.append(request)
    active[request.id] = request


class Frame:
    """One ATA command on the wire, and everything needed to send it again or elsewhere."""

    __slots__ = (
        "aflags",
        "command",
        "deadline",
        "dest",
        "dest_offset",
        "device",
        "first_sent",
        "ifname",
        "kind",
        "lba",
        "lba_registers",
        "nsect",
        "request",
        "state",
        "tag",
        "tags",
        "target",
        "target_since",
        "transmissions",
        "tries",
    )

    def __init__(
        self,
        kind: FrameKind,
        device: Device,
        request: Request | None,
        lba: int,
        nsect: int,
        command: int,
    ) -> None:
        self.kind = kind
        self.device = device
        self.request = request
        self.lba = lba
        self.nsect = nsect
        self.command = command
        #: Where an answer's data goes (reads, IDENTIFY; None for edge reads and probes).
        self.dest: bytearray | memoryview | None = None
        #: Byte offset in the request's buffer: of a read's or write's data (a write frame is
        #: rebuilt from there on resend), or the edge sector's index for an edge read.
        self.dest_offset = 0
        self.aflags = 0
        self.lba_registers = 0
        self.target: Target | None = None
        self.ifname = ""
        self.tag = 0
        #: Every tag this frame was sent with (an answer to an older one still counts).
        self.tags: list[int] = []
        self.first_sent = 0.0
        #: When the current target got it (for scorn: how long this target kept it unanswered).
        self.target_since = 0.0
        #: Sends in all, and sends to the current target (its timeout doubles with each).
        self.transmissions = 0
        self.tries = 0
        self.deadline = 0.0
        self.state = FrameState.IN_FLIGHT
