"""pyaoe.service.target_metrics: the target's Prometheus metric families, read at scrape time.

Per export (labels shelf, slot): requests by kind, bytes, errors by kind, size, read-only, mask and
reserve list lengths. Per interface (label interface): frames in and out, replies not sent,
frames in flight, the receive queue and the service-time histogram. Reads the counters without
stopping the loop: the objects it walks are replaced whole on a change, never edited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from pyaoe.protocol import SECTOR_SIZE
from pyaoe.service.target_port import Port
from pyaoe.service.target_stats import bucket_upper, errors_by_kind, requests_by_kind
from pyaoe.target import Export, ExportCounters

if TYPE_CHECKING:
    from pyaoe.service.target_daemon import TargetDaemon

__all__ = ["TargetCollector"]

#: Histogram bounds (µs): bucket edges of the service-time histogram from 8 µs to about 1 s.
_BOUNDS = [bucket_upper(i) for i in range(11, 100, 4)]


_Family = type[CounterMetricFamily] | type[GaugeMetricFamily]
#: Per export (labels shelf, slot): family, name, help, value read from the export.
_PER_EXPORT: tuple[tuple[_Family, str, str, Callable[[Export], float]], ...] = (
    (
        CounterMetricFamily,
        "pyaoe_target_read_bytes",
        "Bytes read for initiators",
        lambda e: e.counters.sectors_read * SECTOR_SIZE,
    ),
    (
        CounterMetricFamily,
        "pyaoe_target_written_bytes",
        "Bytes written for initiators",
        lambda e: e.counters.sectors_written * SECTOR_SIZE,
    ),
    (
        GaugeMetricFamily,
        "pyaoe_target_export_size_bytes",
        "Size of the export",
        lambda e: e.sectors * SECTOR_SIZE,
    ),
    (
        GaugeMetricFamily,
        "pyaoe_target_export_readonly",
        "1 for a read-only export",
        lambda e: int(e.readonly),
    ),
    (
        GaugeMetricFamily,
        "pyaoe_target_mask_list_length",
        "MACs on the mask list (0: everyone is answered)",
        lambda e: len(e.state.mask_list),
    ),
    (
        GaugeMetricFamily,
        "pyaoe_target_reserve_list_length",
        "MACs on the reserve list (0: not reserved)",
        lambda e: len(e.state.reserve_list),
    ),
)
#: Per export and kind (labels shelf, slot, kind): name, help, the counts by kind.
_BY_KIND: tuple[tuple[str, str, Callable[[ExportCounters], dict[str, int]]], ...] = (
    ("pyaoe_target_requests", "Requests answered, by kind", requests_by_kind),
    (
        "pyaoe_target_errors",
        "Errors by kind (aoe, ata, io, dropped; failure: the target's own code failed on a frame)",
        errors_by_kind,
    ),
)
#: Per interface (label interface): family, name, help, value read from the port.
_PER_PORT: tuple[tuple[_Family, str, str, Callable[[Port], float]], ...] = (
    (
        CounterMetricFamily,
        "pyaoe_target_frames_received",
        "AoE frames received",
        lambda p: p.counters.frames_in,
    ),
    (CounterMetricFamily, "pyaoe_target_frames_sent", "AoE frames sent", lambda p: p.counters.frames_out),
    (
        CounterMetricFamily,
        "pyaoe_target_send_failures",
        "Replies lost because a send failed",
        lambda p: p.counters.send_failures,
    ),
    (
        CounterMetricFamily,
        "pyaoe_target_ignored_frames",
        "Frames not for any export here, or undecodable",
        lambda p: p.engine.ignored,
    ),
    (
        CounterMetricFamily,
        "pyaoe_target_link_down",
        "Receives that found the interface down",
        lambda p: p.counters.link_down,
    ),
    (
        GaugeMetricFamily,
        "pyaoe_target_in_flight_frames",
        "Frames received and not yet answered",
        lambda p: p.counters.in_flight,
    ),
    (
        GaugeMetricFamily,
        "pyaoe_target_receive_queue_bytes",
        "Bytes waiting in the socket's receive queue",
        lambda p: max(p.receive_queue_bytes(), 0),
    ),
)


class TargetCollector(Collector):
    """pyaoe_target_* families of one TargetDaemon."""

    def __init__(self, daemon: TargetDaemon) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        yield from self._exports()
        yield from self._interfaces()
        reloads = CounterMetricFamily(
            "pyaoe_target_reloads", "Reloads of the configuration, by result", labels=["result"]
        )
        reloads.add_metric(["ok"], self.daemon.reloads_ok)
        reloads.add_metric(["refused"], self.daemon.reloads_refused)
        yield reloads

    def _exports(self) -> Iterator[Metric]:
        exports = sorted(self.daemon.exports.items())
        served = GaugeMetricFamily("pyaoe_target_exports", "Exports served")
        served.add_metric([], len(exports))
        yield served
        for name, text, counts in _BY_KIND:
            by_kind = CounterMetricFamily(name, text, labels=["shelf", "slot", "kind"])
            for (shelf, slot), export in exports:
                for kind, count in counts(export.counters).items():
                    by_kind.add_metric([str(shelf), str(slot), kind], count)
            yield by_kind
        for cls, name, text, value in _PER_EXPORT:
            family = cls(name, text, labels=["shelf", "slot"])
            for (shelf, slot), export in exports:
                family.add_metric([str(shelf), str(slot)], value(export))
            yield family

    def _interfaces(self) -> Iterator[Metric]:
        ports = sorted(self.daemon.service.ports.items())
        for cls, name, text, value in _PER_PORT:
            family = cls(name, text, labels=["interface"])
            for ifname, port in ports:
                family.add_metric([ifname], value(port))
            yield family
        service = HistogramMetricFamily(
            "pyaoe_target_service_seconds",
            "Time from a batch's receive to its replies sent, counted for each frame of the batch",
            labels=["interface"],
        )
        for ifname, port in ports:
            histogram = port.counters.latency.copy()
            buckets = [(f"{bound / 1e6:g}", n) for bound, n in histogram.cumulative(_BOUNDS)]
            buckets.append(("+Inf", histogram.total))
            service.add_metric([ifname], buckets, histogram.sum_micros / 1e6)
        yield service
