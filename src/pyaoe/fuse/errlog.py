"""pyaoe.fuse.errlog: the err file's stream: the driver's ring of the last 100 diagnostic lines, read
through per-open cursors that block until a line comes, and the check that lets a blocked reader go.

FUSE gives a file system no word when a reader is interrupted (pyfuse3 has no interrupt
callback), and the kernel keeps the reader waiting for our answer even after a signal; so a
waiting read looks every WAKE_INTERVAL at the reader's pending signals and answers EINTR.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio

__all__ = ["ErrLog", "ErrCursor", "RING_LINES", "WAKE_INTERVAL", "signal_pending"]

#: The driver keeps this many undelivered messages (aoechr.c NMSG).
RING_LINES = 100
#: How often a blocked reader checks whether it was interrupted.
WAKE_INTERVAL = 0.2


@dataclass(slots=True)
class ErrCursor:
    """Where one open of err stands: the next line's sequence number and bytes of it already read."""

    line: int
    skip: int = 0


class ErrLog:
    """Diagnostic lines with sequence numbers; the oldest fall out beyond ``capacity``."""

    def __init__(self, capacity: int = RING_LINES) -> None:
        self._lines: deque[bytes] = deque(maxlen=capacity)
        self._end = 0  # sequence number the next line gets
        self._changed = trio.Event()
        self._watchers: list[Callable[[], None]] = []

    @property
    def first(self) -> int:
        return self._end - len(self._lines)

    @property
    def end(self) -> int:
        return self._end

    def append(self, text: str) -> None:
        """Add one line (a newline is added); wakes waiting readers and poll()ers. Trio thread."""
        self._lines.append(text.rstrip("\n").encode("utf-8", "replace") + b"\n")
        self._end += 1
        self._changed.set()
        self._changed = trio.Event()
        watchers, self._watchers = self._watchers, []
        for notify in watchers:
            notify()

    def cursor(self) -> ErrCursor:
        """A new reader starts at the oldest line still kept: lines nobody has read wait for the
        next reader, as in the driver (which, unlike this, hands each line to one reader only)."""
        return ErrCursor(self.first)

    def ready(self, cursor: ErrCursor) -> bool:
        return max(cursor.line, self.first) < self._end

    def take(self, cursor: ErrCursor, size: int) -> bytes:
        """Whole lines from ``cursor`` that fit in ``size`` bytes, at least part of one if any is
        waiting; b"" when none is. Advances the cursor. A reader that fell behind the ring
        skips what it lost."""
        if cursor.line < self.first:
            cursor.line, cursor.skip = self.first, 0
        out = bytearray()
        while cursor.line < self._end and len(out) < size:
            line = self._lines[cursor.line - self.first][cursor.skip :]
            room = size - len(out)
            if len(line) > room:
                if out:
                    break  # the next read gets this line whole
                out += line[:room]
                cursor.skip += room
                break
            out += line
            cursor.line, cursor.skip = cursor.line + 1, 0
        return bytes(out)

    async def wait(self, timeout: float) -> None:
        """Until a line is appended or ``timeout`` seconds pass."""
        with trio.move_on_after(timeout):
            await self._changed.wait()

    def watch(self, notify: Callable[[], None]) -> None:
        """Call ``notify()`` once, at the next append (poll support)."""
        self._watchers.append(notify)


def _mask(status: str, field: str) -> int:
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1].strip(), 16)
    return 0


def signal_pending(tid: int) -> bool:
    """True when thread ``tid`` has a signal waiting that it neither blocks nor ignores (so it
    sits interrupted in our read), or is gone."""
    try:
        status = Path(f"/proc/{tid}/status").read_text()
    except OSError:
        return True
    pending = _mask(status, "SigPnd") | _mask(status, "ShdPnd")
    return bool(pending & ~_mask(status, "SigBlk") & ~_mask(status, "SigIgn"))
