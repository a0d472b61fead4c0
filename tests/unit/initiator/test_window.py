"""Window: the driver's slow start and congestion avoidance, and a cut by half (once per window,
never below two frames) on a loss."""

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
    w.reset()  # maxout 1, ssthresh 8 (revalidate)
    assert (w.maxout, w.ssthresh) == (1, 8)
    for expected in range(2, 9):
        w.on_ack(nout=1)
        assert w.maxout == expected
    w.on_ack(nout=1)  # at ssthresh, window not full: no growth
    assert w.maxout == 8


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


def test_a_loss_halves_the_window_into_ssthresh_once_per_window_of_frames() -> None:
    w = Window(64)
    w.maxout = 20
    w.on_loss(seq=5, sent=30)  # frames 1-30 were out when the 5th was found lost
    assert (w.maxout, w.ssthresh, w.recover) == (10, 10, 30)
    w.on_loss(seq=30, sent=31)  # sent before the cut: the same window, paid for already
    assert (w.maxout, w.ssthresh) == (10, 10)
    w.on_loss(seq=31, sent=40)  # sent after the cut: a new loss
    assert (w.maxout, w.ssthresh, w.recover) == (5, 5, 40)


def test_a_loss_never_cuts_below_two_frames_nor_raises_a_window_of_one() -> None:
    w = Window(64)
    w.maxout = 3
    w.on_loss(seq=1, sent=3)
    assert (w.maxout, w.ssthresh) == (2, 2)
    w.on_loss(seq=4, sent=5)
    assert (w.maxout, w.ssthresh) == (2, 2)
    w.reset()
    w.on_loss(seq=6, sent=6)
    assert w.maxout == 1
    one = Window(1)
    one.on_loss(seq=1, sent=1)
    assert (one.maxout, one.ssthresh) == (1, 1)


def test_after_a_cut_the_window_grows_one_frame_per_full_window() -> None:
    w = Window(32)
    w.maxout = 16
    w.on_loss(seq=1, sent=16)
    assert (w.maxout, w.next_cwnd) == (8, 8)
    for _ in range(8):
        w.on_ack(nout=8)
    assert w.maxout == 8
    w.on_ack(nout=8)
    assert w.maxout == 9


def test_a_cut_is_undone_only_for_the_loss_that_made_it() -> None:
    w = Window(64)
    w.maxout = 20
    lost, other = object(), object()
    w.on_loss(seq=5, sent=30, by=lost)
    w.on_loss(seq=6, sent=30, by=other)  # the same window: no second cut
    w.spurious(other)
    assert (w.maxout, w.ssthresh) == (10, 10)
    w.spurious(lost)
    assert (w.maxout, w.ssthresh, w.next_cwnd) == (20, 32, 64)
    w.spurious(lost)  # once
    assert w.maxout == 20 and w.growing


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
            st.tuples(st.just("loss"), st.integers(0, 200)),
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
        elif op == "loss":
            w.on_loss(n, n + 8)
        elif op == "reset":
            w.reset()
        else:
            w.set_nframes(n)
        assert w.growing == (w.maxout < w.nframes)
        assert 1 <= w.maxout <= w.nframes and w.ssthresh >= 1
        if not w.growing:
            before = (w.maxout, w.ssthresh, w.next_cwnd)
            for nout in (0, 1, w.maxout, w.maxout + 1):
                w.on_ack(nout)
            assert (w.maxout, w.ssthresh, w.next_cwnd) == before
