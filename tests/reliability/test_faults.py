"""The fault scenarios of `pyaoe soak`, short: under a random write load with a ledger of what
was acknowledged, nothing acknowledged is ever lost, whatever happens to the target or the wire."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyaoe.reliability.faults import (
    FaultOptions,
    disk_full,
    link_down_up,
    lossy_wire_run,
    target_killed,
    two_initiators,
)
from pyaoe.reliability.report import Figures
from pyaoe.reliability.stable import stable_storage

pytestmark = pytest.mark.netns

MiB = 1 << 20


def short(tmp_path: Path, **changes: float) -> FaultOptions:
    return FaultOptions(tmp_path, **{"seconds": 10, "faults": 2, "size_mib": 16, **changes})  # type: ignore[arg-type]


def assert_nothing_lost(figures: Figures) -> None:
    assert figures.problems == [], "\n".join(figures.problems)
    assert figures.bytes_lost == 0
    assert figures.bytes_written > 0 and figures.bytes_verified > 0
    assert figures.frames_sent > 0


def test_every_acknowledged_write_is_in_the_file_after_sigkills(tmp_path: Path) -> None:
    figures = target_killed(short(tmp_path))
    assert_nothing_lost(figures)
    assert figures.errors == 0
    # Requests in flight at each kill were resent to the restarted target.
    assert figures.retransmits > 0
    assert "3 SIGKILLs" in figures.notes[0]


def test_a_wire_dropping_10_and_duplicating_5_percent_both_ways_loses_nothing(tmp_path: Path) -> None:
    figures = lossy_wire_run(short(tmp_path))
    assert_nothing_lost(figures)
    assert figures.errors == 0
    assert figures.retransmits > 0


def test_link_down_and_up_at_either_end_loses_nothing(tmp_path: Path) -> None:
    figures = link_down_up(short(tmp_path))
    assert_nothing_lost(figures)
    assert figures.errors == 0


def test_a_full_file_system_gives_ata_errors_and_the_target_lives_on(tmp_path: Path) -> None:
    figures = disk_full(short(tmp_path))
    # The scenario fails itself unless the target survived, only writes failed (ATA errors),
    # and a write succeeded once space was freed.
    assert_nothing_lost(figures)
    assert figures.errors > 0


def test_two_initiators_writing_halves_of_one_export_at_once(tmp_path: Path) -> None:
    figures = two_initiators(short(tmp_path))
    assert_nothing_lost(figures)
    assert figures.errors == 0
    assert figures.bytes_verified > 8 * MiB  # both halves written


def test_flush_cache_and_sync_mode_put_acknowledged_writes_on_the_disk(tmp_path: Path) -> None:
    """The backing file on ext4 on a loop device: the loop device's image is the disk."""
    figures = stable_storage(short(tmp_path))
    assert_nothing_lost(figures)
    assert figures.errors == 0
    # Without the flush the data was still in the page cache: the check can tell.
    assert not figures.notes[0].startswith("before FLUSH CACHE 0.0 of")
