"""pyaoe.initiator.work: the data path's work for one device, beside the device table's Device.

Requests in submission order and their ordering, exchanges waiting to be sent again, the
IDENTIFY wanted or in flight, and when the device's work started waiting for a path.
"""

from __future__ import annotations

from collections import deque

from pyaoe.initiator.device import Device
from pyaoe.initiator.exchange import Exchange
from pyaoe.initiator.requests import Request, RequestKind, register_request
from pyaoe.initiator.timers import Timer, TimerKind

__all__ = ["DeviceWork", "Backlog"]

_READ = RequestKind.READ
_WRITE = RequestKind.WRITE


class DeviceWork:
    """What the data path has to do for ``device``."""

    __slots__ = (
        "active",
        "active_writes",
        "device",
        "identify",
        "identify_wanted",
        "queue",
        "rexmit",
        "stall_since",
        "stall_timer",
    )

    def __init__(self, device: Device) -> None:
        self.device = device
        #: Requests with frames still to send, in submission order.
        self.queue: deque[Request] = deque()
        #: Exchanges that timed out and wait for room in a window to be sent again.
        self.rexmit: deque[Exchange] = deque()
        #: Requests not yet retired, by id, in submission order (for ordering overlapping ones).
        self.active: dict[int, Request] = {}
        #: How many of them are writes (reads need not look for conflicts when none is).
        self.active_writes = 0
        #: An IDENTIFY is to be sent as soon as a window has room; and the one in flight.
        self.identify_wanted = False
        self.identify: Exchange | None = None
        #: When work started waiting with no usable target at all (deadsecs counts from there).
        self.stall_since: float | None = None
        self.stall_timer = Timer(TimerKind.STALL, self)

    def add(self, request: Request) -> None:
        """Queue a request, after the earlier ones it conflicts with."""
        if request.kind is _READ and not self.active_writes:
            # A read waits only for earlier writes (Request.conflicts_with): none to check.
            self.active[request.id] = request
        else:
            register_request(self.active, request)
            if request.kind is _WRITE:
                self.active_writes += 1
        self.queue.append(request)

    def remove(self, request: Request) -> bool:
        """Take a retired request out; True when a later request it held back may go now."""
        if self.active.pop(request.id, None) is None:
            return False
        if request.kind is _WRITE:
            self.active_writes -= 1
        released = False
        for later in request.dependents:
            later.waiting -= 1
            if later.waiting == 0:
                released = True
        request.dependents.clear()
        return released

    def clear(self) -> list[Request]:
        """Drop everything (the device went down or away); the requests that were active."""
        requests = list(self.active.values())
        self.active.clear()
        self.active_writes = 0
        self.queue.clear()
        self.rexmit.clear()
        self.identify = None
        self.identify_wanted = False
        self.stall_since = None
        return requests

    @property
    def busy(self) -> bool:
        """Something waits to be sent."""
        return bool(self.queue or self.rexmit or self.identify_wanted)


class Backlog:
    """Every device's work, and the devices whose work may be able to move now.

    ``works`` holds the work of every device in the table: add() it when it enters, drop() it
    when it leaves.
    """

    __slots__ = ("dirty", "works")

    def __init__(self) -> None:
        self.works: dict[Device, DeviceWork] = {}
        #: Devices to pump (a set in insertion order): anything that may let frames go marks one.
        self.dirty: dict[Device, None] = {}

    def add(self, device: Device) -> None:
        """A device entered the table (nothing happens if it had)."""
        if device not in self.works:
            self.works[device] = DeviceWork(device)

    def drop(self, device: Device) -> None:
        """The device left the table."""
        self.works.pop(device, None)
        self.dirty.pop(device, None)
