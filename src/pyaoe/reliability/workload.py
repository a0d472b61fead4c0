"""pyaoe.reliability.workload: a sustained random write load with reads checked on the way,
driven through an InitiatorService and recorded in ledgers; FaultyLoad runs one while faults are
injected; readers of the sectors from a backing file or through the initiator.

Requests in flight never overlap, so the order in which they land cannot matter: the last
acknowledged write of a sector is what the device must hold.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyaoe.protocol import SECTOR_SIZE
from pyaoe.reliability.ledger import Ledger, PlannedWrite
from pyaoe.service.initiator import InitiatorService

__all__ = ["LoadStats", "WriteLoad", "FaultyLoad", "sparse_file", "file_reader", "wire_reader"]

log = logging.getLogger(__name__)


@dataclass
class LoadStats:
    """What one load did."""

    writes: int = 0
    reads: int = 0
    flushes: int = 0
    bytes_written: int = 0
    bytes_read: int = 0
    #: Failed requests by kind ("write AtaCommandError", ...), with one example message each.
    errors: Counter[str] = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)
    #: Reads whose data differed from what the ledger says the device holds.
    read_mismatches: int = 0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def add(self, other: LoadStats) -> None:
        self.writes += other.writes
        self.reads += other.reads
        self.flushes += other.flushes
        self.bytes_written += other.bytes_written
        self.bytes_read += other.bytes_read
        self.errors.update(other.errors)
        for key, text in other.error_examples.items():
            self.error_examples.setdefault(key, text)
        self.read_mismatches += other.read_mismatches


@dataclass
class _Op:
    kind: str  # "write", "read" or "flush"
    ledger: Ledger
    lba: int
    count: int
    write: PlannedWrite | None = None
    expected: bytes | None = None


class WriteLoad:
    """Random writes (and some checked reads, and FLUSH CACHE now and then) over ``ledgers``,
    ``inflight`` requests at a time, until stop() or the deadline given to run()."""

    def __init__(
        self,
        service: InitiatorService,
        ledgers: Sequence[Ledger],
        rng: random.Random,
        *,
        inflight: int = 16,
        max_sectors: int = 256,
        read_share: float = 0.2,
        flush_share: float = 0.0,
    ) -> None:
        if not ledgers:
            raise ValueError("a load needs at least one ledger")
        self.service = service
        self.ledgers = list(ledgers)
        self.rng = rng
        self.inflight = inflight
        self.max_sectors = max_sectors
        self.read_share = read_share
        self.flush_share = flush_share
        self.stats = LoadStats()
        self._stop = threading.Event()
        self._busy: dict[str, list[tuple[int, int]]] = {}
        #: Called after every completed request (the fault scenarios use it to pace faults).
        self.on_progress: Callable[[LoadStats], None] | None = None

    def stop(self) -> None:
        self._stop.set()

    def _free(self, ledger: Ledger, lba: int, count: int) -> bool:
        end = lba + count
        return all(end <= a or lba >= b for a, b in self._busy.get(ledger.device, ()))

    def _next(self) -> _Op | None:
        """A request over a range nothing in flight touches (None after a few misses)."""
        rng = self.rng
        for _attempt in range(8):
            ledger = rng.choice(self.ledgers)
            roll = rng.random()
            if roll < self.flush_share:
                return _Op("flush", ledger, 0, 0)
            count = min(ledger.count, rng.choice((1, 2, 8, rng.randint(1, self.max_sectors))))
            lba = ledger.first + rng.randrange(ledger.count - count + 1)
            if not self._free(ledger, lba, count):
                continue
            if roll < self.flush_share + self.read_share:
                expected = ledger.expected(lba, count)
                if expected is not None:
                    return _Op("read", ledger, lba, count, expected=expected)
            write = ledger.plan(lba, count)
            return _Op("write", ledger, lba, count, write=write)
        return None

    def _submit(self, op: _Op) -> Future[Any]:
        name = op.ledger.device
        if op.kind == "flush":
            return self.service.flush_cache(name)
        self._busy.setdefault(name, []).append((op.lba, op.lba + op.count))
        offset = op.lba * SECTOR_SIZE
        if op.kind == "read":
            return self.service.read(name, offset, op.count * SECTOR_SIZE)
        assert op.write is not None
        return self.service.write(name, offset, op.ledger.data(op.write))

    def _finish(self, op: _Op, future: Future[Any]) -> None:
        if op.kind != "flush":
            self._busy[op.ledger.device].remove((op.lba, op.lba + op.count))
        stats = self.stats
        error = future.exception()
        if error is not None:
            key = f"{op.kind} {type(error).__name__}"
            stats.errors[key] += 1
            stats.error_examples.setdefault(key, str(error))
            if op.write is not None:
                op.ledger.failed(op.write)
            return
        if op.kind == "write":
            assert op.write is not None
            op.ledger.acknowledged(op.write)
            stats.writes += 1
            stats.bytes_written += op.count * SECTOR_SIZE
        elif op.kind == "read":
            stats.reads += 1
            stats.bytes_read += op.count * SECTOR_SIZE
            if future.result() != op.expected:
                stats.read_mismatches += 1
                log.error(
                    "%s: read of %d sectors at %d differs from the ledger", op.ledger.device, op.count, op.lba
                )
        else:
            stats.flushes += 1

    def run(self, seconds: float | None = None, *, limit_bytes: int | None = None) -> LoadStats:
        """Run until stop(), ``seconds`` or ``limit_bytes`` written; wait for what is in flight."""
        deadline = time.monotonic() + seconds if seconds is not None else None
        pending: dict[Future[Any], _Op] = {}
        try:
            while True:
                stopping = (
                    self._stop.is_set()
                    or (deadline is not None and time.monotonic() >= deadline)
                    or (limit_bytes is not None and self.stats.bytes_written >= limit_bytes)
                )
                while not stopping and len(pending) < self.inflight:
                    op = self._next()
                    if op is None:
                        break
                    pending[self._submit(op)] = op
                if not pending:
                    if stopping:
                        break
                    continue
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    self._finish(pending.pop(future), future)
                if done and self.on_progress is not None:
                    self.on_progress(self.stats)
        finally:
            # Whatever happens, nothing is left unaccounted for in the ledgers.
            for future, op in pending.items():
                with contextlib.suppress(Exception):  # the error is recorded by _finish
                    future.result(timeout=None if deadline is None else 600)
                self._finish(op, future)
        return self.stats


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def file_reader(path: Path | str) -> Callable[[int, int], bytes]:
    """read(lba, count) straight from a backing file."""

    def read(lba: int, count: int) -> bytes:
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.pread(fd, count * SECTOR_SIZE, lba * SECTOR_SIZE)
        finally:
            os.close(fd)

    return read


def wire_reader(service: InitiatorService, name: str) -> Callable[[int, int], bytes]:
    """read(lba, count) through the initiator."""

    def read(lba: int, count: int) -> bytes:
        return service.read(name, lba * SECTOR_SIZE, count * SECTOR_SIZE).result(600)

    return read


class FaultyLoad:
    """A WriteLoad in a thread while the caller injects faults at even intervals; notes whether
    the load made progress after each fault."""

    def __init__(self, load: WriteLoad, seconds: float) -> None:
        self.load = load
        self.seconds = seconds
        self.stats: LoadStats | None = None
        self.error: BaseException | None = None
        self.stalled: list[int] = []
        self._thread = threading.Thread(target=self._run, name="pyaoe-load", daemon=True)

    def _run(self) -> None:
        try:
            self.stats = self.load.run(self.seconds)
        except BaseException as exc:
            self.error = exc

    def run(self, faults: int, inject: Callable[[int], None]) -> LoadStats:
        started = time.monotonic()
        marks: list[int] = []
        self._thread.start()
        for i in range(faults):
            when = started + self.seconds * (i + 1) / (faults + 1)
            self._thread.join(max(0.0, when - time.monotonic()))
            if not self._thread.is_alive():
                break
            inject(i)
            marks.append(self.load.stats.writes)
        # Progress after each fault: writes acknowledged between its end and the next fault
        # (or the end of the load).
        self._thread.join()
        marks.append(self.load.stats.writes)
        self.stalled = [i for i in range(len(marks) - 1) if marks[i + 1] <= marks[i]]
        if self.error is not None:
            raise self.error
        assert self.stats is not None
        return self.stats
