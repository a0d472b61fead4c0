"""pyaoe.initiator.paths: the local interfaces one target answers on, and which one a frame takes.

Frames rotate over the interfaces (the driver's ifrotate); timeouts count against the interface a
frame went out on, an answer clears the count, and an interface losing too many is given up.
What is out on each interface, in the order it was sent, shows a loss before the timer does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Paths", "MAX_INTERFACES"]

#: Local interfaces remembered per target (the driver's NAOEIFS).
MAX_INTERFACES = 8


class Paths:
    """The interfaces of one target, in the order they were found, with a loss count each."""

    __slots__ = ("losses", "lost", "names", "next_index", "outstanding", "sent")

    def __init__(self) -> None:
        #: Interface names; read it, change it only through add() and remove().
        self.names: list[str] = []
        #: Frames timed out per interface since its last answer, and their sum.
        self.lost: dict[str, int] = {}
        self.losses = 0
        self.next_index = 0
        #: Per interface: the exchanges out on it, oldest send first (InFlight.send adds them,
        #: retiring, a timeout or a fast retransmit takes them out), and its sends so far.
        self.outstanding: dict[str, dict[Any, None]] = {}
        self.sent: dict[str, int] = {}

    def add(self, name: str) -> bool:
        """The target answered on ``name``; True when that interface is new to it."""
        if name in self.lost:
            self._forgive(name)
            return False
        if len(self.names) >= MAX_INTERFACES:
            return False
        self.names.append(name)
        self.lost[name] = 0
        self.outstanding[name] = {}
        self.sent.setdefault(name, 0)
        return True

    def remove(self, name: str) -> bool:
        if name not in self.lost:
            return False
        self.names.remove(name)
        self.losses -= self.lost.pop(name)
        # What is out on it times out as it would; no answer there can show a loss any more.
        for exchange in self.outstanding.pop(name):
            exchange.on_path = None
        if self.next_index >= len(self.names):
            self.next_index = 0
        return True

    def take(self, count: int) -> list[str]:
        """The interfaces for the next ``count`` frames: successive frames rotate over all of them."""
        names = self.names
        i = self.next_index
        if len(names) == 1:
            self.next_index = 1
            return names * count
        taken = []
        n = len(names)
        for _ in range(count):
            if i >= n:
                i = 0
            taken.append(names[i])
            i += 1
        self.next_index = i
        return taken

    def answered(self, name: str) -> None:
        """An answer came in on ``name``: its losses are forgiven (nothing to do while
        ``losses`` is 0, which a caller may check first: answers are many)."""
        if self.losses:
            self._forgive(name)

    def _forgive(self, name: str) -> None:
        lost = self.lost.get(name)
        if lost:
            self.losses -= lost
            self.lost[name] = 0

    def timed_out(self, name: str, limit: int) -> bool:
        """A frame sent on ``name`` timed out; True when the interface is to be given up: it lost
        more than ``limit`` frames in a row and the target has another one."""
        lost = self.lost.get(name)
        if lost is None:
            return False
        lost += 1
        self.lost[name] = lost
        self.losses += 1
        return lost > limit and len(self.names) > 1
