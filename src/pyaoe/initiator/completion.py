"""pyaoe.initiator.completion: requests from submission to their end, told to the caller once.

Done or failed events, retiring a request from its device's work (after a fence when a late
copy of a resent write may still land) and releasing the later requests it held back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from pyaoe.initiator.device import Device, DeviceState
from pyaoe.initiator.events import InitiatorEvent, RequestDone, RequestError, RequestFailed
from pyaoe.initiator.exchange import Exchange
from pyaoe.initiator.requests import Request, RequestKind
from pyaoe.initiator.timers import Timer, TimerKind, TimerQueue
from pyaoe.initiator.work import Backlog

__all__ = ["Completion"]

_READ = RequestKind.READ
_WRITE = RequestKind.WRITE
_UP = DeviceState.UP


@dataclass(slots=True, eq=False)
class Completion:
    """Makes, queues and ends requests; ``events`` gets the caller's RequestDone/RequestFailed."""

    events: deque[InitiatorEvent]
    timers: TimerQueue[Exchange | Timer]
    backlog: Backlog
    #: The fence when no target's timeout is known.
    max_rto: float
    _next_id: int = 1

    def new(
        self,
        kind: RequestKind,
        device: Device,
        offset: int,
        length: int,
        buffer: bytearray | memoryview | None = None,
    ) -> Request:
        request = Request(self._next_id, kind, device, offset, length, buffer)
        self._next_id += 1
        return request

    def start(self, request: Request) -> None:
        """Queue the request on its device, or end it at once when it has nothing to send (empty,
        or a flush without a cache)."""
        if request.has_frames_to_send:
            self.backlog.works[request.device].add(request)
            self.backlog.dirty[request.device] = None
            return
        request.finished = True
        self.events.append(RequestDone(request.id, request.result() if request.kind is _READ else None))

    def fail(self, request: Request, error: RequestError, message: str, **codes: int) -> None:
        """Tell the caller at once; exchanges still out are retired as they answer or time out."""
        if request.finished:
            return
        request.finished = True
        request.failed = True
        request.edges.clear()
        request.flush_targets.clear()
        self.events.append(RequestFailed(request.id, error, message, **codes))

    def none_out(self, request: Request, now: float) -> None:
        """The request's last exchange out was retired (answered, or dropped after its failure):
        InFlight.retire counts them."""
        if request.failed:
            self.retire(request, now)
        elif request.is_complete:
            self.done(request, now)

    def done(self, request: Request, now: float) -> None:
        """Every exchange of the request was answered: tell the caller, release later requests."""
        request.finished = True
        data = request.result() if request.kind is _READ else None
        self.events.append(RequestDone(request.id, data))
        self.retire(request, now)

    def retire(self, request: Request, now: float) -> None:
        """Release the requests waiting for this one (after a fence if a late copy may land)."""
        device = request.device
        if request.retransmitted and request.kind is _WRITE and device.state is _UP:
            # A resent write may still have a copy on the wire; an overlapping write sent now
            # could land before it and be overwritten. Hold overlapping requests one timeout.
            request.retransmitted = False
            fence = max((t.rtt.rto for t in device.targets), default=self.max_rto)
            self.timers.schedule(Timer(TimerKind.FENCE, request), now + fence)
            return
        work = self.backlog.works.get(device)
        if work is not None and work.remove(request):
            self.backlog.dirty[device] = None
