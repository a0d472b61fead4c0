"""pyaoe.initiator.receive: what a received frame does to the engine (InitiatorEngine.receive_frame).

A fast path for clean answers to read and write frames, then the general dispatch: ATA
answers to responses.py, Query Config answers to discovery.py; anything else is counted.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from collections.abc import Iterable, Sequence
from struct import Struct

from pyaoe.errors import FrameError
from pyaoe.initiator.datapath import Counters, DataPath
from pyaoe.initiator.device import Device, Target
from pyaoe.initiator.discovery import ConfigReply, DeviceTable, apply_config_reply
from pyaoe.initiator.events import Diagnostic, DiagnosticKind, InitiatorEvent
from pyaoe.initiator.options import InitiatorConfig
from pyaoe.initiator.requests import Frame, FrameKind, FrameState
from pyaoe.initiator.responses import handle_ata_response
from pyaoe.initiator.timers import NEVER
from pyaoe.initiator.wire import RESPONSE_HEADER
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
)
from pyaoe.protocol.config import decode_config

__all__ = ["FrameInput"]

# The engine's logger: its messages kept their name when this part moved here.
log = logging.getLogger("pyaoe.initiator.engine")

_RESPONSE = int(HeaderFlag.RESPONSE)
_ERROR = int(HeaderFlag.ERROR)
_ATA = int(Command.ATA)
_QUERY_CONFIG = int(Command.QUERY_CONFIG)
_FAILURE_MASK = int(ATA_FAILURE_MASK)
#: What the fast path reads of a response: destination MAC, bytes 6-19 (compared with
#: Target.response_head), tag and ATA status.
_CLEAN_RESPONSE = Struct("!6s14sI3xB")
_READ_FRAME = FrameKind.READ
_WRITE_FRAME = FrameKind.WRITE
#: Messages about peers' frames: at most _RATELIMIT_BURST every _RATELIMIT_INTERVAL seconds
#: (the kernel's net_ratelimit() defaults).
_RATELIMIT_INTERVAL = 5.0
_RATELIMIT_BURST = 10
_IN_FLIGHT = FrameState.IN_FLIGHT
_RETIRED = FrameState.RETIRED


class FrameInput:
    """InitiatorEngine's frame input, kept apart from its API (the engine inherits it)."""

    # The engine's state this part uses (set in InitiatorEngine.__init__).
    config: InitiatorConfig
    counters: Counters
    _events: deque[InitiatorEvent]
    _macs: dict[str, bytes]
    _mtus: dict[str, int]
    _dp: DataPath
    _table: DeviceTable
    #: The data path's tag table and dirty set (the same objects, never replaced).
    _tags: dict[int, tuple[Frame, Target, float]]
    _dirty: dict[Device, None]
    # _rate_limited()'s state: set on the instance at the first message.
    _ratelimit_start = -_RATELIMIT_INTERVAL
    _ratelimit_count = 0
    _ratelimit_suppressed = 0

    def receive_frame(self, frame: bytes | bytearray | memoryview, ifname: str, now: float) -> None:
        """Take one received frame (Ethernet header included). Never raises for its content."""
        self.receive_frames((frame,), ifname, now)

    def receive_frames(
        self,
        frames: Sequence[bytes | bytearray | memoryview],
        ifname: str,
        now: float,
        lengths: Iterable[int] | None = None,
    ) -> None:
        """Take frames received on ``ifname``, in order, each as receive_frame() takes one.

        With ``lengths``, frame i is the first lengths[i] bytes of frames[i], for as many
        frames as there are lengths (recvmmsg's buffers and lengths, say: nothing is sliced or
        copied). The engine keeps no reference to any of them. Never raises for their content.
        """
        counters = self.counters
        mac = self._macs.get(ifname)
        tags = self._tags
        dirty = self._dirty
        count = 0
        try:
            # Without strict: frames may be a whole batch of buffers, longer than lengths.
            sizes = [len(f) for f in frames] if lengths is None else lengths
            for frame, length in zip(frames, sizes, strict=False):
                count += 1
                if mac is None or length < AOE_HLEN:
                    counters.ignored += 1
                    continue
                if length >= ATA_HLEN:
                    # The fast path: a clean answer (version 1, no error, good ATA status, from
                    # the target and device the tag went to) to a read or write frame sent once
                    # and still in flight. It does what handle_ata_response() would (with
                    # Window.on_ack and RttEstimator.update written out: test_fastpath checks
                    # both paths give the same state); anything else goes there.
                    dst, head, tag, status = _CLEAN_RESPONSE.unpack_from(frame)
                    entry = tags.get(tag)
                    if entry is not None and dst == mac and not status & _FAILURE_MASK:
                        sent_frame, target, sent = entry
                        request = sent_frame.request
                        kind = sent_frame.kind
                        need = sent_frame.nsect * SECTOR_SIZE if kind is _READ_FRAME else 0
                        if (
                            head == target.response_head
                            and sent_frame.transmissions == 1
                            and sent_frame.state is _IN_FLIGHT
                            and request is not None
                            and not request.failed
                            and (kind is _WRITE_FRAME or (kind is _READ_FRAME and length - ATA_HLEN >= need))
                        ):
                            del tags[tag]
                            sent_frame.tags.clear()
                            sent_frame.state = _RETIRED
                            sent_frame.deadline = NEVER
                            # Window.on_ack(nout), inline.
                            window = target.window
                            nout = target.nout
                            maxout = window.maxout
                            if maxout < window.nframes:
                                if maxout < window.ssthresh:
                                    window.maxout = maxout + 1
                                elif nout == maxout:
                                    if window.next_cwnd == 0:
                                        window.maxout = window.next_cwnd = maxout + 1
                                    else:
                                        window.next_cwnd -= 1
                            target.nout = nout - 1
                            # RttEstimator.update(now - sent), inline for the usual case (the
                            # same arithmetic; min/max written as comparisons).
                            rtt = target.rtt
                            sample = now - sent
                            srtt = rtt.srtt
                            if srtt is None or sample < 0:
                                rtt.update(sample)
                            else:
                                rtt.samples += 1
                                rttvar = rtt.rttvar
                                rttvar += (abs(srtt - sample) - rttvar) / 4
                                srtt += (sample - srtt) / 8
                                rtt.rttvar = rttvar
                                rtt.srtt = srtt
                                rto = srtt + 4 * rttvar
                                if rto < rtt.min_rto:
                                    rto = rtt.min_rto
                                elif rto > rtt.max_rto:
                                    rto = rtt.max_rto
                                rtt.rto = rto
                            lost = target.lost
                            if ifname in lost:
                                lost[ifname] = 0
                            if target.taint:
                                target.taint -= 1
                            dirty[sent_frame.device] = None
                            if need:
                                offset = sent_frame.dest_offset
                                request.buf[offset : offset + need] = frame[ATA_HLEN : ATA_HLEN + need]
                            outstanding = request.outstanding - 1
                            request.outstanding = outstanding
                            if not outstanding and request.is_complete:
                                self._dp.request_done(request, now)
                            continue
                self._receive_checked(frame if len(frame) == length else frame[:length], ifname, now, mac)
        finally:
            counters.frames_received += count

    def _receive_general(self, frame: bytes | bytearray | memoryview, ifname: str, now: float) -> None:
        """receive_frame() without its fast path (tests compare the two)."""
        counters = self.counters
        counters.frames_received += 1
        mac = self._macs.get(ifname)
        if mac is None or len(frame) < AOE_HLEN:
            counters.ignored += 1
            return
        self._receive_checked(frame, ifname, now, mac)

    def _receive_checked(
        self, frame: bytes | bytearray | memoryview, ifname: str, now: float, mac: bytes
    ) -> None:
        counters = self.counters
        dst, src, ethertype, verflags, error, shelf, slot, command, tag = RESPONSE_HEADER.unpack_from(
            frame, 0
        )
        if ethertype != ETH_P_AOE or not verflags & _RESPONSE or (dst != mac and not dst[0] & 1):
            counters.ignored += 1
            return
        try:
            if command == _ATA:
                if len(frame) < ATA_HLEN or tag & TAG_USER_BIT:
                    # Tags with bit 31 belong to userland tools (aoeping, aoecfg); the driver drops them.
                    counters.ignored += 1
                    return
                handle_ata_response(
                    self._dp, frame, src, dst, shelf, slot, tag, verflags & 0x0F, error, ifname, now
                )
            elif command == _QUERY_CONFIG:
                self._config_response(frame, src, shelf, slot, verflags, error, ifname, now)
            else:
                counters.ignored += 1
        except (FrameError, ValueError, IndexError, struct.error) as exc:
            counters.ignored += 1
            suppressed = self._rate_limited(now)
            if suppressed is not None:
                log.warning(
                    "dropped a frame from %s on %s: %s (%s)%s",
                    src.hex(),
                    ifname,
                    exc,
                    bytes(frame[:36]).hex(),
                    f"; {suppressed} similar messages suppressed" if suppressed else "",
                )

    def _rate_limited(self, now: float) -> int | None:
        """Whether a message about a peer's frame may be written now, as the driver's
        net_ratelimit() decides (a burst of 10 every 5 s): None when not, else how many were
        held back since the last one. A peer sending junk must not flood the logs."""
        if now - self._ratelimit_start >= _RATELIMIT_INTERVAL or now < self._ratelimit_start:
            self._ratelimit_start = now
            self._ratelimit_count = 0
        if self._ratelimit_count >= _RATELIMIT_BURST:
            self._ratelimit_suppressed += 1
            return None
        self._ratelimit_count += 1
        suppressed, self._ratelimit_suppressed = self._ratelimit_suppressed, 0
        return suppressed

    def _config_response(
        self,
        frame: bytes | bytearray | memoryview,
        src: bytes,
        shelf: int,
        slot: int,
        verflags: int,
        error: int,
        ifname: str,
        now: float,
    ) -> None:
        if verflags & _ERROR:
            self.counters.aoe_errors += 1
            # Rate-limited, as the driver's message is: anyone may send these.
            if self._rate_limited(now) is not None:
                self._events.append(
                    Diagnostic(
                        DiagnosticKind.AOE_ERROR,
                        f"aoe: error packet from {shelf}.{slot}@{ifname}; ecode={error} "
                        f"'{AOE_ERROR_TEXT.get(error, 'unknown error')}'",
                    )
                )
            return
        # Any version is accepted here: vblade announces itself with version 0.
        arg = decode_config(frame)
        reply = ConfigReply(
            src, ifname, shelf, slot, arg.buffer_count, arg.firmware_version, arg.sector_count
        )
        events: list[InitiatorEvent] = []
        device, identify = apply_config_reply(self._table, reply, self.config, self._mtus, events)
        self._events.extend(events)
        if device is None:
            self.counters.refused_configs += 1
            return
        if identify:
            self._want_identify(device)
        self._dp.dirty[device] = None

    def _want_identify(self, device: Device) -> None:
        if device.identify_frame is None:
            device.identify_wanted = True
        self._dp.dirty[device] = None
