"""The load scenarios of `pyaoe soak`, short: 100 exports of one target process served to 4
initiators at once with steady memory, and 1,000 exports found and kept up by one initiator."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyaoe.reliability.load import LoadOptions, many_initiators, spread_addresses, thousand_exports

pytestmark = pytest.mark.netns


def test_100_exports_served_to_4_initiators_at_once(tmp_path: Path) -> None:
    figures = many_initiators(LoadOptions(tmp_path, seconds=20))
    assert figures.problems == [], "\n".join(figures.problems)
    assert (figures.errors, figures.bytes_lost) == (0, 0)
    assert figures.bytes_verified > 0
    # Memory sampled all along; growth beyond the allowance after warm-up would be a problem above.
    assert len(figures.extra["rss_target_kib"]) >= 5


def test_one_initiator_discovers_1000_exports_and_keeps_them_up(tmp_path: Path) -> None:
    figures = thousand_exports(LoadOptions(tmp_path, hold_seconds=10))
    assert figures.problems == [], "\n".join(figures.problems)
    assert (figures.errors, figures.bytes_lost) == (0, 0)
    # One broadcast, 1,000 answers, 1,000 IDENTIFYs: all found without waiting for the
    # periodic discovery, and almost no frame sent twice.
    assert figures.extra["discovery_seconds"] < 30
    assert figures.extra["discovery_retransmits"] < 100


def test_addresses_cover_the_corners_and_avoid_what_the_driver_refuses() -> None:
    addresses = spread_addresses(1000)
    assert len(set(addresses)) == 1000
    assert {(0, 0), (65534, 254), (0, 254), (65534, 0)} <= set(addresses)
    assert all(shelf not in (0x0FFF, 0xFFFF) and slot != 0xFF for shelf, slot in addresses)
    assert len({shelf for shelf, _slot in addresses}) > 900  # spread over the shelves
