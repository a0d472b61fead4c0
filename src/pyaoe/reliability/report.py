"""pyaoe.reliability.report: the figures of one reliability run and how they are printed.

One Figures per scenario (frames sent, retransmitted, errors, bytes verified and lost, and what
was checked); a plain-text table for people and JSON for CI artefacts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyaoe.initiator import Counters
from pyaoe.reliability.ledger import Verdict
from pyaoe.reliability.workload import LoadStats

__all__ = ["Figures", "format_table", "write_json"]

MiB = 1 << 20


@dataclass
class Figures:
    """What one scenario did and found; ``problems`` empty means it passed."""

    scenario: str
    seconds: float = 0.0
    frames_sent: int = 0
    retransmits: int = 0
    #: Requests that failed (AoE or ATA error, timeout, device down).
    errors: int = 0
    bytes_written: int = 0
    bytes_verified: int = 0
    bytes_lost: int = 0
    #: What the fault was and what else was measured (kills, drops, memory ...).
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems

    def count(self, counters: Counters) -> None:
        self.frames_sent += counters.frames_sent
        self.retransmits += counters.retransmits

    def load(self, stats: LoadStats) -> None:
        self.errors += stats.failed
        self.bytes_written += stats.bytes_written
        if stats.read_mismatches:
            self.problems.append(f"{stats.read_mismatches} reads differed from the ledger")

    def verdict(self, verdict: Verdict, where: str) -> None:
        self.bytes_verified += verdict.verified
        self.bytes_lost += verdict.lost
        if verdict.lost:
            examples = "; ".join(f"{d} sector {lba}: {why}" for d, lba, why in verdict.examples)
            self.problems.append(f"{verdict.lost} bytes lost ({where}): {examples}")

    def expect_no_errors(self, stats: LoadStats) -> None:
        if stats.failed:
            detail = "; ".join(f"{n} x {k} ({stats.error_examples[k]})" for k, n in stats.errors.items())
            self.problems.append(f"requests failed: {detail}")


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB"


def format_table(results: Sequence[Figures]) -> str:
    """The figures as a table, then each scenario's notes and problems."""
    header = ("scenario", "seconds", "frames sent", "retransmitted", "errors", "verified", "lost", "result")
    rows = [
        (
            f.scenario,
            f"{f.seconds:.0f}",
            f"{f.frames_sent:,}",
            f"{f.retransmits:,}",
            f"{f.errors:,}",
            _size(f.bytes_verified),
            f"{f.bytes_lost} B",
            "ok" if f.passed else "FAILED",
        )
        for f in results
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines: list[str] = []
    for row in [header, *rows]:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    for f in results:
        for note in f.notes:
            lines.append(f"{f.scenario}: {note}")
        for problem in f.problems:
            lines.append(f"{f.scenario}: PROBLEM: {problem}")
    return "\n".join(lines)


def write_json(path: Path | str, results: Sequence[Figures]) -> None:
    doc = [{**asdict(f), "passed": f.passed} for f in results]
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")
