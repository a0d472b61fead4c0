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


class _Run(Generic[T]):
    """Items queued in the FIFO with one deadline, in the order they were scheduled."""

    __slots__ = ("cursor", "items", "seq", "when")

    def __init__(self, when: float, seq: int, items: list[T]) -> None:
        self.when = when
        #: Numbered once for all its items: they were all queued before any item that has a
        #: higher number and the same time (the heap only takes times earlier than the last
        #: run's, and only the last run grows).
        self.seq = seq
        self.items = items
        #: Items before this one were popped or went stale.
        self.cursor = 0


class TimerQueue(Generic[T]):
    """Items keyed by their deadlines, popped earliest first (ties: first scheduled first).

    Frame timeouts are mostly scheduled in rising order (now + RTO), and a burst of frames
    shares one deadline: such items join a run at the end of a FIFO (one list append each,
    no heap push, no entry of their own); an item earlier than the FIFO's last run goes to
    a heap of (when, seq, item). The two are merged when read.
    """

    __slots__ = ("_fifo", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._fifo: deque[_Run[T]] = deque()
        self._seq = count()

    def schedule(self, item: T, when: float) -> None:
        """Set ``item.deadline`` to ``when`` and queue it; an earlier entry for it goes stale."""
        item.deadline = when
        if when == NEVER:
            return
        fifo = self._fifo
        last = fifo[-1].when if fifo else -NEVER
        if when == last:
            fifo[-1].items.append(item)
        elif when > last:
            fifo.append(_Run(when, next(self._seq), [item]))
        else:
            heapq.heappush(self._heap, (when, next(self._seq), item))

    def schedule_run(self, items: Sequence[T], when: float) -> None:
        """schedule(item, when) for each of ``items``, in order (one call for a burst of frames)."""
        if not items:
            return
        fifo = self._fifo
        if when == NEVER or (fifo and when < fifo[-1].when):
            for item in items:
                self.schedule(item, when)
            return
        for item in items:
            item.deadline = when
        if fifo and when == fifo[-1].when:
            fifo[-1].items.extend(items)
        else:
            fifo.append(_Run(when, next(self._seq), list(items)))

    @staticmethod
    def cancel(item: T) -> None:
        item.deadline = NEVER

    def _front(self, limit: float) -> tuple[float, int, T] | _Run[T] | None:
        """The first live entry due by ``limit``: a heap entry, or a run whose item at its
        cursor is it. Stale entries are dropped only when they come first, as one heap
        ordered by (time, sequence) would drop them (an item moved back to the time of a
        stale entry makes it live again)."""
        heap = self._heap
        fifo = self._fifo
        while True:
            run = fifo[0] if fifo else None
            top = heap[0] if heap else None
            if run is not None and (top is None or (run.when, run.seq) < (top[0], top[1])):
                # The whole run comes first (its items share a place): skip its stale items.
                when = run.when
                if when > limit:
                    return None
                items = run.items
                cursor = run.cursor
                end = len(items)
                while cursor < end and items[cursor].deadline != when:
                    cursor += 1
                run.cursor = cursor
                if cursor < end:
                    return run
                fifo.popleft()
            elif top is not None:
                if top[0] > limit:
                    return None
                if top[2].deadline == top[0]:
                    return top
                heapq.heappop(heap)
            else:
                return None

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None."""
        first = self._front(NEVER)
        if first is None:
            return None
        return first.when if isinstance(first, _Run) else first[0]

    def pop_due(self, now: float) -> list[T]:
        """Remove and return, earliest first, every live item due at ``now`` (their deadlines
        become NEVER; reschedule to keep them)."""
        due = []
        while (first := self._front(now)) is not None:
            if isinstance(first, _Run):
                item = first.items[first.cursor]
                first.cursor += 1
                if first.cursor == len(first.items):
                    self._fifo.popleft()
            else:
                heapq.heappop(self._heap)
                item = first[2]
            item.deadline = NEVER
            due.append(item)
        return due

    def __len__(self) -> int:
        """Entries queued, stale ones included."""
        return len(self._heap) + sum(len(run.items) - run.cursor for run in self._fifo)
