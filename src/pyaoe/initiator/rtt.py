"""pyaoe.initiator.rtt: round-trip time estimate and retransmission timeout of one target.

Jacobson/Karels smoothing (RFC 6298 gains) with bounds; the driver's calc_rttavg/rto idea
without its 16-second first timeout.
"""

from __future__ import annotations

__all__ = ["RttEstimator"]


class RttEstimator:
    """Smoothed RTT, RTT variation and the retransmission timeout derived from them.

    Before the first sample the timeout is ``initial_rto``. Each sample moves the average by
    1/8 and the variation by 1/4 of the difference; the timeout is average + 4 x variation,
    kept within [min_rto, max_rto]. The driver uses gains of 1/256 and 1/8 and a timeout of
    2 x average + 8 x variation, which starts near 16 s and adapts slowly.
    """

    __slots__ = ("initial_rto", "max_rto", "min_rto", "rto", "rttvar", "samples", "srtt")

    def __init__(self, initial_rto: float = 0.25, min_rto: float = 0.005, max_rto: float = 2.0) -> None:
        if not 0 < min_rto <= initial_rto <= max_rto:
            raise ValueError("need 0 < min_rto <= initial_rto <= max_rto")
        self.initial_rto = initial_rto
        self.min_rto = min_rto
        self.max_rto = max_rto
        #: Smoothed round-trip time; None until the first sample.
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.samples = 0
        #: The retransmission timeout for a frame sent once (kept current: it is read per frame).
        self.rto = initial_rto

    def update(self, sample: float) -> None:
        """Take one measured round trip (seconds); negative samples (clock trouble) are ignored.

        Called for every answer: the arithmetic stays in locals, the bounds are comparisons.
        """
        if sample < 0:
            return
        self.samples += 1
        srtt = self.srtt
        if srtt is None:
            srtt = sample
            rttvar = sample / 2
        else:
            rttvar = self.rttvar
            rttvar += (abs(srtt - sample) - rttvar) / 4
            srtt += (sample - srtt) / 8
        self.srtt = srtt
        self.rttvar = rttvar
        rto = srtt + 4 * rttvar
        if rto < self.min_rto:
            rto = self.min_rto
        elif rto > self.max_rto:
            rto = self.max_rto
        self.rto = rto

    def backoff(self, transmissions: int) -> float:
        """The timeout for a frame's ``transmissions``-th send: doubled per resend, capped."""
        if transmissions <= 1:
            return self.rto
        return min(self.max_rto, self.rto * (1 << min(transmissions - 1, 16)))

    def reset(self) -> None:
        """Forget every sample (revalidate does this, as the driver's cleanslate)."""
        self.srtt = None
        self.rttvar = 0.0
        self.samples = 0
        self.rto = self.initial_rto
