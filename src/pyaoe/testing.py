"""pyaoe.testing: fakes for running the engines without a network or a clock (trio.testing's idea).

FakeClock, LossyWire (seeded loss, duplication, reordering, delay) and EnginePair, which runs
an InitiatorEngine against target engines in one thread over simulated Ethernet segments.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Protocol, TypeVar, cast

from pyaoe.initiator import (
    DeviceAddress,
    InitiatorConfig,
    InitiatorEngine,
    InitiatorEvent,
    RequestDone,
    RequestFailed,
)
from pyaoe.initiator.address import as_address

__all__ = ["FakeClock", "LossyWire", "WireStats", "TargetLike", "EnginePair", "engine_pair", "INITIATOR_MAC"]

E = TypeVar("E")

#: The MAC engine_pair() gives the initiator's first interface (the next ones count up).
INITIATOR_MAC = bytes.fromhex("020000000001")


class FakeClock:
    """A clock that moves only when told to; call it to read it (a stand-in for time.monotonic)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self.now += seconds
        return self.now

    def jump_to(self, when: float | None) -> float:
        """Move to ``when`` if it is later (an engine's get_timer() may be in the past)."""
        if when is not None and when > self.now:
            self.now = when
        return self.now


@dataclass(slots=True)
class WireStats:
    sent: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    delivered: int = 0


class LossyWire:
    """Frames in flight, each delivered after a delay, maybe lost, duplicated or held back.

    Every decision comes from ``random.Random(seed)``, so a failing run can be replayed.
    A frame takes ``delay`` plus up to ``jitter`` seconds; with probability ``reorder`` it
    is held back up to ``reorder_delay`` more, so later frames overtake it.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        reorder_delay: float | None = None,
    ) -> None:
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability, not {p}")
        if delay < 0 or jitter < 0:
            raise ValueError("delay and jitter must not be negative")
        self.rng = random.Random(seed)
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.delay = delay
        self.jitter = jitter
        self.reorder_delay = reorder_delay if reorder_delay is not None else max(delay, jitter, 1e-4)
        self.stats = WireStats()
        self._queue: list[tuple[float, int, Hashable, bytes]] = []
        self._seq = count()

    def send(self, frame: bytes, destination: Hashable, now: float) -> None:
        """Put ``frame`` on the wire towards ``destination`` (any key the caller routes by)."""
        rng = self.rng
        self.stats.sent += 1
        if self.loss and rng.random() < self.loss:
            self.stats.lost += 1
            return
        copies = 1
        if self.duplicate and rng.random() < self.duplicate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            when = now + self.delay + (rng.uniform(0, self.jitter) if self.jitter else 0.0)
            if self.reorder and rng.random() < self.reorder:
                when += rng.uniform(0, self.reorder_delay)
                self.stats.reordered += 1
            heapq.heappush(self._queue, (when, next(self._seq), destination, bytes(frame)))

    def deliver(self, now: float) -> list[tuple[Hashable, bytes]]:
        """Frames due by ``now``, earliest first."""
        due = []
        queue = self._queue
        while queue and queue[0][0] <= now:
            _, _, destination, frame = heapq.heappop(queue)
            due.append((destination, frame))
        self.stats.delivered += len(due)
        return due

    def next_delivery(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def clear(self) -> int:
        """Lose everything in flight (a cable pulled); returns how many frames."""
        n = len(self._queue)
        self._queue.clear()
        self.stats.lost += n
        return n

    def __len__(self) -> int:
        return len(self._queue)


class TargetLike(Protocol):
    """What EnginePair needs of a target engine (pyaoe.target.TargetEngine has it)."""

    def handle_frame(self, frame: bytes | bytearray | memoryview, now: float) -> list[bytes]: ...

    def announcements(self) -> list[bytes]: ...


@dataclass(slots=True)
class _Port:
    engine: TargetLike
    mac: bytes
    segment: str
    alive: bool = True


@dataclass(slots=True)
class EnginePair:
    """An initiator and targets on simulated Ethernet segments, run in one thread.

    Each initiator interface is plugged into the segment of the same name (or the one
    ``segments`` maps it to); targets are plugged in with add_target(). A frame reaches the
    ports on its segment whose MAC is its destination, or all of them for a group address.
    """

    initiator: InitiatorEngine
    clock: FakeClock = field(default_factory=FakeClock)
    wire: LossyWire = field(default_factory=LossyWire)
    segments: dict[str, str] = field(default_factory=dict)
    #: Every event the initiator produced, in order.
    events: list[InitiatorEvent] = field(default_factory=list)
    targets: list[_Port] = field(default_factory=list)
    _results: dict[int, RequestDone | RequestFailed] = field(default_factory=dict)

    # -- topology --------------------------------------------------------------------------
    def add_target(self, engine: TargetLike, segment: str = "eth0", mac: bytes | None = None) -> int:
        """Plug a target engine into ``segment``; returns its index for set_alive()."""
        port_mac = mac if mac is not None else getattr(engine, "mac", None)
        if not isinstance(port_mac, bytes) or len(port_mac) != 6:
            raise ValueError("give the target's MAC (its engine has no 6-byte .mac)")
        self.targets.append(_Port(engine, port_mac, segment))
        return len(self.targets) - 1

    def set_alive(self, index: int, alive: bool) -> None:
        """A dead target neither hears nor answers (frames to it are lost)."""
        self.targets[index].alive = alive

    def announce(self, index: int) -> None:
        """Send the target's start-up announcements."""
        port = self.targets[index]
        for frame in port.engine.announcements():
            self._from_target(port, frame)

    def _segment_of(self, ifname: str) -> str:
        return self.segments.get(ifname, ifname)

    def _from_initiator(self, ifname: str, frame: bytes) -> None:
        segment = self._segment_of(ifname)
        dst = frame[0:6]
        group = bool(dst[0] & 1)
        for index, port in enumerate(self.targets):
            if port.segment == segment and (group or port.mac == dst):
                self.wire.send(frame, ("target", index), self.clock.now)

    def _from_target(self, port: _Port, frame: bytes) -> None:
        dst = frame[0:6]
        group = bool(dst[0] & 1)
        for ifname, (mac, _mtu) in self.initiator.interfaces.items():
            if self._segment_of(ifname) == port.segment and (group or mac == dst):
                self.wire.send(frame, ("initiator", ifname), self.clock.now)

    # -- running ---------------------------------------------------------------------------
    def settle(self) -> None:
        """Do everything due at the current time: timers, sends, deliveries, answers."""
        initiator = self.initiator
        while True:
            now = self.clock.now
            progressed = False
            timer = initiator.get_timer()
            if timer is not None and timer <= now:
                initiator.handle_timer(now)
                progressed = True
            for ifname, frame in initiator.frames_to_send(now):
                self._from_initiator(ifname, frame)
                progressed = True
            for destination, frame in self.wire.deliver(now):
                progressed = True
                side, key = cast(tuple[str, Any], destination)
                if side == "initiator":
                    initiator.receive_frame(frame, key, now)
                else:
                    port = self.targets[key]
                    if port.alive:
                        for reply in port.engine.handle_frame(frame, now):
                            self._from_target(port, reply)
            while (event := initiator.next_event()) is not None:
                self.events.append(event)
                if isinstance(event, RequestDone | RequestFailed):
                    self._results[event.request_id] = event
            if not progressed:
                return

    def next_time(self) -> float | None:
        times = [t for t in (self.wire.next_delivery(), self.initiator.get_timer()) if t is not None]
        return min(times) if times else None

    def run_until(self, predicate: Callable[[], bool], timeout: float = 600.0) -> None:
        """Run (in fake time) until ``predicate()`` holds; TimeoutError after ``timeout`` fake seconds."""
        deadline = self.clock.now + timeout
        while True:
            self.settle()
            if predicate():
                return
            when = self.next_time()
            if when is None or when > deadline:
                raise TimeoutError(f"condition not reached within {timeout} s of fake time")
            self.clock.jump_to(when)

    def run_for(self, seconds: float) -> None:
        """Let ``seconds`` of fake time pass."""
        end = self.clock.now + seconds
        while True:
            self.settle()
            when = self.next_time()
            if when is None or when > end:
                self.clock.jump_to(end)
                self.settle()
                return
            self.clock.jump_to(when)

    # -- conveniences ----------------------------------------------------------------------
    def result(self, request_id: int, timeout: float = 600.0) -> RequestDone | RequestFailed:
        """Run until the request finishes; its RequestDone or RequestFailed."""
        self.run_until(lambda: request_id in self._results, timeout)
        return self._results.pop(request_id)

    def wait_up(self, device: DeviceAddress | tuple[int, int] | str, timeout: float = 600.0) -> None:
        address = as_address(device)

        def up() -> bool:
            return any(d.address == address and d.up for d in self.initiator.devices())

        self.run_until(up, timeout)

    def read(self, device: DeviceAddress | tuple[int, int] | str, offset: int, length: int) -> bytes:
        """Read and wait; raises the failure's exception."""
        event = self.result(self.initiator.submit_read(device, offset, length))
        if isinstance(event, RequestFailed):
            raise event.to_exception()
        return bytes(event.data or b"")

    def write(self, device: DeviceAddress | tuple[int, int] | str, offset: int, data: bytes) -> None:
        """Write and wait for every frame to be acknowledged; raises the failure's exception."""
        event = self.result(self.initiator.submit_write(device, offset, data))
        if isinstance(event, RequestFailed):
            raise event.to_exception()

    def events_of(self, kind: type[E]) -> list[E]:
        """The events of one class seen so far."""
        return [e for e in self.events if isinstance(e, kind)]


def engine_pair(
    targets: Iterable[TargetLike] = (),
    *,
    config: InitiatorConfig | None = None,
    interfaces: Mapping[str, tuple[bytes, int]] | None = None,
    wire: LossyWire | None = None,
    clock: FakeClock | None = None,
    target_segments: Sequence[str] | None = None,
) -> EnginePair:
    """An InitiatorEngine on interface eth0 (MTU 1500) with ``targets`` plugged into eth0.

    ``target_segments`` puts target i on segment target_segments[i] instead.
    """
    ifaces = dict(interfaces) if interfaces is not None else {"eth0": (INITIATOR_MAC, 1500)}
    pair = EnginePair(
        InitiatorEngine(config or InitiatorConfig(), ifaces),
        clock=clock if clock is not None else FakeClock(),
        wire=wire if wire is not None else LossyWire(),
    )
    for i, target in enumerate(targets):
        pair.add_target(target, target_segments[i] if target_segments else "eth0")
    return pair
