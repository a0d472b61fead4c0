"""pyaoe.initiator.ratelimit: how often messages about peers' frames may be written (net_ratelimit).

A peer sending junk must not flood the logs: a burst of 10 every 5 s, as the kernel's defaults.
"""

from __future__ import annotations

__all__ = ["RateLimit"]


class RateLimit:
    """At most ``burst`` messages every ``interval`` seconds."""

    __slots__ = ("burst", "count", "interval", "start", "suppressed")

    def __init__(self, interval: float = 5.0, burst: int = 10) -> None:
        self.interval = interval
        self.burst = burst
        self.start = -interval
        self.count = 0
        self.suppressed = 0

    def allow(self, now: float) -> int | None:
        """None when no message may be written now, else how many were held back since the last."""
        if now - self.start >= self.interval or now < self.start:
            self.start = now
            self.count = 0
        if self.count >= self.burst:
            self.suppressed += 1
            return None
        self.count += 1
        suppressed, self.suppressed = self.suppressed, 0
        return suppressed
