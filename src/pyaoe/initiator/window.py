"""pyaoe.initiator.window: how many frames may be outstanding to one target (its congestion window).

The driver's policy (aoecmd.c calc_rttavg, rexmit_timer, aoecmd_wreset): start at half the
frames the target can take, grow by one per answer up to ssthresh, then by one per full
window, and on a timeout remember half the window as ssthresh and drop to one frame.
"""

from __future__ import annotations

__all__ = ["Window"]


class Window:
    """Congestion window of one target.

    ``nframes`` is the cap: the target's buffer count, limited by maxout. ``maxout`` is the
    current window, ``ssthresh`` the slow-start threshold. ``growing`` is False while an answer
    would change nothing (the window is at its cap): callers may skip on_ack() then, as answers
    are many. Every method that moves maxout or nframes keeps it current.
    """

    __slots__ = ("growing", "maxout", "next_cwnd", "nframes", "ssthresh")

    def __init__(self, nframes: int) -> None:
        self.nframes = max(1, nframes)
        # A new target starts at half its buffers. The driver then has maxout 0 for a buffer
        # count of 1 and never sends (OpenAoE/aoe issue #7); one frame is always allowed here.
        self.maxout = max(1, self.nframes // 2)
        self.ssthresh = max(1, self.nframes // 2)
        self.next_cwnd = self.nframes
        self.growing = self.maxout < self.nframes

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

    def on_timeout(self) -> None:
        """A frame timed out. Repeated timeouts at one frame keep ssthresh, as in the driver."""
        if self.maxout != 1:
            self.ssthresh = max(1, self.maxout // 2)
            self.maxout = 1
            self.growing = self.maxout < self.nframes
