"""pyaoe.initiator.outbox: the frames the engine wants sent, in order, until the driver takes them.

Taken as (interface, bytes) pairs by frames_to_send(), or written straight into the driver's
send buffers (sendmmsg's) by frames_to_send_into(), one interface at a time.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

__all__ = ["Outbox", "SendBuffer"]

#: A writable buffer the driver sends from (a bytearray, or a memoryview of one, or of ctypes memory).
SendBuffer = bytearray | memoryview


class Outbox:
    """Frames waiting to be sent, in order.

    While open() for one interface, that interface's frames go into the given buffers as they
    are made, in order, until the buffers run out; the later ones wait here (the order holds:
    they go first into the next call's buffers). A frame too long for the buffers waits here
    too, and open() drops it. InFlight.send writes ATA requests into ``buffers`` itself (the
    same rule: the open interface's, while a buffer is left and the frame fits) and appends
    their lengths to ``lengths``; emit() is for every other frame.
    """

    __slots__ = ("buffers", "frames", "ifname", "lengths")

    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes]] = []
        #: While open: the interface, its buffers, and the lengths of the frames written.
        self.ifname: str | None = None
        self.buffers: Sequence[SendBuffer] = ()
        self.lengths: list[int] = []

    def emit(self, ifname: str, wire: bytes) -> None:
        """Queue one frame (into the open buffers when it is their interface's and fits)."""
        if ifname == self.ifname:
            lengths = self.lengths
            k = len(lengths)
            n = len(wire)
            if k < len(self.buffers) and n <= len(self.buffers[k]):
                self.buffers[k][:n] = wire
                lengths.append(n)
                return
        self.frames.append((ifname, wire))

    def take(self) -> list[tuple[str, bytes]]:
        """Every frame waiting, in order; the outbox is empty after."""
        frames = self.frames
        self.frames = []
        return frames

    def open(self, ifname: str, buffers: Sequence[SendBuffer], interfaces: Container[str]) -> None:
        """Write ``ifname``'s frames into ``buffers`` from now on, the waiting ones first.

        Waiting frames for interfaces not in ``interfaces`` any more are dropped (nobody will
        ask for them), and so is one too long for the buffers (an MTU that shrank since it
        was made): the frames are lost, as on a wire, and resent after their timeouts.
        """
        self.ifname = ifname
        self.buffers = buffers
        self.lengths = []
        if not self.frames:
            return
        waiting = self.frames
        self.frames = []
        for name, wire in waiting:
            if name not in interfaces:
                continue
            if name == ifname and len(wire) > len(buffers[0] if buffers else b""):
                continue
            self.emit(name, wire)

    def close(self) -> list[int]:
        """Stop writing into the buffers; the lengths of the frames written, in order."""
        lengths = self.lengths
        self.ifname = None
        self.buffers = ()
        self.lengths = []
        return lengths
