"""pyaoe.initiator.options: the initiator's settings, named after the Linux aoe driver's options.

InitiatorConfig (iflist, deadsecs, maxout, dyndevs, timer bounds) and the iflist parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["InitiatorConfig", "parse_iflist", "IFLIST_MAX", "DEFAULT_DEADSECS", "DEFAULT_MAXOUT"]

#: aoe_deadsecs default (aoecmd.c): fail the device after a frame has waited this long.
DEFAULT_DEADSECS = 180.0
#: aoe_maxout default as documented (Documentation/admin-guide/aoe; the 6.1 binary has 64).
DEFAULT_MAXOUT = 128
#: The driver's iflist buffer: a list of 1024 bytes or more is refused.
IFLIST_MAX = 1024
#: The driver splits aoe_iflist on these (aoe.h WHITESPACE, plus the comma).
_SEPARATORS = re.compile(r"[ \t\v\f\n\r,\x00]+")


def parse_iflist(value: str | Iterable[str]) -> tuple[str, ...]:
    """Interface names from an iflist: a string split as the driver splits it, or names.

    Raises ValueError for a list of 1024 bytes or more, with the driver's message.
    """
    if isinstance(value, str):
        text = value
        names = [n for n in _SEPARATORS.split(value) if n]
    else:
        names = [str(n) for n in value]
        text = " ".join(names)
        if any(not n or _SEPARATORS.search(n) for n in names):
            raise ValueError(f"not an interface name in {names!r}")
    if len(text.encode()) >= IFLIST_MAX:
        raise ValueError("could not set interface list: too many interfaces")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class InitiatorConfig:
    """Settings of an InitiatorEngine. Times are seconds (floats)."""

    #: Interfaces AoE may use (aoe_iflist); empty means every interface given to the engine.
    iflist: tuple[str, ...] = ()
    #: Fail the device when a frame has waited this long (aoe_deadsecs); 0 retries forever.
    deadsecs: float = DEFAULT_DEADSECS
    #: Most frames outstanding to one target MAC (aoe_maxout); the target's buffer count caps it too.
    maxout: int = DEFAULT_MAXOUT
    #: Dynamic minor numbers (aoe_dyndevs). False limits slots to 0-15 as static minors do.
    dyndevs: bool = True
    #: Broadcast a Query Config this often (the driver: every 60 s); 0 turns it off.
    discover_interval: float = 60.0
    #: Send the first discovery at the first handle_timer() (the driver does at load).
    discover_at_start: bool = True
    #: Seconds after the first discovery at which it is sent again: a Query Config or answer
    #: lost on the wire then costs seconds, not the 60 s to the next periodic discovery.
    discover_again: tuple[float, ...] = (1.0, 3.0)
    #: Retransmission timeout before any round trip was measured. The driver starts near 16 s
    #: (its deviation is initialised in the wrong scale); 250 ms is its intended average.
    initial_rto: float = 0.25
    #: Bounds of the computed retransmission timeout (smoothed RTT + 4 x its variation). The
    #: floor is low enough that on a LAN the timeout follows the measured round trip; it is
    #: there for clocks and schedulers, not for the wire.
    min_rto: float = 0.005
    max_rto: float = 2.0
    #: A frame is resent without waiting for its timeout when this many frames sent after it
    #: on the same interface were answered (all of them when fewer were sent): fast
    #: retransmit. 0 turns it off: only timeouts resend, as in the driver.
    fast_retransmit: int = 3
    #: A frame unanswered this long by one target taints that target and moves to another
    #: (the driver's HARD_SCORN_SECS; deadsecs divided by the number of targets if smaller).
    scorn_secs: float = 10.0
    #: First tag handed out. Pass a random 31-bit number from the I/O edge so that tags differ
    #: between runs; the engine itself never makes randomness.
    tag_start: int = 1

    def __post_init__(self) -> None:
        if self.deadsecs < 0:
            raise ValueError(f"deadsecs {self.deadsecs} is negative")
        if self.maxout < 1:
            raise ValueError(f"maxout {self.maxout} must be at least 1")
        if self.discover_interval < 0:
            raise ValueError(f"discover_interval {self.discover_interval} is negative")
        if any(b <= a for a, b in zip((0.0, *self.discover_again), self.discover_again, strict=False)):
            raise ValueError(f"discover_again {self.discover_again} must be positive and rising")
        if not 0 < self.min_rto <= self.initial_rto <= self.max_rto:
            raise ValueError("need 0 < min_rto <= initial_rto <= max_rto")
        if self.fast_retransmit < 0:
            raise ValueError(f"fast_retransmit {self.fast_retransmit} is negative")
        if self.scorn_secs <= 0:
            raise ValueError(f"scorn_secs {self.scorn_secs} must be positive")
        object.__setattr__(self, "iflist", parse_iflist(self.iflist))
