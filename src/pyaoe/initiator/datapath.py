"""pyaoe.initiator.datapath: requests to frames on the wire, within each target's window.

Ordering and completing requests, tags, sending and resending; the answers are handled in
responses.py, timeouts and failover in recovery.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice

from pyaoe.initiator.device import Device, DeviceState, Target
from pyaoe.initiator.events import (
    Diagnostic,
    DiagnosticKind,
    InitiatorEvent,
    RequestDone,
    RequestError,
    RequestFailed,
)
from pyaoe.initiator.fastpath import send_data_frames
from pyaoe.initiator.options import InitiatorConfig
from pyaoe.initiator.outbox import Outbox
from pyaoe.initiator.requests import Frame, FrameKind, FrameState, Request, RequestKind, register_request
from pyaoe.initiator.tags import TagAllocator
from pyaoe.initiator.timers import NEVER, Timer, TimerKind, TimerQueue
from pyaoe.initiator.wire import build_ata_request
from pyaoe.protocol import SECTOR_SIZE, AtaCommand, AtaFlag, lba_register

__all__ = ["DataPath", "Counters", "format_stamp", "read_result"]

_WRITE_FLAG = int(AtaFlag.WRITE)
_EXT_FLAG = int(AtaFlag.EXTENDED)
#: The device register bits the driver puts in LBA3 for IDENTIFY and other non-LBA commands.
_DEVICE_REGISTER = 0xA0 << 24
#: Tags of one frame kept matchable: an answer to one of its last few sends still counts.
_TAGS_KEPT = 4


@dataclass(slots=True)
class Counters:
    """What the initiator has sent and seen, for diagnostics and tests."""

    frames_sent: int = 0
    frames_received: int = 0
    retransmits: int = 0
    #: Answers whose tag, source MAC or shelf.slot matched nothing outstanding.
    unexpected_responses: int = 0
    aoe_errors: int = 0
    ata_errors: int = 0
    #: Frames from interfaces outside the iflist, not for us, too short, or not responses.
    ignored: int = 0
    #: Config replies refused (broadcast or all-ones shelf, static-minor limits).
    refused_configs: int = 0


def read_result(request: Request) -> memoryview:
    """A finished read's bytes, read-only: in the caller's buffer for submit_read_into."""
    data = memoryview(request.buf)[request.skip : request.skip + request.length]
    into = request.into
    if into is None:
        return data.toreadonly()
    if into is not request.buf:
        into[:] = data
    return into.toreadonly()


def format_stamp(now: float) -> str:
    """The ``@%08lx`` stamp of the driver's err lines: milliseconds here instead of jiffies."""
    return f"{int(now * 1000) & 0xFFFFFFFF:08x}"


class DataPath:
    """Requests to frames and frames to the wire; the bookkeeping that completes requests.

    Owns the tags, the outgoing frame list and the timer heap that responses.py and
    recovery.py work on too.
    """

    def __init__(
        self,
        config: InitiatorConfig,
        macs: Mapping[str, bytes],
        mtus: Mapping[str, int],
        events: deque[InitiatorEvent],
        counters: Counters,
    ) -> None:
        self.config = config
        #: The engine's allowed interfaces (live views: the engine updates them).
        self.macs = macs
        self.mtus = mtus
        self.events = events
        self.counters = counters
        self.tag_allocator = TagAllocator(config.tag_start)
        #: Every matchable tag: the frame, the target it went to and when.
        self.tags: dict[int, tuple[Frame, Target, float]] = {}
        self.outbox = Outbox()
        self.timers: TimerQueue[Frame | Timer] = TimerQueue()
        #: Devices whose queues may be able to move (pumped by frames_to_send).
        self.dirty: dict[Device, None] = {}
        self._next_request_id = 1

    # -- requests --------------------------------------------------------------------------
    def new_request(
        self,
        kind: RequestKind,
        device: Device,
        offset: int,
        length: int,
        buffer: bytearray | memoryview | None = None,
    ) -> Request:
        request = Request(self._next_request_id, kind, device, offset, length, buffer)
        self._next_request_id += 1
        return request

    def submit(self, request: Request) -> None:
        device = request.device
        if request.kind is RequestKind.READ and not device.active_writes:
            # A read waits only for earlier writes (Request.conflicts_with): none to check.
            device.active[request.id] = request
        else:
            register_request(device.active, request)
            if request.kind is RequestKind.WRITE:
                device.active_writes += 1
        device.queue.append(request)
        self.dirty[device] = None

    def finish_now(self, request: Request) -> None:
        """A request with nothing to send (empty, or a flush without a cache): done at once."""
        request.finished = True
        self.events.append(
            RequestDone(request.id, read_result(request) if request.kind is RequestKind.READ else None)
        )

    def fail_request(self, request: Request, error: RequestError, message: str, **codes: int) -> None:
        """Tell the caller at once; frames still out are retired as they answer or time out."""
        if request.finished:
            return
        request.finished = True
        request.failed = True
        request.edges.clear()
        request.flush_targets.clear()
        self.events.append(RequestFailed(request.id, error, message, **codes))

    def retire_request(self, request: Request, now: float) -> None:
        """Release the requests waiting for this one (after a fence if a late copy may land)."""
        device = request.device
        if request.retransmitted and request.kind is RequestKind.WRITE and device.state is DeviceState.UP:
            # A resent write may still have a copy on the wire; an overlapping write sent now
            # could land before it and be overwritten. Hold overlapping requests one timeout.
            request.retransmitted = False
            fence = max((t.rtt.rto for t in device.targets), default=self.config.max_rto)
            self.timers.schedule(Timer(TimerKind.FENCE, request), now + fence)
            return
        if device.active.pop(request.id, None) is None:
            return
        if request.kind is RequestKind.WRITE:
            device.active_writes -= 1
        for later in request.dependents:
            later.waiting -= 1
            if later.waiting == 0:
                self.dirty[device] = None
        request.dependents.clear()

    # -- sending ---------------------------------------------------------------------------
    def pump_dirty(self, now: float) -> None:
        while self.dirty:
            device = next(iter(self.dirty))
            del self.dirty[device]
            self.pump(device, now)

    def pump(self, device: Device, now: float) -> None:
        """Send what windows allow: resends first, then IDENTIFY, then requests in order."""
        if not any(t.ifaces for t in device.targets):
            self._note_stall(device, now)
            return
        if device.stall_since is not None:
            device.stall_since = None
            self.timers.cancel(device.stall_timer)
        if device.rexmit:
            self._resend_waiting(device, now)
        if device.identify_wanted and device.identify_frame is None:
            target = device.pick_target()
            if target is not None:
                device.identify_wanted = False
                self._send_identify(device, target, now)
        if device.state is not DeviceState.UP or not device.queue:
            return
        queue = device.queue
        # Requests left with nothing to send drop out of the queue; it is rebuilt only then.
        remaining: deque[Request] | None = None
        room = True
        for index, request in enumerate(queue):
            sendable = request.has_frames_to_send
            if sendable and room and request.waiting == 0:
                room = self._issue(request, now)
                sendable = request.has_frames_to_send
            if remaining is not None:
                if sendable:
                    remaining.append(request)
            elif not sendable:
                remaining = deque(islice(queue, index))
        if remaining is not None:
            device.queue = remaining

    def _note_stall(self, device: Device, now: float) -> None:
        """Work waits and no target is reachable: deadsecs counts from now (recovery decides)."""
        busy = device.queue or device.rexmit or device.identify_wanted
        if busy and device.stall_since is None and self.config.deadsecs:
            device.stall_since = now
            self.timers.schedule(device.stall_timer, now + self.config.deadsecs)

    def _issue(self, request: Request, now: float) -> bool:
        """Send the request's next frames; False when no window had room for more."""
        device = request.device
        lba48 = device.lba48
        if request.kind is RequestKind.FLUSH:
            return self._issue_flush(request, now)
        read_command = AtaCommand.READ_SECTORS_EXT if lba48 else AtaCommand.READ_SECTORS
        while request.edges:
            target = device.pick_target()
            if target is None:
                return False
            index = request.edges.pop(0)
            frame = Frame(FrameKind.RMW_READ, device, request, request.lba + index, 1, read_command)
            frame.dest_offset = index
            self._send_new(frame, target, now)
        sent = send_data_frames(self, request, now)
        if sent is not None:
            return sent
        per_frame = device.payload // SECTOR_SIZE
        writing = request.kind is RequestKind.WRITE
        if writing:
            command = AtaCommand.WRITE_SECTORS_EXT if lba48 else AtaCommand.WRITE_SECTORS
            kind = FrameKind.WRITE
        else:
            command = read_command
            kind = FrameKind.READ
        while request.next_lba < request.end_lba:
            target = device.pick_target()
            if target is None:
                return False
            lba = request.next_lba
            count = min(per_frame, request.end_lba - lba)
            request.next_lba = lba + count
            offset = (lba - request.lba) * SECTOR_SIZE
            frame = Frame(kind, device, request, lba, count, command)
            frame.dest_offset = offset
            if not writing:
                frame.dest = request.buf
            self._send_new(frame, target, now)
        return True

    def _issue_flush(self, request: Request, now: float) -> bool:
        device = request.device
        identify = device.identify
        ext = identify is not None and identify.flush_cache_ext
        command = AtaCommand.FLUSH_CACHE_EXT if ext else AtaCommand.FLUSH_CACHE
        while request.flush_targets:
            target = request.flush_targets[0]
            if (
                not target.ifaces
                or target not in device.targets
                or (target.taint and device.untainted_count())
            ):
                # Gone or not answering: any target will do (they serve the same device).
                picked = device.pick_target()
            else:
                picked = target if target.nout < target.window.maxout else None
            if picked is None:
                return False
            request.flush_targets.pop(0)
            frame = Frame(FrameKind.FLUSH, device, request, 0, 0, command)
            frame.aflags = _EXT_FLAG if ext else 0
            frame.lba_registers = 0 if ext else _DEVICE_REGISTER
            self._send_new(frame, picked, now)
        return True

    def _send_identify(self, device: Device, target: Target, now: float) -> None:
        frame = Frame(FrameKind.IDENTIFY, device, None, 0, 1, AtaCommand.IDENTIFY_DEVICE)
        frame.lba_registers = _DEVICE_REGISTER
        frame.dest = bytearray(SECTOR_SIZE)
        device.identify_frame = frame
        self._send_new(frame, target, now)

    def send_probe(self, device: Device, target: Target, now: float) -> None:
        """A full-size READ of LBA 0 to a tainted target, to learn whether it answers again."""
        count = max(1, min(device.payload // SECTOR_SIZE, device.sectors))
        command = AtaCommand.READ_SECTORS_EXT if device.lba48 else AtaCommand.READ_SECTORS
        frame = Frame(FrameKind.PROBE, device, None, 0, count, command)
        target.probing = True
        self._send_new(frame, target, now)

    def _send_new(self, frame: Frame, target: Target, now: float) -> None:
        kind = frame.kind
        if kind <= FrameKind.RMW_READ or kind is FrameKind.PROBE:
            lba48 = frame.device.lba48
            frame.aflags = (_EXT_FLAG if lba48 else 0) | (_WRITE_FLAG if kind is FrameKind.WRITE else 0)
            frame.lba_registers = lba_register(frame.lba, lba48)
        if frame.request is not None:
            frame.request.outstanding += 1
        frame.first_sent = now
        self._transmit(frame, target, now)

    def _transmit(self, frame: Frame, target: Target, now: float) -> bytes:
        """Send (or send again) ``frame`` to ``target`` through its next interface, new tag;
        returns the frame's bytes."""
        ifname = target.next_interface()
        tag = self.tag_allocator.allocate(self.tags)
        device = frame.device
        address = device.address
        if frame.target is not target:
            # A new target: its own round-trip time, and no backoff earned by the old one.
            frame.target = target
            frame.target_since = now
            frame.tries = 0
        if frame.kind is FrameKind.WRITE:
            target.writes += 1
        else:
            target.reads += 1
        data = None
        if frame.kind is FrameKind.WRITE and frame.request is not None:
            start = frame.dest_offset
            data = memoryview(frame.request.buf)[start : start + frame.nsect * SECTOR_SIZE]
        wire = build_ata_request(
            target.mac,
            self.macs[ifname],
            address.shelf,
            address.slot,
            tag,
            frame.aflags,
            frame.nsect,
            frame.command,
            frame.lba_registers,
            data,
        )
        frame.ifname = ifname
        frame.tag = tag
        tags = frame.tags
        tags.append(tag)
        if len(tags) > _TAGS_KEPT:
            self.tags.pop(tags.pop(0), None)
        self.tags[tag] = (frame, target, now)
        frame.transmissions += 1
        frame.tries += 1
        frame.state = FrameState.IN_FLIGHT
        target.nout += 1
        deadline = now + target.rtt.backoff(frame.tries)
        deadsecs = self.config.deadsecs
        if deadsecs and frame.kind is not FrameKind.PROBE:
            deadline = min(deadline, frame.first_sent + deadsecs)
        self.timers.schedule(frame, deadline)
        self.outbox.emit(ifname, wire)
        self.counters.frames_sent += 1
        return wire

    def _resend_waiting(self, device: Device, now: float) -> None:
        keep: deque[Frame] = deque()
        for frame in device.rexmit:
            if frame.state is not FrameState.WAITING:
                continue
            request = frame.request
            if request is not None and request.failed:
                # Its request already failed (another frame's error): nothing to resend for.
                self.forget(frame)
                self.frame_retired(request, now)
                continue
            target = self._resend_target(device, frame)
            if target is None:
                keep.append(frame)
                continue
            self.resend(frame, target, now)
        device.rexmit = keep

    def forget(self, frame: Frame) -> None:
        """Retire a frame unanswered: its tags stop matching and its deadline is cancelled."""
        tags = self.tags
        for tag in frame.tags:
            tags.pop(tag, None)
        frame.tags.clear()
        frame.state = FrameState.RETIRED
        frame.deadline = NEVER
        device = frame.device
        if device.identify_frame is frame:
            device.identify_frame = None

    def _resend_target(self, device: Device, frame: Frame) -> Target | None:
        """The same target if it still answers and has room; another one if it is tainted."""
        target = frame.target
        if target is None or not target.ifaces or target not in device.targets:
            return device.pick_target()
        if target.taint and device.untainted_count():
            return device.pick_target()
        return target if target.nout < target.window.maxout else None

    def resend(self, frame: Frame, target: Target, now: float) -> None:
        old_tag = frame.tag
        if frame.kind is FrameKind.WRITE and frame.request is not None:
            frame.request.retransmitted = True
        wire = self._transmit(frame, target, now)
        self.counters.retransmits += 1
        self.events.append(
            Diagnostic(
                DiagnosticKind.RETRANSMIT,
                f"{'retransmit':>15} {frame.device.name} oldtag={old_tag:08x}@{format_stamp(now)} "
                f"newtag={frame.tag:08x} s={wire[6:12].hex()} d={wire[0:6].hex()} nout={target.nout}",
                frame.device.address,
            )
        )

    # -- completion --------------------------------------------------------------------------
    def frame_retired(self, request: Request, now: float) -> None:
        """One of the request's frames is done with (answered, or dropped after its failure)."""
        request.outstanding -= 1
        if request.failed:
            if request.outstanding == 0:
                self.retire_request(request, now)
            return
        if request.is_complete:
            self.request_done(request, now)

    def request_done(self, request: Request, now: float) -> None:
        """Every frame of the request was answered: tell the caller, release later requests."""
        request.finished = True
        data = read_result(request) if request.kind is RequestKind.READ else None
        self.events.append(RequestDone(request.id, data))
        self.retire_request(request, now)

    def schedule_probe(self, device: Device, target: Target, now: float, soon: bool = False) -> None:
        """Probe a tainted target again (after taint x RTO unless ``soon``) while another
        target is untainted; a target nobody else can replace gets ordinary frames instead."""
        if target.taint and device.untainted_count() and device.state is DeviceState.UP:
            target.probing = True
            delay = 0.0 if soon else target.taint * target.rtt.rto
            self.timers.schedule(target.probe_timer, now + delay)
        else:
            target.probing = False
            self.timers.cancel(target.probe_timer)
