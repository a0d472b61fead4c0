"""pyaoe.service.target_metrics: the target's Prometheus metric families, read at scrape time.

Per export (labels shelf, slot): requests by kind, bytes, errors by kind, size, read-only, mask and
reserve list lengths. Per interface (label interface): frames in and out, replies not sent,
frames in flight, the receive queue and the service-time histogram. Reads the counters without
stopping the loop: the objects it walks are replaced whole on a change, never edited.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from pyaoe.protocol import SECTOR_SIZE
from pyaoe.service.target_stats import bucket_upper, errors_by_kind, requests_by_kind

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from pyaoe.service.target_daemon import TargetDaemon

__all__ = ["TargetCollector"]

#: Histogram bounds (µs): bucket edges of the service-time histogram from 8 µs to about 1 s.
_BOUNDS = [bucket_upper(i) for i in range(11, 100, 4)]


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
        labels = ["shelf", "slot"]
        requests = CounterMetricFamily(
            "pyaoe_target_requests", "Requests answered, by kind", labels=[*labels, "kind"]
        )
        errors = CounterMetricFamily(
            "pyaoe_target_errors",
            "Errors by kind (aoe, ata, io, dropped; failure: the target's own code failed on a frame)",
            labels=[*labels, "kind"],
        )
        read = CounterMetricFamily("pyaoe_target_read_bytes", "Bytes read for initiators", labels=labels)
        written = CounterMetricFamily(
            "pyaoe_target_written_bytes", "Bytes written for initiators", labels=labels
        )
        size = GaugeMetricFamily("pyaoe_target_export_size_bytes", "Size of the export", labels=labels)
        readonly = GaugeMetricFamily(
            "pyaoe_target_export_readonly", "1 for a read-only export", labels=labels
        )
        masks = GaugeMetricFamily(
            "pyaoe_target_mask_list_length", "MACs on the mask list (0: everyone is answered)", labels=labels
        )
        reserved = GaugeMetricFamily(
            "pyaoe_target_reserve_list_length", "MACs on the reserve list (0: not reserved)", labels=labels
        )
        exports = self.daemon.exports
        for (shelf, slot), export in sorted(exports.items()):
            key = [str(shelf), str(slot)]
            counters = export.counters
            for kind, value in requests_by_kind(counters).items():
                requests.add_metric([*key, kind], value)
            for kind, value in errors_by_kind(counters).items():
                errors.add_metric([*key, kind], value)
            read.add_metric(key, counters.sectors_read * SECTOR_SIZE)
            written.add_metric(key, counters.sectors_written * SECTOR_SIZE)
            size.add_metric(key, export.sectors * SECTOR_SIZE)
            readonly.add_metric(key, int(export.readonly))
            masks.add_metric(key, len(export.state.mask_list))
            reserved.add_metric(key, len(export.state.reserve_list))
        count = GaugeMetricFamily("pyaoe_target_exports", "Exports served")
        count.add_metric([], len(exports))
        yield from (count, requests, errors, read, written, size, readonly, masks, reserved)

    def _interfaces(self) -> Iterator[Metric]:
        labels = ["interface"]
        frames_in = CounterMetricFamily("pyaoe_target_frames_received", "AoE frames received", labels=labels)
        frames_out = CounterMetricFamily("pyaoe_target_frames_sent", "AoE frames sent", labels=labels)
        not_sent = CounterMetricFamily(
            "pyaoe_target_send_failures", "Replies lost because a send failed", labels=labels
        )
        ignored = CounterMetricFamily(
            "pyaoe_target_ignored_frames", "Frames not for any export here, or undecodable", labels=labels
        )
        link_down = CounterMetricFamily(
            "pyaoe_target_link_down", "Receives that found the interface down", labels=labels
        )
        in_flight = GaugeMetricFamily(
            "pyaoe_target_in_flight_frames", "Frames received and not yet answered", labels=labels
        )
        queued = GaugeMetricFamily(
            "pyaoe_target_receive_queue_bytes", "Bytes waiting in the socket's receive queue", labels=labels
        )
        service = HistogramMetricFamily(
            "pyaoe_target_service_seconds",
            "Time from a batch's receive to its replies sent, counted for each frame of the batch",
            labels=labels,
        )
        for ifname, port in sorted(self.daemon.service.ports.items()):
            c = port.counters
            frames_in.add_metric([ifname], c.frames_in)
            frames_out.add_metric([ifname], c.frames_out)
            not_sent.add_metric([ifname], c.send_failures)
            ignored.add_metric([ifname], port.engine.ignored)
            link_down.add_metric([ifname], c.link_down)
            in_flight.add_metric([ifname], c.in_flight)
            queued.add_metric([ifname], max(port.receive_queue_bytes(), 0))
            histogram = c.latency.copy()
            buckets = [(f"{bound / 1e6:g}", n) for bound, n in histogram.cumulative(_BOUNDS)]
            buckets.append(("+Inf", histogram.total))
            service.add_metric([ifname], buckets, histogram.sum_micros / 1e6)
        yield from (frames_in, frames_out, not_sent, ignored, link_down, in_flight, queued, service)
