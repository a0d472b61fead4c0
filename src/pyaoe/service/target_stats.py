"""pyaoe.service.target_stats: what a running target counts per interface, its service-time
histogram, and the plain-data views of those and of each export's counters (for ctl and metrics).

"Latency" here is the target's service time: from a batch's receive returning to its replies
sent, counted once for each frame of the batch (a frame waits for its whole batch). Time a frame
spent queued in the socket before the receive is not in it; the queue's size is reported apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from pyaoe.protocol import SECTOR_SIZE
from pyaoe.target import Export, ExportCounters

__all__ = [
    "BUCKETS",
    "LatencyHistogram",
    "PortCounters",
    "bucket_index",
    "bucket_upper",
    "errors_by_kind",
    "requests_by_kind",
]

#: Buckets of the histogram: 4 per power of two (each about 19 % wide), up to 2^39 µs.
BUCKETS = 152


def bucket_index(micros: int) -> int:
    """The bucket ``micros`` falls in (the serving loop inlines this: keep the two equal)."""
    shift = micros.bit_length() - 3
    index = micros if shift <= 0 else (shift << 2) + (micros >> shift)
    return min(index, BUCKETS - 1)


def bucket_upper(index: int) -> int:
    """The smallest value (µs) above bucket ``index``."""
    if index < 8:
        return index + 1
    shift = (index >> 2) - 1
    return ((index & 3) + 5) << shift


@dataclass(slots=True)
class LatencyHistogram:
    """Frame counts by service time (µs), in BUCKETS log-linear buckets, and their sum."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    sum_micros: int = 0

    def add(self, micros: int, frames: int = 1) -> None:
        self.counts[bucket_index(micros)] += frames
        self.sum_micros += micros * frames

    def copy(self) -> LatencyHistogram:
        """A snapshot, consistent in itself while the loop goes on adding to this one."""
        return LatencyHistogram(list(self.counts), self.sum_micros)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def quantile(self, q: float) -> int | None:
        """The upper bound (µs) of the bucket holding quantile ``q``; None with no data."""
        counts = list(self.counts)  # read once: the loop may add while another thread reads
        total = sum(counts)
        if not total:
            return None
        rank = q * total
        seen = 0
        for index, n in enumerate(counts):
            seen += n
            if n and seen >= rank:
                return bucket_upper(index)
        return bucket_upper(BUCKETS - 1)

    def cumulative(self, bounds: list[int]) -> list[tuple[int, int]]:
        """(bound, frames at or under it) for each bound (µs); bounds should be bucket edges."""
        counts = list(self.counts)
        out = []
        seen = 0
        index = 0
        for bound in bounds:
            while index < BUCKETS and bucket_upper(index) <= bound:
                seen += counts[index]
                index += 1
            out.append((bound, seen))
        return out


@dataclass(slots=True)
class PortCounters:
    """What one interface's loop did (updated once per batch, or per frame in the plain loop)."""

    frames_in: int = 0
    frames_out: int = 0
    batches: int = 0
    #: Replies lost because a send failed (full queue, MTU shrank): initiators retransmit.
    send_failures: int = 0
    #: Times a receive failed because the interface went down (serving resumes by itself).
    link_down: int = 0
    #: Frames received and not yet answered (seen from outside the loop).
    in_flight: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        del out["latency"]
        out["latency_p50_us"] = self.latency.quantile(0.5)
        out["latency_p99_us"] = self.latency.quantile(0.99)
        return out


def requests_by_kind(counters: ExportCounters) -> dict[str, int]:
    """Requests answered, by kind (reads and writes by either path, the rest by the engine)."""
    return {
        "read": counters.reads,
        "write": counters.writes,
        "flush": counters.flushes,
        "identify": counters.identifies,
        "other_ata": counters.other_ata,
        "query_config": counters.config_queries,
        "mac_mask": counters.mask_requests,
        "reserve": counters.reserve_requests,
        "unknown": counters.unknown_commands,
    }


def errors_by_kind(counters: ExportCounters) -> dict[str, int]:
    """Errors by kind; ``failure`` is a frame the engine's own code failed on (a bug)."""
    return {
        "aoe": counters.aoe_errors,
        "ata": counters.ata_errors,
        "io": counters.io_errors,
        "dropped": counters.dropped,
        "failure": counters.failures,
    }


def export_stats(export: Export) -> dict[str, object]:
    """One export's counters as plain data."""
    counters = export.counters
    return {
        "requests": requests_by_kind(counters),
        "errors": errors_by_kind(counters),
        "bytes_read": counters.sectors_read * SECTOR_SIZE,
        "bytes_written": counters.sectors_written * SECTOR_SIZE,
    }
