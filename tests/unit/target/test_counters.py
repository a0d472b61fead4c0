"""What the running target counts: the service-time histogram's buckets and quantiles, requests and
errors by kind, and the engine's defensive catch, which is counted (errors "failure"), not silent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyaoe.protocol import AtaCommand, ConfigArg
from pyaoe.service.target_stats import (
    BUCKETS,
    LatencyHistogram,
    bucket_index,
    bucket_upper,
    errors_by_kind,
    requests_by_kind,
)
from pyaoe.storage.memory import MemoryBackend

from .frames import ata, config, make_engine, make_export, request


@given(st.integers(min_value=0, max_value=(1 << 39) - 1))
def test_a_value_falls_in_the_bucket_whose_bounds_hold_it(micros: int) -> None:
    index = bucket_index(micros)
    assert micros < bucket_upper(index)
    assert index == 0 or micros >= bucket_upper(index - 1)
    # Buckets are at most a quarter of their lower bound wide (about 19-25 %).
    if index > 8:
        assert bucket_upper(index) - bucket_upper(index - 1) <= bucket_upper(index - 1) / 4


def test_bucket_edges_rise_and_the_last_bucket_takes_everything_above() -> None:
    edges = [bucket_upper(i) for i in range(BUCKETS)]
    assert edges == sorted(set(edges))
    assert bucket_index(1 << 60) == BUCKETS - 1


def test_quantiles_report_the_upper_bound_of_their_bucket() -> None:
    histogram = LatencyHistogram()
    assert histogram.quantile(0.5) is None
    histogram.add(100, frames=98)
    histogram.add(5000, frames=2)
    assert histogram.quantile(0.5) == bucket_upper(bucket_index(100))
    assert 100 < histogram.quantile(0.5) <= 112
    assert 5000 < histogram.quantile(0.99) <= 5 * 1024 + 1024
    assert histogram.total == 100 and histogram.sum_micros == 98 * 100 + 2 * 5000
    cumulative = histogram.cumulative([bucket_upper(40), bucket_upper(60)])
    assert [n for _b, n in cumulative] == [98, 100]


class _Broken(MemoryBackend):
    """A backend with a bug: it raises what no backend may (not an OSError)."""

    def read_into(self, buf: memoryview, offset: int) -> int:
        raise RuntimeError("a bug in a backend")


def test_a_frame_the_engine_fails_on_is_counted_as_a_failure_and_serving_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    export = make_export(backend=_Broken(64 * 512))
    engine = make_engine(export)
    assert engine.handle_frame(ata(AtaCommand.READ_SECTORS_EXT, 0, 1)) == []
    assert export.counters.failures == 1
    assert errors_by_kind(export.counters)["failure"] == 1
    assert "failed to answer a frame" in caplog.text
    # The next frame is answered: the loop survived it.
    replies = engine.handle_frame(ata(AtaCommand.IDENTIFY_DEVICE, 0, 1))
    assert len(replies) == 1
    assert requests_by_kind(export.counters)["identify"] == 1


def test_requests_are_counted_by_kind() -> None:
    export = make_export()
    engine = make_engine(export)
    for frame in [
        ata(AtaCommand.READ_SECTORS_EXT, 0, 1),
        ata(AtaCommand.CHECK_POWER_MODE, 0, 0),
        ata(AtaCommand.FLUSH_CACHE_EXT, 0, 0),
        config(ConfigArg()),
        request(9, b""),
    ]:
        engine.handle_frame(frame)
    counts = requests_by_kind(export.counters)
    assert counts["read"] == 1 and counts["other_ata"] == 1 and counts["flush"] == 1
    assert counts["query_config"] == 1 and counts["unknown"] == 1
    assert errors_by_kind(export.counters)["aoe"] == 1  # the unknown command's error 1
