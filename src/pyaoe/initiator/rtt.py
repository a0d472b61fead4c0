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

    def __init__(self, initial_rto: float = 0.25, min_rto: float = 0.05, max_rto: float = 2.0) -> None:
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

        The engine's fast path (InitiatorEngine.receive_frame) repeats this arithmetic inline.
        """
        if sample < 0:
            return
        self.samples += 1
        if self.srtt is None:
            self.srtt = sample
            self.rttvar = sample / 2
        else:
            self.rttvar += (abs(self.srtt - sample) - self.rttvar) / 4
            self.srtt += (sample - self.srtt) / 8
        self._update_rto()

    def _update_rto(self) -> None:
        srtt = self.srtt
        rto = self.initial_rto if srtt is None else srtt + 4 * self.rttvar
        self.rto = min(self.max_rto, max(self.min_rto, rto))

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
        self._update_rto()
