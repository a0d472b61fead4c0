"""pyaoe.initiator.timers: the engine's deadlines in one heap (frame timeouts, probes, discovery...).

An entry is live while its item's ``deadline`` still equals the entry's time: moving a
deadline is a push, cancelling is setting it to NEVER, and stale entries fall out lazily.
"""

from __future__ import annotations

import heapq
from enum import Enum
from itertools import count
from typing import Generic, Protocol, TypeVar

__all__ = ["TimerQueue", "Timer", "TimerKind", "NEVER", "HasDeadline"]

#: The deadline of something not scheduled.
NEVER = float("inf")


class HasDeadline(Protocol):
    deadline: float


T = TypeVar("T", bound=HasDeadline)


class TimerKind(Enum):
    DISCOVER = "discover"
    PROBE = "probe"
    FENCE = "fence"
    STALL = "stall"


class Timer:
    """A named deadline about some subject (a device, a target, a request)."""

    __slots__ = ("deadline", "kind", "subject")

    def __init__(self, kind: TimerKind, subject: object = None) -> None:
        self.kind = kind
        self.subject = subject
        self.deadline = NEVER


class TimerQueue(Generic[T]):
    """A heap of items keyed by their deadlines."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._seq = count()

    def schedule(self, item: T, when: float) -> None:
        """Set ``item.deadline`` to ``when`` and queue it; an earlier entry for it goes stale."""
        item.deadline = when
        if when != NEVER:
            heapq.heappush(self._heap, (when, next(self._seq), item))

    @staticmethod
    def cancel(item: T) -> None:
        item.deadline = NEVER

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None."""
        heap = self._heap
        while heap:
            when, _, item = heap[0]
            if item.deadline == when:
                return when
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[T]:
        """Remove and return, earliest first, every live item due at ``now`` (their deadlines
        become NEVER; reschedule to keep them)."""
        heap = self._heap
        due = []
        while heap and heap[0][0] <= now:
            when, _, item = heapq.heappop(heap)
            if item.deadline == when:
                item.deadline = NEVER
                due.append(item)
        return due

    def __len__(self) -> int:
        return len(self._heap)
