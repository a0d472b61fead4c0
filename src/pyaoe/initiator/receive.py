"""pyaoe.initiator.receive: the one place frames from the wire are taken (InitiatorEngine.receive_frames).

An ATA answer finds its exchange by tag and completes it: the retransmit policy learns from it,
its data lands in the request, errors fail the request. Query Config answers go to discovery.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyaoe.errors import FrameError
from pyaoe.initiator.completion import Completion
from pyaoe.initiator.datapath import format_stamp
from pyaoe.initiator.device import Target
from pyaoe.initiator.events import Counters, Diagnostic, DiagnosticKind, InitiatorEvent, RequestError
from pyaoe.initiator.exchange import Exchange, ExchangeKind, ExchangeState
from pyaoe.initiator.inflight import InFlight
from pyaoe.initiator.ratelimit import RateLimit
from pyaoe.initiator.requests import Request
from pyaoe.initiator.retransmit import Retransmit
from pyaoe.initiator.work import Backlog
from pyaoe.protocol import (
    AOE_ERROR_TEXT,
    AOE_HLEN,
    ATA_FAILURE_MASK,
    ATA_HLEN,
    ETH_P_AOE,
    SECTOR_SIZE,
    TAG_USER_BIT,
    Command,
    HeaderFlag,
    parse_identify,
)
from pyaoe.protocol.layout import ATA_RESPONSE_KEY, CMD_STATUS_OFFSET, ERR_FEATURE_OFFSET, HEADER

__all__ = ["Receiver", "ConfigHandler"]

# The engine's logger: its messages kept their name when this part moved here.
log = logging.getLogger("pyaoe.initiator.engine")

#: Takes a Query Config answer: frame, source MAC, shelf, slot, ver|flags, error, ifname, now.
ConfigHandler = Callable[[bytes | bytearray | memoryview, bytes, int, int, int, int, str, float], None]

_RESPONSE = int(HeaderFlag.RESPONSE)
_ERROR = int(HeaderFlag.ERROR)
_ATA = int(Command.ATA)
_QUERY_CONFIG = int(Command.QUERY_CONFIG)
_FAILURE_MASK = int(ATA_FAILURE_MASK)
#: A matched ATA answer: exchange, answering target, source MAC, when the answered send went
#: out, AoE flags, AoE error, ATA status.
_Answer = tuple[Exchange, Target | None, bytes, float, int, int, int]
_IN_FLIGHT = ExchangeState.IN_FLIGHT
_READ = ExchangeKind.READ
_RMW_READ = ExchangeKind.RMW_READ
_IDENTIFY = ExchangeKind.IDENTIFY
_PROBE = ExchangeKind.PROBE


@dataclass(slots=True, eq=False)
class Receiver:
    """Frames in: answers matched to their exchanges, config answers handed to ``on_config``."""

    #: The allowed interfaces' MACs (a live view: the engine updates it).
    macs: Mapping[str, bytes]
    inflight: InFlight
    backlog: Backlog
    completion: Completion
    retransmit: Retransmit
    events: deque[InitiatorEvent]
    counters: Counters
    ratelimit: RateLimit
    on_config: ConfigHandler

    def receive(
        self,
        frames: Sequence[bytes | bytearray | memoryview],
        lengths: Iterable[int],
        ifname: str,
        now: float,
    ) -> None:
        """Take the first lengths[i] bytes of frames[i] as a frame received on ``ifname``, for
        each length given, in order (InitiatorEngine.receive_frames).

        Every ATA answer to a live exchange ends in the one block below, where it is retired,
        the retransmit policy learns from it and its data or error reaches its request.
        """
        counters = self.counters
        mac = self.macs.get(ifname)
        by_tag = self.inflight.by_tag
        unpack_key = ATA_RESPONSE_KEY.unpack_from
        retire = self.inflight.retire
        dirty = self.backlog.dirty
        none_out = self.completion.none_out
        answered_after = self.retransmit.answered_after
        # Module constants as locals: this loop runs for every frame.
        aoe_error_flag, failure_mask, hlen, aoe_hlen = _ERROR, _FAILURE_MASK, ATA_HLEN, AOE_HLEN
        read, rmw_read, identify, probe, in_flight = _READ, _RMW_READ, _IDENTIFY, _PROBE, _IN_FLIGHT
        sector_size = SECTOR_SIZE
        # The device last marked to be pumped: marking it again changes nothing.
        marked = None
        count = 0
        try:
            # Without strict: frames may be a whole batch of buffers, longer than lengths.
            for frame, length in zip(frames, lengths, strict=False):
                count += 1
                if mac is None or length < aoe_hlen:
                    counters.ignored += 1
                    continue
                exchange: Exchange | None = None
                if length >= hlen:
                    # Most frames are clean answers (version 1, no AoE error, to us) from the
                    # target their exchange's latest send went to: one unpack and one
                    # comparison of the bytes from the source MAC to the command say so.
                    dst, head, tag, status = unpack_key(frame)
                    exchange = by_tag.get(tag)
                    if exchange is not None and (
                        dst != mac or tag != exchange.tag or head != exchange.target.response_head
                    ):
                        exchange = None
                answering: Target | None
                if exchange is not None:
                    answering = exchange.target
                    src = answering.mac
                    sent_at = exchange.sent_at
                    flags = error = 0
                else:
                    if len(frame) != length:
                        frame = frame[:length]
                    found = self._receive_other(frame, ifname, now, mac)
                    if found is None:
                        continue
                    exchange, answering, src, sent_at, flags, error, status = found

                # What an answer teaches: the window of the target the exchange is out at opens
                # (Window), the answering target's round-trip time (RttEstimator), its interface's
                # losses (Paths) and its taint (Target.scorn) come down, and frames sent before it
                # on its interface and still out may be lost (Retransmit.answered_after).
                current = exchange.target
                if exchange.state is in_flight:
                    nout = current.nout
                    window = current.window
                    if window.growing:
                        window.on_ack(nout)
                    current.nout = nout - 1
                else:
                    # Waiting to be sent again, and its last send answered: it was late, not lost.
                    current.window.spurious(exchange)
                if answering is not None:
                    answering.rtt.update(now - sent_at)
                    paths = answering.paths
                    if paths.losses:
                        paths.answered(ifname)
                    if answering.taint:
                        answering.taint -= 1
                on_path = exchange.on_path
                last = retire(exchange)
                if on_path:
                    # Frames still out on its interface: the oldest, if sent before this one,
                    # may be lost (Retransmit.answered_after decides). Answers in order skip this.
                    for head in on_path:
                        if head.pseq < exchange.pseq:
                            answered_after(head, now)
                        break
                device = exchange.device
                if device is not marked:
                    dirty[device] = None
                    marked = device
                request = exchange.request
                kind = exchange.kind
                if flags & aoe_error_flag:
                    self._aoe_error(exchange, src, error, ifname)
                elif status & failure_mask:
                    self._ata_error(exchange, status, frame[ERR_FEATURE_OFFSET])
                elif kind is read or kind is rmw_read:
                    need = exchange.nsect * sector_size
                    if length - hlen < need:
                        self._runt(exchange, length, need)
                    elif request is not None and not request.failed:
                        dest = exchange.dest
                        if dest is not None:
                            offset = exchange.dest_offset
                            dest[offset : offset + need] = frame[hlen : hlen + need]
                        else:
                            self._edge_read(request, exchange, frame[hlen : hlen + need])
                elif kind is identify:
                    self._identified(exchange, src, frame[ATA_HLEN : min(length, ATA_HLEN + SECTOR_SIZE)])
                if kind is probe and answering is not None:
                    # It answers (even with an error): probe again at once while still tainted,
                    # as the driver's ktiocomplete does.
                    self.retransmit.schedule_probe(device, answering, now, soon=True)
                elif kind is identify:
                    work = self.backlog.works.get(device)
                    if work is not None and work.identify is exchange:
                        work.identify = None
                if last and request is not None:
                    none_out(request, now)
        finally:
            counters.frames_received += count

    def _receive_other(
        self, frame: bytes | bytearray | memoryview, ifname: str, now: float, mac: bytes
    ) -> _Answer | None:
        """Any frame but a clean answer, checked field by field: an ATA answer to a live exchange
        comes back for receive() to take; anything else is dealt with here."""
        counters = self.counters
        dst, src, ethertype, verflags, error, shelf, slot, command, tag = HEADER.unpack_from(frame, 0)
        if ethertype != ETH_P_AOE or not verflags & _RESPONSE or (dst != mac and not dst[0] & 1):
            counters.ignored += 1
            return None
        try:
            if command == _ATA:
                if len(frame) < ATA_HLEN or tag & TAG_USER_BIT:
                    # Tags with bit 31 belong to userland tools (aoeping, aoecfg); the driver drops them.
                    counters.ignored += 1
                    return None
                return self._match(frame, src, dst, shelf, slot, tag, verflags & 0x0F, error, now)
            if command == _QUERY_CONFIG:
                self.on_config(frame, src, shelf, slot, verflags, error, ifname, now)
            else:
                counters.ignored += 1
        except (FrameError, ValueError, IndexError, struct.error) as exc:
            counters.ignored += 1
            suppressed = self.ratelimit.allow(now)
            if suppressed is not None:
                log.warning(
                    "dropped a frame from %s on %s: %s (%s)%s",
                    src.hex(),
                    ifname,
                    exc,
                    bytes(frame[:36]).hex(),
                    f"; {suppressed} similar messages suppressed" if suppressed else "",
                )
        return None

    def _match(
        self,
        frame: bytes | bytearray | memoryview,
        src: bytes,
        dst: bytes,
        shelf: int,
        slot: int,
        tag: int,
        flags: int,
        error: int,
        now: float,
    ) -> _Answer | None:
        """The exchange an ATA answer is for: its tag, from the target that send went to, about
        its device; None (and the driver's "unexpected rsp" line) when there is none."""
        exchange = self.inflight.by_tag.get(tag)
        sent = exchange.sent_with(tag) if exchange is not None else None
        if exchange is None or sent is None:
            self._unexpected(shelf, slot, tag, src, dst, now)
            return None
        sent_to, sent_at = sent
        address = exchange.device.address
        if sent_to.mac != src or address.shelf != shelf or address.slot != slot:
            self._unexpected(shelf, slot, tag, src, dst, now)
            return None
        if tag != exchange.tag:
            # An earlier send answered after it was sent again: it was late, not lost.
            sent_to.window.spurious(exchange)
        current = exchange.target
        answering = current if current.mac == src else exchange.device.target(src)
        return exchange, answering, src, sent_at, flags, error, frame[CMD_STATUS_OFFSET]

    def _edge_read(
        self, request: Request, exchange: Exchange, sector: bytes | bytearray | memoryview
    ) -> None:
        """An edge sector of an unaligned write: merged; the write goes once both are in."""
        request.merge_edge(exchange.dest_offset, sector)
        if request.edges_pending == 0 and request.has_frames_to_send:
            self.backlog.works[exchange.device].queue.append(request)

    def _unexpected(self, shelf: int, slot: int, tag: int, src: bytes, dst: bytes, now: float) -> None:
        self.counters.unexpected_responses += 1
        self.events.append(
            Diagnostic(
                DiagnosticKind.UNEXPECTED_RESPONSE,
                f"{'unexpected rsp':>15} e{shelf}.{slot}    tag={tag:08x}@{format_stamp(now)} "
                f"s={src.hex()} d={dst.hex()}",
            )
        )

    def _aoe_error(self, exchange: Exchange, src: bytes, code: int, ifname: str) -> None:
        device = exchange.device
        self.counters.aoe_errors += 1
        text = AOE_ERROR_TEXT.get(code, "unknown error")
        shelf, slot = device.address
        self.events.append(
            Diagnostic(
                DiagnosticKind.AOE_ERROR,
                f"aoe: error packet from {shelf}.{slot}@{ifname}; ecode={code} '{text}'",
                device.address,
            )
        )
        if exchange.request is not None:
            self.completion.fail(
                exchange.request,
                RequestError.AOE_ERROR,
                f"{device.name}: target {src.hex()} answered {exchange.describe()} "
                f"with AoE error {code} ({text})",
                aoe_error=code,
            )

    def _ata_error(self, exchange: Exchange, status: int, error: int) -> None:
        device = exchange.device
        self.counters.ata_errors += 1
        self.events.append(
            Diagnostic(
                DiagnosticKind.ATA_ERROR,
                f"aoe: ata error cmd={exchange.command:02X}h stat={status:02X}h from {device.name}",
                device.address,
            )
        )
        if exchange.request is not None:
            self.completion.fail(
                exchange.request,
                RequestError.ATA_ERROR,
                f"{device.name}: {exchange.describe()} failed: "
                f"ATA status 0x{status:02x}, error 0x{error:02x}",
                ata_status=status,
                ata_error=error,
            )

    def _runt(self, exchange: Exchange, length: int, need: int) -> None:
        device = exchange.device
        self.events.append(
            Diagnostic(
                DiagnosticKind.INFO,
                f"aoe: runt data size in read from {device.name}.  skb->len={length - ATA_HLEN} need={need}",
                device.address,
            )
        )
        if exchange.request is not None:
            self.completion.fail(
                exchange.request,
                RequestError.BAD_RESPONSE,
                f"{device.name}: {exchange.describe()} answered with {length - ATA_HLEN} bytes, not {need}",
            )

    def _identified(self, exchange: Exchange, src: bytes, page: bytes | bytearray | memoryview) -> None:
        device = exchange.device
        try:
            info = parse_identify(page)
        except FrameError:
            self.events.append(
                Diagnostic(
                    DiagnosticKind.INFO,
                    f"aoe: runt data size in ataid from {device.name}.  skb->len={len(page)} need=512",
                    device.address,
                )
            )
            return
        self.events.extend(device.apply_identify(info, src))
