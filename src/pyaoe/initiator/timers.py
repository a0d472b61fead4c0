"""pyaoe.initiator.timers: the engine's deadlines in one queue (frame timeouts, probes, discovery...).

An entry is live while its item's ``deadline`` still equals the entry's time: moving a
deadline is a push, cancelling is setting it to NEVER, and stale entries fall out lazily.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
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
    """Items keyed by their deadlines, popped earliest first (ties: first scheduled first).

    Frame timeouts are mostly scheduled in rising order (now + RTO), so an entry not earlier
    than the last one queued goes to the end of a FIFO (no heap push); the rest go to a
    heap. Both hold (when, seq, item) and are merged when read.
    """

    __slots__ = ("_fifo", "_heap", "_last", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._fifo: deque[tuple[float, int, T]] = deque()
        #: The time of the FIFO's last entry (-inf when it is empty).
        self._last = -NEVER
        self._seq = count()

    def schedule(self, item: T, when: float) -> None:
        """Set ``item.deadline`` to ``when`` and queue it; an earlier entry for it goes stale."""
        item.deadline = when
        if when != NEVER:
            if when >= self._last:
                self._fifo.append((when, next(self._seq), item))
                self._last = when
            else:
                heapq.heappush(self._heap, (when, next(self._seq), item))

    def schedule_run(self, items: Sequence[T], when: float) -> None:
        """schedule(item, when) for each of ``items``, in order (one call for a burst of frames)."""
        seq = self._seq
        if when >= self._last:
            append = self._fifo.append
            for item in items:
                item.deadline = when
                append((when, next(seq), item))
            if items:
                self._last = when
        else:
            for item in items:
                self.schedule(item, when)

    @staticmethod
    def cancel(item: T) -> None:
        item.deadline = NEVER

    def _first(self) -> tuple[float, int, T] | None:
        """The earliest live entry (stale ones in front are dropped), not removed."""
        heap = self._heap
        while heap:
            entry = heap[0]
            if entry[2].deadline == entry[0]:
                break
            heapq.heappop(heap)
        fifo = self._fifo
        while fifo:
            entry = fifo[0]
            if entry[2].deadline == entry[0]:
                break
            fifo.popleft()
        else:
            self._last = -NEVER
        if not heap:
            return fifo[0] if fifo else None
        if not fifo:
            return heap[0]
        return heap[0] if heap[0] < fifo[0] else fifo[0]

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None."""
        entry = self._first()
        return None if entry is None else entry[0]

    def pop_due(self, now: float) -> list[T]:
        """Remove and return, earliest first, every live item due at ``now`` (their deadlines
        become NEVER; reschedule to keep them)."""
        due = []
        while (entry := self._first()) is not None and entry[0] <= now:
            if self._heap and entry is self._heap[0]:
                heapq.heappop(self._heap)
            else:
                self._fifo.popleft()
            item = entry[2]
            item.deadline = NEVER
            due.append(item)
        return due

    def __len__(self) -> int:
        return len(self._heap) + len(self._fifo)
