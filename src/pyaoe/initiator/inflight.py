"""pyaoe.initiator.inflight: the exchanges on the wire, and the one place their frames are made.

InFlight.send gives each exchange an interface, a tag and a deadline and packs its frame into the
driver's send buffers or the outbox; answers find their exchange here by tag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyaoe.initiator.device import Target
from pyaoe.initiator.events import Counters
from pyaoe.initiator.exchange import TAGS_KEPT, Exchange, ExchangeKind, ExchangeState
from pyaoe.initiator.outbox import Outbox
from pyaoe.initiator.tags import TagAllocator
from pyaoe.initiator.timers import NEVER, Timer, TimerQueue
from pyaoe.protocol import ATA_HLEN, ETH_P_AOE, REQUEST_VERFLAGS, SECTOR_SIZE, Command
from pyaoe.protocol.layout import ATA_REQUEST_PREFIX, PREFIXED_ATA_REQUEST, PREFIXED_ATA_REQUEST_PADDED

__all__ = ["InFlight"]

_WRITE = ExchangeKind.WRITE
_PROBE = ExchangeKind.PROBE
_IN_FLIGHT = ExchangeState.IN_FLIGHT
_RETIRED = ExchangeState.RETIRED
_ATA = int(Command.ATA)
#: A frame without data: the header, padded.
_SHORT_FRAME = PREFIXED_ATA_REQUEST_PADDED.size
_NO_DATA = memoryview(b"")


@dataclass(slots=True, eq=False)
class InFlight:
    """Tags, deadlines and outgoing frames of the exchanges sent and not yet retired."""

    allocator: TagAllocator
    #: An exchange unanswered this long after its first send is given up (0: never).
    deadsecs: float
    #: The allowed interfaces' MACs (a live view: the engine updates it).
    macs: Mapping[str, bytes]
    counters: Counters
    #: Every matchable tag: the exchange it was sent with (its latest send, or an older one).
    by_tag: dict[int, Exchange] = field(default_factory=dict)
    #: Deadlines of exchanges (their timeouts) and of the engine's other timers.
    timers: TimerQueue[Exchange | Timer] = field(default_factory=TimerQueue)
    outbox: Outbox = field(default_factory=Outbox)

    def send(self, exchanges: Sequence[Exchange], target: Target, now: float) -> None:
        """Send ``exchanges`` (new ones or again) to ``target``, in order, each through the target's
        next interface with a new tag and a deadline of the target's timeout for that try.

        The caller saw room in the target's window for them. An exchange that moves to another
        target starts its tries there afresh; the tags of its last sends keep matching answers.
        """
        count = len(exchanges)
        ifnames = target.paths.take(count)
        by_tag = self.by_tag
        tags = self.allocator.allocate(count, by_tag)
        outbox = self.outbox
        into = outbox.ifname
        buffers = outbox.buffers
        nbuffers = len(buffers)
        lengths = outbox.lengths
        k = len(lengths)
        out_append = outbox.frames.append
        pack_short = PREFIXED_ATA_REQUEST_PADDED.pack
        pack_short_into = PREFIXED_ATA_REQUEST_PADDED.pack_into
        rtt = target.rtt
        deadsecs = self.deadsecs
        # The deadline of a send: the target's timeout for that try (RttEstimator.backoff; its
        # rto for a first try), and no later than deadsecs after the first send (probes
        # excepted: they are not the caller's work). Every first send of this call has the same.
        first = now + rtt.rto
        first_capped = now + deadsecs if deadsecs and now + deadsecs < first else first
        macs = self.macs
        prefixes = target.request_prefixes
        prefix_ifname: str | None = None
        prefix = b""
        data_of = None
        data = _NO_DATA
        # Exchanges are scheduled in runs that share a deadline (a burst of new ones does).
        run: list[Exchange] = []
        run_deadline = NEVER
        writes = 0
        write, probe = _WRITE, _PROBE
        # Each send's number among the target's and among its interface's (Window.on_loss and
        # Retransmit.answered_after read them); what is out on an interface, in send order.
        paths = target.paths
        path_sent = paths.sent
        path_out = paths.outstanding
        seq = target.reads + target.writes
        pseq = 0
        on_path: dict[Exchange, None] = {}
        for exchange, ifname, tag in zip(exchanges, ifnames, tags, strict=False):  # as long as each other
            if ifname != prefix_ifname:
                # Kept per interface until the interface's MAC changes.
                cached = prefixes.get(ifname)
                prefix = (
                    cached[1]
                    if cached is not None and cached[0] is macs[ifname]
                    else self._prefix(target, ifname)
                )
                if prefix_ifname is not None:
                    path_sent[prefix_ifname] = pseq
                prefix_ifname = ifname
                pseq = path_sent[ifname]
                on_path = path_out[ifname]
            old_tag = exchange.tag
            kind = exchange.kind
            if not old_tag:
                # Its first send: made for it (Exchange's target, times and tries are set).
                if exchange.target is not target:
                    raise ValueError(f"{exchange.describe()} was made for another target")
                deadline = first if kind is probe else first_capped
            else:
                # Sent again: a timeout or fast retransmit took it off its interface's order
                # already; this keeps it in one interface's order whatever.
                exchange.leave_path()
                older = exchange.older
                if older is None:
                    older = exchange.older = []
                older.append((old_tag, exchange.target, exchange.sent_at))
                if len(older) >= TAGS_KEPT:
                    by_tag.pop(older.pop(0)[0], None)
                if exchange.target is not target:
                    # A new target: its own round-trip time, and no backoff earned by the old one.
                    exchange.target = target
                    exchange.target_since = now
                    exchange.tries = 0
                tries = exchange.tries + 1
                exchange.tries = tries
                deadline = now + rtt.backoff(tries)
                limit = exchange.first_sent + deadsecs
                if deadsecs and kind is not probe and limit < deadline:
                    deadline = limit
                exchange.transmissions += 1
                exchange.sent_at = now
                exchange.state = _IN_FLIGHT
            exchange.tag = tag
            exchange.ifname = ifname
            by_tag[tag] = exchange
            seq += 1
            pseq += 1
            exchange.seq = seq
            exchange.pseq = pseq
            if kind is not probe:
                # Probes go to a target that lost frames: their losses show nothing new.
                on_path[exchange] = None
                exchange.on_path = on_path

            registers = exchange.lba_registers.to_bytes(6, "little")
            if kind is write:
                writes += 1
                nsect = exchange.nsect
                size = ATA_HLEN + nsect * SECTOR_SIZE
                request = exchange.request
                if request is not None and request.buf is not data_of:
                    data_of = request.buf
                    data = memoryview(data_of)
                start = exchange.dest_offset
                sectors = data[start : start + size - ATA_HLEN]
                if ifname == into and k < nbuffers and size <= len(buffers[k]):
                    buffer = buffers[k]
                    PREFIXED_ATA_REQUEST.pack_into(
                        buffer, 0, prefix, tag, exchange.aflags, 0, nsect, exchange.command, registers
                    )
                    buffer[ATA_HLEN:size] = sectors
                    lengths.append(size)
                    k += 1
                else:
                    header = PREFIXED_ATA_REQUEST.pack(
                        prefix, tag, exchange.aflags, 0, nsect, exchange.command, registers
                    )
                    out_append((ifname, header + sectors))
            elif ifname == into and k < nbuffers and len(buffers[k]) >= _SHORT_FRAME:
                pack_short_into(
                    buffers[k],
                    0,
                    prefix,
                    tag,
                    exchange.aflags,
                    0,
                    exchange.nsect,
                    exchange.command,
                    registers,
                )
                lengths.append(_SHORT_FRAME)
                k += 1
            else:
                wire = pack_short(
                    prefix, tag, exchange.aflags, 0, exchange.nsect, exchange.command, registers
                )
                out_append((ifname, wire))

            if deadline != run_deadline:
                if run:
                    self.timers.schedule_run(run, run_deadline)
                    run = []
                run_deadline = deadline
            run.append(exchange)
        if run:
            self.timers.schedule_run(run, run_deadline)
        if prefix_ifname is not None:
            path_sent[prefix_ifname] = pseq
        target.nout += count
        target.writes += writes
        target.reads += count - writes
        self.counters.frames_sent += count

    def _prefix(self, target: Target, ifname: str) -> bytes:
        """The bytes up to the tag of a request to ``target`` through ``ifname``, packed and kept."""
        src = self.macs[ifname]
        shelf, slot = target.device.address
        prefix = ATA_REQUEST_PREFIX.pack(target.mac, src, ETH_P_AOE, REQUEST_VERFLAGS, 0, shelf, slot, _ATA)
        target.request_prefixes[ifname] = (src, prefix)
        return prefix

    def retire(self, exchange: Exchange) -> bool:
        """The exchange is done with: its tags stop matching, its deadline is cancelled and its
        request has one exchange fewer out. True when that was the request's last one out
        (Completion.none_out says what that means); retiring an exchange again does nothing."""
        if exchange.state is _RETIRED:
            return False
        by_tag = self.by_tag
        by_tag.pop(exchange.tag, None)
        older = exchange.older
        if older is not None:
            for tag, _, _ in older:
                by_tag.pop(tag, None)
            exchange.older = None
        exchange.state = _RETIRED
        exchange.deadline = NEVER
        exchange.leave_path()
        request = exchange.request
        if request is None:
            return False
        outstanding = request.outstanding - 1
        request.outstanding = outstanding
        return not outstanding
