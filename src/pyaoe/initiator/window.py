"""pyaoe.initiator.window: how many frames may be outstanding to one target (its congestion window).

The driver's growth (aoecmd.c calc_rttavg, aoecmd_wreset): start at half the frames the target
can take, grow by one per answer up to ssthresh, then by one per full window. A loss (a timeout
or a fast retransmit) halves the window, once per window of frames, never below two frames,
where the driver drops to one frame on every timeout and then crawls back by one per answer.
"""

from __future__ import annotations

__all__ = ["Window", "MIN_CUT"]

#: A loss never cuts the window below this many frames (nor above the cap): with one frame out,
#: no later answer can show the next loss, and every loss would wait for the timer.
MIN_CUT = 2


class Window:
    """Congestion window of one target.

    ``nframes`` is the cap: the target's buffer count, limited by maxout. ``maxout`` is the
    current window, ``ssthresh`` the slow-start threshold. ``growing`` is False while an answer
    would change nothing (the window is at its cap): callers may skip on_ack() then, as answers
    are many. Every method that moves maxout or nframes keeps it current. ``recover`` is the
    target's send count at the last cut: a loss of a frame sent before it was part of the window
    that cut already paid for.
    """

    __slots__ = ("before_cut", "cut_by", "growing", "maxout", "next_cwnd", "nframes", "recover", "ssthresh")

    def __init__(self, nframes: int) -> None:
        self.nframes = max(1, nframes)
        # A new target starts at half its buffers. The driver then has maxout 0 for a buffer
        # count of 1 and never sends (OpenAoE/aoe issue #7); one frame is always allowed here.
        self.maxout = max(1, self.nframes // 2)
        self.ssthresh = max(1, self.nframes // 2)
        self.next_cwnd = self.nframes
        self.growing = self.maxout < self.nframes
        self.recover = 0
        #: What the last cut took (maxout, ssthresh, next_cwnd) and the frame it was for, until
        #: an answer shows that frame was not lost after all (spurious()) or the next cut.
        self.before_cut: tuple[int, int, int] | None = None
        self.cut_by: object = None

    def reset(self) -> None:
        """Back to one frame, ssthresh at half the cap (the driver's aoecmd_wreset)."""
        self.maxout = 1
        self.ssthresh = max(1, self.nframes // 2)
        self.next_cwnd = self.nframes
        self.growing = self.maxout < self.nframes

    def set_nframes(self, nframes: int) -> None:
        """A new buffer count arrived; shrinking below the window resets it, as the driver does."""
        self.nframes = max(1, nframes)
        if self.nframes < self.maxout:
            self.reset()
        self.growing = self.maxout < self.nframes

    def on_ack(self, nout: int) -> None:
        """A frame was answered; ``nout`` counts the outstanding frames including that one."""
        maxout = self.maxout
        if maxout >= self.nframes:
            return
        if maxout < self.ssthresh:
            maxout += 1
        elif nout == maxout:
            # Congestion avoidance: one more frame after a whole window of full-window answers.
            if self.next_cwnd == 0:
                maxout += 1
                self.next_cwnd = maxout
            else:
                self.next_cwnd -= 1
        self.maxout = maxout
        self.growing = maxout < self.nframes

    def on_loss(self, seq: int, sent: int, by: object = None) -> None:
        """The frame the target got as its ``seq``-th (``by``, the exchange) was lost; ``sent``
        frames have gone to it so far. The first loss of a window halves it (ssthresh too:
        growth goes on by one per full window); losses of frames sent before that cut change
        nothing more."""
        if seq <= self.recover:
            return
        self.recover = sent
        maxout = self.maxout
        self.before_cut = (maxout, self.ssthresh, self.next_cwnd)
        self.cut_by = by
        cut = maxout // 2
        if cut < MIN_CUT:
            cut = MIN_CUT if maxout > MIN_CUT else maxout
        self.maxout = self.ssthresh = cut
        self.next_cwnd = cut
        self.growing = cut < self.nframes

    def spurious(self, by: object) -> None:
        """The send taken as lost that made the last cut was answered after all (it was late,
        not lost): the cut is undone, as TCP's Eifel response does. Any other frame: nothing."""
        before = self.before_cut
        if before is None or by is not self.cut_by:
            return
        self.maxout, self.ssthresh, self.next_cwnd = before
        if self.maxout > self.nframes:
            self.maxout = self.nframes
        self.before_cut = None
        self.cut_by = None
        self.growing = self.maxout < self.nframes
