"""pyaoe.copy.progress: how `pyaoe copy` shows its progress: tqdm's bar on a terminal, plain lines
(done, rate, time left) every few seconds when stdout is a file or a pipe.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "open_progress", "LINE_INTERVAL"]

#: Seconds between two plain progress lines.
LINE_INTERVAL = 2.0


class Progress:
    """Counts bytes done; update(n) from any thread, close() once."""

    def update(self, n: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _Bar(Progress):
    def __init__(self, total: int, label: str, out: TextIO) -> None:
        # Imported here: the manual pages are built from the parsers, with no dependency present.
        from tqdm import tqdm

        self.bar = tqdm(
            total=total,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=out,
            dynamic_ncols=True,
        )

    def update(self, n: int) -> None:
        self.bar.update(n)

    def close(self) -> None:
        self.bar.close()


class _Lines(Progress):
    def __init__(
        self, total: int, label: str, out: TextIO, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = total
        self.label = label
        self.out = out
        self.clock = clock
        self.start = self.last = clock()
        self.done = 0

    def update(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= LINE_INTERVAL:
            self.last = now
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate else 0.0
        percent = 100.0 * self.done / self.total if self.total else 100.0
        print(
            f"{self.label}: {_mib(self.done)} of {_mib(self.total)} MiB ({percent:.0f}%), "
            f"{rate / 1e6:.1f} MB/s, {left:.0f} s left",
            file=self.out,
            flush=True,
        )

    def close(self) -> None:
        self._line(self.clock())


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f}"


def open_progress(total: int, label: str, out: TextIO | None = None, quiet: bool = False) -> Progress | None:
    """A bar when ``out`` (stdout by default) is a terminal, else plain lines; None when quiet."""
    if quiet:
        return None
    stream = out if out is not None else sys.stdout
    if stream.isatty():
        return _Bar(total, label, stream)
    return _Lines(total, label, stream)
