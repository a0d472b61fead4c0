"""RttEstimator: Jacobson/Karels smoothing, bounds and backoff, with literal numbers."""

from __future__ import annotations

import pytest

from pyaoe.initiator import InitiatorConfig
from pyaoe.initiator.rtt import RttEstimator


def test_timeout_before_any_sample_is_the_initial_one_not_the_drivers_16_seconds() -> None:
    rtt = RttEstimator(initial_rto=0.25, min_rto=0.05, max_rto=2.0)
    assert rtt.srtt is None
    assert rtt.rto == 0.25


def test_first_sample_sets_average_and_half_of_it_as_variation() -> None:
    rtt = RttEstimator(initial_rto=0.25, min_rto=0.001, max_rto=2.0)
    rtt.update(0.1)
    assert rtt.srtt == pytest.approx(0.1)
    assert rtt.rttvar == pytest.approx(0.05)
    assert rtt.rto == pytest.approx(0.1 + 4 * 0.05)


def test_later_samples_move_average_by_an_eighth_and_variation_by_a_quarter() -> None:
    rtt = RttEstimator(initial_rto=0.25, min_rto=0.001, max_rto=2.0)
    rtt.update(0.1)
    rtt.update(0.2)
    # rttvar += (|0.1 - 0.2| - 0.05) / 4 ; srtt += (0.2 - 0.1) / 8
    assert rtt.rttvar == pytest.approx(0.0625)
    assert rtt.srtt == pytest.approx(0.1125)
    assert rtt.rto == pytest.approx(0.1125 + 4 * 0.0625)


def test_steady_lan_round_trips_converge_to_the_minimum_timeout() -> None:
    rtt = RttEstimator(initial_rto=0.25, min_rto=0.05, max_rto=2.0)
    for _ in range(50):
        rtt.update(0.0002)
    assert rtt.srtt == pytest.approx(0.0002)
    assert rtt.rto == 0.05


def test_timeout_never_exceeds_the_maximum() -> None:
    rtt = RttEstimator(initial_rto=0.25, min_rto=0.05, max_rto=2.0)
    rtt.update(5.0)
    assert rtt.rto == 2.0


def test_backoff_doubles_per_transmission_up_to_the_maximum() -> None:
    rtt = RttEstimator(initial_rto=0.25, min_rto=0.05, max_rto=2.0)
    assert [rtt.backoff(n) for n in (1, 2, 3, 4, 5, 40)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


def test_negative_samples_are_ignored_and_reset_forgets_everything() -> None:
    rtt = RttEstimator()
    rtt.update(-1.0)
    assert rtt.samples == 0 and rtt.srtt is None
    rtt.update(0.01)
    rtt.reset()
    assert rtt.samples == 0 and rtt.rto == 0.25


def test_bounds_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        RttEstimator(initial_rto=0.01, min_rto=0.05, max_rto=2.0)


def test_by_default_the_timeout_follows_a_lan_round_trip_down_to_a_few_milliseconds() -> None:
    config = InitiatorConfig()
    rtt = RttEstimator(config.initial_rto, config.min_rto, config.max_rto)
    for sample in (0.0012, 0.0008) * 40:  # 1 ms round trips, +-0.2 ms
        rtt.update(sample)
    # srtt + 4 x rttvar of these samples is about 1.8 ms: the floor (5 ms) holds it, not 50 ms.
    assert rtt.rto == config.min_rto == 0.005
    for sample in (0.004, 0.002) * 40:  # a busier wire: 3 ms +- 1 ms
        rtt.update(sample)
    assert rtt.rto == pytest.approx(rtt.srtt + 4 * rtt.rttvar)  # type: ignore[operator]
    assert 0.006 < rtt.rto < 0.008
    assert [rtt.backoff(n) / rtt.rto for n in (1, 2, 3)] == [1, 2, 4]  # doubled per resend
