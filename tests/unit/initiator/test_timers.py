"""TimerQueue: earliest first, ties in scheduling order, moved and cancelled items, runs of items."""

from __future__ import annotations

import heapq
from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.initiator.timers import NEVER, Timer, TimerKind, TimerQueue


class ModelQueue:
    """The specification: one heap of (when, seq, item), live while item.deadline == when."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Timer]] = []
        self.seq = count()

    def schedule(self, item: Timer, when: float) -> None:
        item.deadline = when
        if when != NEVER:
            heapq.heappush(self.heap, (when, next(self.seq), item))

    def next_deadline(self) -> float | None:
        while self.heap:
            when, _, item = self.heap[0]
            if item.deadline == when:
                return when
            heapq.heappop(self.heap)
        return None

    def pop_due(self, now: float) -> list[Timer]:
        due = []
        while self.heap and self.heap[0][0] <= now:
            when, _, item = heapq.heappop(self.heap)
            if item.deadline == when:
                item.deadline = NEVER
                due.append(item)
        return due


ITEMS = 6
# Few distinct times, so that ties and runs with one deadline are common.
times = st.sampled_from([1.0, 2.0, 2.0, 3.0, 5.0, 8.0, NEVER])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), st.integers(0, ITEMS - 1), times),
        st.tuples(st.just("run"), st.lists(st.integers(0, ITEMS - 1), max_size=4), times),
        st.tuples(st.just("cancel"), st.integers(0, ITEMS - 1), times),
        st.tuples(st.just("pop"), st.integers(0, 0), st.sampled_from([0.0, 1.0, 2.0, 4.0, 9.0])),
        st.tuples(st.just("peek"), st.integers(0, 0), times),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(operations)
def test_the_queue_pops_what_a_single_heap_would(ops: list[tuple[str, object, float]]) -> None:
    queue: TimerQueue[Timer] = TimerQueue()
    model = ModelQueue()
    mine = [Timer(TimerKind.PROBE, i) for i in range(ITEMS)]
    theirs = [Timer(TimerKind.PROBE, i) for i in range(ITEMS)]
    for op, arg, when in ops:
        if op == "schedule":
            assert isinstance(arg, int)
            queue.schedule(mine[arg], when)
            model.schedule(theirs[arg], when)
        elif op == "run":
            assert isinstance(arg, list)
            queue.schedule_run([mine[i] for i in arg], when)
            for i in arg:
                model.schedule(theirs[i], when)
        elif op == "cancel":
            assert isinstance(arg, int)
            queue.cancel(mine[arg])
            theirs[arg].deadline = NEVER
        elif op == "pop":
            assert [t.subject for t in queue.pop_due(when)] == [t.subject for t in model.pop_due(when)]
        else:
            assert queue.next_deadline() == model.next_deadline()
        assert [t.deadline for t in mine] == [t.deadline for t in theirs]
    assert [t.subject for t in queue.pop_due(NEVER)] == [t.subject for t in model.pop_due(NEVER)]
    assert queue.next_deadline() is None


def test_a_run_keeps_its_order_and_gives_way_to_earlier_ties() -> None:
    queue: TimerQueue[Timer] = TimerQueue()
    a, b, c, d, e = (Timer(TimerKind.PROBE, name) for name in "abcde")
    queue.schedule(a, 5.0)  # FIFO
    queue.schedule(b, 7.0)  # FIFO, after a
    queue.schedule(c, 5.0)  # earlier than the last run: heap, after a
    queue.schedule_run([d, e], 7.0)  # joins b's run
    queue.schedule(a, 9.0)  # moved: its entry at 5 goes stale
    assert queue.next_deadline() == 5.0
    assert [t.subject for t in queue.pop_due(7.0)] == ["c", "b", "d", "e"]
    assert queue.next_deadline() == 9.0 and queue.pop_due(9.0) == [a]
    assert queue.next_deadline() is None
