"""pyaoe.initiator.datapath: requests to exchanges on the wire, within each target's window.

Each device's requests in order (reads, writes with their edge reads, flushes), its IDENTIFY and
its timed-out exchanges are made into Exchanges here and handed to InFlight.send.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice

from pyaoe.initiator.device import Device, DeviceState, Target
from pyaoe.initiator.events import Counters, Diagnostic, DiagnosticKind, InitiatorEvent
from pyaoe.initiator.exchange import Exchange, ExchangeKind, ExchangeState, command_fields, new_exchange
from pyaoe.initiator.inflight import InFlight
from pyaoe.initiator.requests import Request, RequestKind
from pyaoe.initiator.retransmit import Retransmit
from pyaoe.initiator.work import Backlog, DeviceWork
from pyaoe.protocol import SECTOR_SIZE

__all__ = ["DataPath", "format_stamp"]

_WAITING = ExchangeState.WAITING
_FLUSH_REQUEST = RequestKind.FLUSH
_WRITE_REQUEST = RequestKind.WRITE
_WRITE = ExchangeKind.WRITE
_READ = ExchangeKind.READ
_RMW_READ = ExchangeKind.RMW_READ
_UP = DeviceState.UP


def format_stamp(now: float) -> str:
    """The ``@%08lx`` stamp of the driver's err lines: milliseconds here instead of jiffies."""
    return f"{int(now * 1000) & 0xFFFFFFFF:08x}"


@dataclass(slots=True, eq=False)
class DataPath:
    """Sends what the windows allow, device by device: resends first, then IDENTIFY, then the
    requests in order."""

    inflight: InFlight
    backlog: Backlog
    retransmit: Retransmit
    #: The allowed interfaces' MACs (a live view: the engine updates it).
    macs: Mapping[str, bytes]
    events: deque[InitiatorEvent]
    counters: Counters

    def pump_dirty(self, now: float) -> None:
        """Pump every device marked in the backlog since the last time."""
        dirty = self.backlog.dirty
        works = self.backlog.works
        while dirty:
            device = next(iter(dirty))
            del dirty[device]
            self.pump(works[device], now)

    def pump(self, work: DeviceWork, now: float) -> None:
        device = work.device
        for reachable in device.targets:
            if reachable.ifaces:
                break
        else:
            self.retransmit.stalled(work, now)
            return
        if work.stall_since is not None:
            self.retransmit.unstalled(work)
        if work.rexmit:
            self._resend_waiting(work, now)
        if work.identify_wanted and work.identify is None:
            target = device.pick_target()
            if target is not None:
                work.identify_wanted = False
                self._send_identify(work, target, now)
        if device.state is not _UP or not work.queue:
            return
        queue = work.queue
        # Requests left with nothing to send drop out of the queue; it is rebuilt only then.
        remaining: deque[Request] | None = None
        room = True
        for index, request in enumerate(queue):
            sendable = request.has_frames_to_send
            if sendable and room and request.waiting == 0:
                room = self._issue(request, now)
                sendable = not room
            if remaining is not None:
                if sendable:
                    remaining.append(request)
            elif not sendable:
                remaining = deque(islice(queue, index))
        if remaining is not None:
            work.queue = remaining

    def _issue(self, request: Request, now: float) -> bool:
        """Send the request's next exchanges: True when it has sent them all (it has nothing
        left to send until an answer gives it more), False when a window ran out of room first."""
        if request.kind is _FLUSH_REQUEST:
            return self._issue_flush(request, now)
        device = request.device
        send = self.inflight.send
        if request.edges:
            command, aflags, bits = command_fields(_RMW_READ, device)
            while request.edges:
                target = device.pick_target()
                if target is None:
                    return False
                index = request.edges.pop(0)
                lba = request.lba + index
                edge = new_exchange(
                    _RMW_READ,
                    device,
                    request,
                    target,
                    now,
                    lba,
                    1,
                    command,
                    aflags,
                    lba | bits,
                    None,
                    index,
                )
                request.outstanding += 1
                send((edge,), target, now)
        lba = request.next_lba
        end = request.end_lba
        if lba >= end:
            return True
        writing = request.kind is _WRITE_REQUEST
        kind = _WRITE if writing else _READ
        command, aflags, bits = command_fields(kind, device)
        dest = None if writing else request.buf
        per_frame = device.payload // SECTOR_SIZE
        base = request.lba
        sector_size = SECTOR_SIZE
        single = len(device.targets) == 1
        while lba < end:
            target = device.pick_target()
            if target is None:
                request.next_lba = lba
                return False
            # The frames this target takes now: as many as its window has room for (one each
            # in turn when several targets share the work), each as big as the payload allows.
            stop = lba + per_frame * (target.window.maxout - target.nout if single else 1)
            if stop > end:
                stop = end
            batch: list[Exchange] = []
            for first in range(lba, stop, per_frame):
                count = stop - first
                if count > per_frame:
                    count = per_frame
                batch.append(
                    new_exchange(
                        kind,
                        device,
                        request,
                        target,
                        now,
                        first,
                        count,
                        command,
                        aflags,
                        first | bits,
                        dest,
                        (first - base) * sector_size,
                    )
                )
            lba = stop
            request.next_lba = lba
            request.outstanding += len(batch)
            send(batch, target, now)
        return True

    def _issue_flush(self, request: Request, now: float) -> bool:
        device = request.device
        command, aflags, registers = command_fields(ExchangeKind.FLUSH, device)
        while request.flush_targets:
            picked = device.choose_target(request.flush_targets[0])
            if picked is None:
                return False
            request.flush_targets.pop(0)
            flush = new_exchange(
                ExchangeKind.FLUSH, device, request, picked, now, 0, 0, command, aflags, registers
            )
            request.outstanding += 1
            self.inflight.send((flush,), picked, now)
        return True

    def _send_identify(self, work: DeviceWork, target: Target, now: float) -> None:
        command, aflags, registers = command_fields(ExchangeKind.IDENTIFY, work.device)
        identify = new_exchange(
            ExchangeKind.IDENTIFY,
            work.device,
            None,
            target,
            now,
            0,
            1,
            command,
            aflags,
            registers,
            bytearray(SECTOR_SIZE),
        )
        work.identify = identify
        self.inflight.send((identify,), target, now)

    def _resend_waiting(self, work: DeviceWork, now: float) -> None:
        keep: deque[Exchange] = deque()
        retransmit = self.retransmit
        for exchange in work.rexmit:
            if exchange.state is not _WAITING:
                continue
            if retransmit.dropped(exchange, now):
                continue
            target = retransmit.resend_target(exchange)
            if target is None:
                keep.append(exchange)
                continue
            self._resend(exchange, target, now)
        work.rexmit = keep

    def _resend(self, exchange: Exchange, target: Target, now: float) -> None:
        old_tag = exchange.tag
        request = exchange.request
        if exchange.kind is _WRITE and request is not None:
            request.retransmitted = True
        self.inflight.send((exchange,), target, now)
        self.counters.retransmits += 1
        device: Device = exchange.device
        src = self.macs[exchange.ifname]
        self.events.append(
            Diagnostic(
                DiagnosticKind.RETRANSMIT,
                f"{'retransmit':>15} {device.name} oldtag={old_tag:08x}@{format_stamp(now)} "
                f"newtag={exchange.tag:08x} s={src.hex()} d={target.mac.hex()} nout={target.nout}",
                device.address,
            )
        )
