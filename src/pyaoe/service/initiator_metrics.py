"""pyaoe.service.initiator_metrics: the initiator's Prometheus metric families, read at scrape time.

Per device (labels shelf, slot): state, size, frames, retransmits, errors by kind, frames in
flight. Per path (shelf, slot, target; retransmits also by interface): frames, RTT, timeout,
window, in flight, taint. Per interface: frames and bytes each way, losses, socket errors, links
going down. One snapshot per scrape, taken on the I/O thread (InitiatorService.stats).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from pyaoe.service.initiator import InitiatorService
from pyaoe.service.initiator.stats import (
    DEVICE_ERROR_KINDS,
    DeviceStats,
    InitiatorStats,
    InterfaceStats,
    PathStats,
)

__all__ = ["InitiatorCollector"]

_Family = type[CounterMetricFamily] | type[GaugeMetricFamily]
_C, _G = CounterMetricFamily, GaugeMetricFamily

#: Per device (labels shelf, slot): family, name, help, value.
_PER_DEVICE: tuple[tuple[_Family, str, str, Callable[[DeviceStats], float]], ...] = (
    (_G, "pyaoe_initiator_device_up", "1 while the device is up (IDENTIFY answered), else 0", lambda d: d.up),
    (
        _G,
        "pyaoe_initiator_device_open",
        "Opens of the device (an open device is never flushed)",
        lambda d: d.open_count,
    ),
    (_G, "pyaoe_initiator_device_size_bytes", "Capacity of the device", lambda d: d.size),
    (_G, "pyaoe_initiator_device_payload_bytes", "Data bytes per frame", lambda d: d.payload),
    (
        _C,
        "pyaoe_initiator_device_frames_sent",
        "READ and WRITE frames sent to the device's targets, resends included",
        lambda d: d.frames_sent,
    ),
    (_C, "pyaoe_initiator_device_retransmits", "Frames resent (timeout or loss)", lambda d: d.retransmits),
    (
        _G,
        "pyaoe_initiator_device_in_flight_frames",
        "Frames sent to the device and not yet answered",
        lambda d: d.in_flight,
    ),
)
#: Per path (labels shelf, slot, target): family, name, help, value (None: no sample).
_PER_PATH: tuple[tuple[_Family, str, str, Callable[[PathStats], float | None]], ...] = (
    (
        _C,
        "pyaoe_initiator_path_frames_sent",
        "READ and WRITE frames sent to this target MAC, resends included",
        lambda p: p.frames_sent,
    ),
    (
        _G,
        "pyaoe_initiator_path_in_flight_frames",
        "Frames sent to this target MAC and not yet answered",
        lambda p: p.in_flight,
    ),
    (
        _G,
        "pyaoe_initiator_path_window_frames",
        "Frames this target MAC may have outstanding now (its congestion window)",
        lambda p: p.window,
    ),
    (
        _G,
        "pyaoe_initiator_path_window_limit_frames",
        "Most frames the window may grow to (the target's buffer count, capped by maxout)",
        lambda p: p.window_limit,
    ),
    (
        _G,
        "pyaoe_initiator_path_rtt_seconds",
        "Smoothed round-trip time to this target MAC (absent before its first answer)",
        lambda p: p.rtt,
    ),
    (
        _G,
        "pyaoe_initiator_path_rto_seconds",
        "Time after which a frame to this target MAC is sent again",
        lambda p: p.rto,
    ),
    (
        _G,
        "pyaoe_initiator_path_taint",
        "Demerits for not answering (a tainted target gets only probes while another answers)",
        lambda p: p.taint,
    ),
)
#: Per interface (label interface): family, name, help, value.
_PER_INTERFACE: tuple[tuple[_Family, str, str, Callable[[InterfaceStats], float]], ...] = (
    (_G, "pyaoe_initiator_interface_in_use", "1 while AoE uses the interface", lambda i: i.in_use),
    (_C, "pyaoe_initiator_frames_received", "AoE frames received", lambda i: i.counters.frames_received),
    (_C, "pyaoe_initiator_frames_sent", "AoE frames sent", lambda i: i.counters.frames_sent),
    (
        _C,
        "pyaoe_initiator_received_bytes",
        "Bytes of AoE frames received",
        lambda i: i.counters.bytes_received,
    ),
    (_C, "pyaoe_initiator_sent_bytes", "Bytes of AoE frames sent", lambda i: i.counters.bytes_sent),
    (
        _C,
        "pyaoe_initiator_send_losses",
        "Frames the kernel refused to send (full buffer, interface down); each is sent again",
        lambda i: i.counters.send_losses,
    ),
    (
        _C,
        "pyaoe_initiator_socket_errors",
        "Errors the interface's socket reported (ENETDOWN as it went down); the I/O goes on",
        lambda i: i.counters.socket_errors,
    ),
    (
        _C,
        "pyaoe_initiator_link_down",
        "Times the interface went down or away while in use",
        lambda i: i.counters.link_down,
    ),
)


def _errors(stats: InitiatorStats) -> dict[str, int]:
    engine = stats.engine
    return {
        "aoe": engine.aoe_errors,
        "ata": engine.ata_errors,
        "unexpected_response": engine.unexpected_responses,
        "ignored": engine.ignored,
        "refused_config": engine.refused_configs,
        "listener": stats.listener_errors,
    }


class InitiatorCollector(Collector):
    """pyaoe_initiator_* families of one InitiatorService."""

    def __init__(self, service: InitiatorService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        stats = self.service.stats()
        yield from self._devices(stats)
        yield from self._paths(stats)
        yield from self._interfaces(stats)
        devices = GaugeMetricFamily("pyaoe_initiator_devices", "Devices in the table, up or not")
        devices.add_metric([], len(stats.devices))
        yield devices
        in_flight = GaugeMetricFamily(
            "pyaoe_initiator_requests_in_flight", "Requests (reads, writes, flushes) not yet done or failed"
        )
        in_flight.add_metric([], stats.requests_in_flight)
        yield in_flight
        retransmits = CounterMetricFamily("pyaoe_initiator_retransmits", "Frames sent again, every device")
        retransmits.add_metric([], stats.engine.retransmits)
        yield retransmits
        errors = CounterMetricFamily(
            "pyaoe_initiator_errors",
            "Errors by kind (aoe and ata answers, unexpected responses, frames ignored, config replies "
            "refused; listener: a caller's event handler raised)",
            labels=["kind"],
        )
        for kind, count in _errors(stats).items():
            errors.add_metric([kind], count)
        yield errors

    @staticmethod
    def _devices(stats: InitiatorStats) -> Iterator[Metric]:
        for cls, name, text, value in _PER_DEVICE:
            family = cls(name, text, labels=["shelf", "slot"])
            for d in stats.devices:
                family.add_metric([str(d.shelf), str(d.slot)], value(d))
            yield family
        errors = CounterMetricFamily(
            "pyaoe_initiator_device_errors",
            "Device errors by kind: aoe and ata error answers, down (a frame waited deadsecs)",
            labels=["shelf", "slot", "kind"],
        )
        for d in stats.devices:
            for kind in DEVICE_ERROR_KINDS.values():
                errors.add_metric([str(d.shelf), str(d.slot), kind], d.errors[kind])
        yield errors

    @staticmethod
    def _paths(stats: InitiatorStats) -> Iterator[Metric]:
        paths = [(d, p) for d in stats.devices for p in d.paths]
        for cls, name, text, value in _PER_PATH:
            family = cls(name, text, labels=["shelf", "slot", "target"])
            for d, p in paths:
                sample = value(p)
                if sample is not None:
                    family.add_metric([str(d.shelf), str(d.slot), p.target], sample)
            yield family
        on = GaugeMetricFamily(
            "pyaoe_initiator_path_interface",
            "1 for each local interface a target MAC answers on",
            labels=["shelf", "slot", "target", "interface"],
        )
        retransmits = CounterMetricFamily(
            "pyaoe_initiator_path_retransmits",
            "Frames sent again, by target MAC and the interface they went out on",
            labels=["shelf", "slot", "target", "interface"],
        )
        for d, p in paths:
            for ifname in p.interfaces:
                on.add_metric([str(d.shelf), str(d.slot), p.target, ifname], 1)
            for ifname, n in p.retransmits_by_interface.items():
                retransmits.add_metric([str(d.shelf), str(d.slot), p.target, ifname], n)
        yield on
        yield retransmits

    @staticmethod
    def _interfaces(stats: InitiatorStats) -> Iterator[Metric]:
        for cls, name, text, value in _PER_INTERFACE:
            family = cls(name, text, labels=["interface"])
            for i in stats.interfaces:
                family.add_metric([i.name], value(i))
            yield family
