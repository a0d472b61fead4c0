"""Window: the driver's slow start, congestion avoidance and cut to one frame on timeout."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyaoe.initiator.window import Window


def test_new_target_starts_at_half_its_buffers() -> None:
    w = Window(16)
    assert (w.maxout, w.ssthresh, w.nframes) == (8, 8, 16)


def test_a_buffer_count_of_one_still_allows_one_frame() -> None:
    # The driver computes maxout 0 and never sends (OpenAoE/aoe issue #7).
    w = Window(1)
    assert w.maxout == 1 and w.nframes == 1


def test_slow_start_adds_one_frame_per_answer_below_ssthresh() -> None:
    w = Window(16)
    w.on_timeout()  # maxout 1, ssthresh 4
    assert (w.maxout, w.ssthresh) == (1, 4)
    for expected in (2, 3, 4):
        w.on_ack(nout=1)
        assert w.maxout == expected
    w.on_ack(nout=1)  # at ssthresh, window not full: no growth
    assert w.maxout == 4


def test_congestion_avoidance_grows_one_frame_per_full_window_of_answers() -> None:
    w = Window(16)  # maxout 8 == ssthresh 8, next_cwnd 16
    for _ in range(16):
        w.on_ack(nout=8)
    assert w.maxout == 8
    w.on_ack(nout=8)
    assert (w.maxout, w.next_cwnd) == (9, 9)
    for _ in range(9):
        w.on_ack(nout=9)
    assert w.maxout == 9
    w.on_ack(nout=9)
    assert w.maxout == 10


def test_window_never_grows_past_nframes() -> None:
    w = Window(4)
    for _ in range(100):
        w.on_ack(nout=w.maxout)
    assert w.maxout == 4


def test_timeout_halves_into_ssthresh_and_drops_to_one_but_not_twice() -> None:
    w = Window(64)
    w.maxout = 20
    w.on_timeout()
    assert (w.maxout, w.ssthresh) == (1, 10)
    w.on_timeout()  # already at one frame: ssthresh is kept, as in the driver
    assert (w.maxout, w.ssthresh) == (1, 10)


def test_smaller_buffer_count_resets_the_window() -> None:
    w = Window(16)
    w.set_nframes(4)
    assert (w.nframes, w.maxout, w.ssthresh) == (4, 1, 2)
    w.set_nframes(32)
    assert (w.nframes, w.maxout) == (32, 1)


@given(
    nframes=st.integers(1, 64),
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("ack"), st.integers(0, 70)),
            st.tuples(st.just("timeout"), st.just(0)),
            st.tuples(st.just("reset"), st.just(0)),
            st.tuples(st.just("nframes"), st.integers(1, 64)),
        ),
        max_size=80,
    ),
)
def test_growing_is_false_only_while_an_answer_would_change_nothing(
    nframes: int, steps: list[tuple[str, int]]
) -> None:
    """The receive path skips on_ack() while ``growing`` is False: that must lose nothing."""
    w = Window(nframes)
    for op, n in steps:
        if op == "ack":
            w.on_ack(n)
        elif op == "timeout":
            w.on_timeout()
        elif op == "reset":
            w.reset()
        else:
            w.set_nframes(n)
        assert w.growing == (w.maxout < w.nframes)
        if not w.growing:
            before = (w.maxout, w.ssthresh, w.next_cwnd)
            for nout in (0, 1, w.maxout, w.maxout + 1):
                w.on_ack(nout)
            assert (w.maxout, w.ssthresh, w.next_cwnd) == before
