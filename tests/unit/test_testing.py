"""pyaoe.testing: the fake clock and the lossy wire behave as documented and replay by seed."""

from __future__ import annotations

import pytest

from pyaoe.testing import FakeClock, LossyWire


def test_fake_clock_moves_only_forward_when_told() -> None:
    clock = FakeClock(5.0)
    assert clock() == 5.0
    assert clock.advance(1.5) == 6.5
    assert clock.jump_to(3.0) == 6.5  # an earlier deadline does not move it back
    assert clock.jump_to(None) == 6.5
    assert clock.jump_to(10.0) == 10.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_wire_delivers_after_the_delay_in_time_order() -> None:
    wire = LossyWire(delay=0.5)
    wire.send(b"a", "x", 0.0)
    wire.send(b"b", "y", 0.1)
    assert wire.next_delivery() == 0.5
    assert wire.deliver(0.4) == []
    assert wire.deliver(0.5) == [("x", b"a")]
    assert wire.deliver(1.0) == [("y", b"b")]
    assert len(wire) == 0 and wire.next_delivery() is None


def _run(seed: int) -> tuple[list[tuple[object, bytes]], tuple[int, int, int]]:
    wire = LossyWire(seed=seed, loss=0.2, duplicate=0.2, reorder=0.3, delay=0.001, jitter=0.001)
    for i in range(1000):
        wire.send(i.to_bytes(2, "big"), "t", i * 0.0001)
    out = wire.deliver(10.0)
    return out, (wire.stats.lost, wire.stats.duplicated, wire.stats.reordered)


def test_wire_loses_duplicates_and_reorders_at_about_the_given_rates_and_replays_by_seed() -> None:
    out, (lost, duplicated, reordered) = _run(42)
    assert 150 < lost < 250 and 120 < duplicated < 200 and reordered > 200
    assert len(out) == 1000 - lost + duplicated
    order = [int.from_bytes(frame, "big") for _, frame in out]
    assert order != sorted(order)
    assert _run(42) == (out, (lost, duplicated, reordered))
    assert _run(43)[0] != out


def test_wire_clear_loses_everything_in_flight() -> None:
    wire = LossyWire(delay=1.0)
    wire.send(b"a", "x", 0.0)
    assert wire.clear() == 1 and wire.deliver(5.0) == [] and wire.stats.lost == 1


def test_wire_rejects_impossible_rates() -> None:
    with pytest.raises(ValueError):
        LossyWire(loss=1.5)
