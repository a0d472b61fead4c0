"""pyaoe.service.initiator.stats: what the initiator's I/O side counts beside the engine (each
interface's frames, bytes and troubles; each device's retransmits by path and errors by kind, read
from the engine's events), and the snapshot of all of it that `pyaoe ctl` and /metrics show.

Counting costs nothing a frame: interfaces count once a batch, devices once a diagnostic event.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from pyaoe.initiator import Counters, DeviceAddress, DeviceInfo, Diagnostic, DiagnosticKind, TargetInfo
from pyaoe.protocol import SECTOR_SIZE, format_mac

__all__ = [
    "DEVICE_ERROR_KINDS",
    "DeviceStats",
    "EventTally",
    "InitiatorStats",
    "InterfaceCounters",
    "InterfaceStats",
    "PathStats",
    "snapshot",
]

#: Per-device errors, by the diagnostic that says so: an AoE error answer, an ATA error answer,
#: and the device going down (a frame waited deadsecs).
DEVICE_ERROR_KINDS = {
    DiagnosticKind.AOE_ERROR: "aoe",
    DiagnosticKind.ATA_ERROR: "ata",
    DiagnosticKind.DEVICE_DOWN: "down",
}
#: The source (our interface) and destination (the target) MACs of a retransmit line, as the
#: driver's err file writes them: "... s=525400000001 d=525400000002 nout=3".
_RETRANSMIT_PATH = re.compile(r" s=([0-9a-f]{12}) d=([0-9a-f]{12})")
#: Where a retransmit line names no MAC of an interface in use (it went away meanwhile).
UNKNOWN = "?"


@dataclass(slots=True)
class InterfaceCounters:
    """One interface's traffic and troubles, kept across the closing and reopening of its port."""

    frames_received: int = 0
    frames_sent: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    #: Frames the kernel refused to queue (full socket buffer, interface down): the engine resends.
    send_losses: int = 0
    #: Errors the socket reported, to a receive or to poll: ENETDOWN as the interface went down,
    #: ENODEV as it went away (the I/O goes on through the other interfaces).
    socket_errors: int = 0
    #: Times a scan found the interface down or gone while it was in use.
    link_down: int = 0


@dataclass(slots=True)
class _DeviceTally:
    #: Retransmits by (target MAC, local interface).
    retransmits: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


class EventTally:
    """Per-device counts read from the engine's diagnostic events (on the I/O thread)."""

    def __init__(self) -> None:
        self.devices: dict[DeviceAddress, _DeviceTally] = {}

    def diagnostic(self, event: Diagnostic, interfaces: Mapping[str, tuple[bytes, int]]) -> None:
        """Count ``event`` for its device; ``interfaces`` (name -> (MAC, MTU)) name the path."""
        if event.device is None:
            return
        kind = event.kind
        if kind is DiagnosticKind.RETRANSMIT:
            tally = self._tally(event.device)
            match = _RETRANSMIT_PATH.search(event.text)
            if match is None:
                tally.retransmits[UNKNOWN, UNKNOWN] += 1
                return
            source = bytes.fromhex(match.group(1))
            ifname = next((n for n, (mac, _mtu) in interfaces.items() if mac == source), UNKNOWN)
            tally.retransmits[format_mac(bytes.fromhex(match.group(2))), ifname] += 1
        elif kind in DEVICE_ERROR_KINDS:
            self._tally(event.device).errors[DEVICE_ERROR_KINDS[kind]] += 1

    def _tally(self, address: DeviceAddress) -> _DeviceTally:
        tally = self.devices.get(address)
        if tally is None:
            tally = self.devices[address] = _DeviceTally()
        return tally

    def forget(self, address: DeviceAddress) -> None:
        """The device was flushed: a device found again under its name starts from zero."""
        self.devices.pop(address, None)


@dataclass(frozen=True, slots=True)
class PathStats:
    """One target MAC of a device and the local interfaces it answers on."""

    target: str
    interfaces: tuple[str, ...]
    #: READ and WRITE frames sent to it (first sends and resends).
    frames_sent: int
    retransmits: int
    retransmits_by_interface: dict[str, int]
    #: Smoothed round-trip time (None before the first answer) and retransmission timeout, s.
    rtt: float | None
    rto: float
    #: Frames it may have outstanding now, its cap (buffer count and maxout), and ssthresh.
    window: int
    window_limit: int
    ssthresh: int
    in_flight: int
    taint: int
    bufcnt: int
    payload: int


@dataclass(frozen=True, slots=True)
class DeviceStats:
    """One device of the table, its counts and its paths."""

    device: str
    shelf: int
    slot: int
    state: str
    up: bool
    sectors: int
    payload: int
    open_count: int
    firmware_version: int
    frames_sent: int
    retransmits: int
    errors: dict[str, int]
    in_flight: int
    paths: tuple[PathStats, ...]

    @property
    def size(self) -> int:
        return self.sectors * SECTOR_SIZE


@dataclass(frozen=True, slots=True)
class InterfaceStats:
    name: str
    #: Whether the initiator uses it now (it is up, Ethernet and allowed).
    in_use: bool
    mac: str
    mtu: int
    counters: InterfaceCounters


@dataclass(frozen=True, slots=True)
class InitiatorStats:
    """Everything `pyaoe ctl --initiator stats` and /metrics show, taken at one instant."""

    devices: tuple[DeviceStats, ...]
    interfaces: tuple[InterfaceStats, ...]
    engine: Counters
    #: Requests submitted and not yet done or failed.
    requests_in_flight: int
    listener_errors: int

    def device(self, address: DeviceAddress) -> DeviceStats | None:
        return next((d for d in self.devices if (d.shelf, d.slot) == address), None)

    def as_dict(self) -> dict[str, object]:
        return {
            "devices": [device_dict(d) for d in self.devices],
            "interfaces": {i.name: interface_dict(i) for i in self.interfaces},
            "initiator": {
                **asdict(self.engine),
                "requests_in_flight": self.requests_in_flight,
                "listener_errors": self.listener_errors,
            },
        }


def device_dict(device: DeviceStats) -> dict[str, object]:
    out = asdict(device)
    out["bytes"] = device.size
    return out


def interface_dict(interface: InterfaceStats) -> dict[str, object]:
    return {
        "in_use": interface.in_use,
        "mac": interface.mac,
        "mtu": interface.mtu,
        **asdict(interface.counters),
    }


def _path(target: TargetInfo, retransmits: Mapping[tuple[str, str], int]) -> PathStats:
    mac = format_mac(target.mac)
    by_interface = {ifname: n for (m, ifname), n in sorted(retransmits.items()) if m == mac}
    return PathStats(
        target=mac,
        interfaces=target.interfaces,
        frames_sent=target.reads + target.writes,
        retransmits=sum(by_interface.values()),
        retransmits_by_interface=by_interface,
        rtt=target.srtt,
        rto=target.rto,
        window=target.maxout,
        window_limit=target.nframes,
        ssthresh=target.ssthresh,
        in_flight=target.nout,
        taint=target.taint,
        bufcnt=target.bufcnt,
        payload=target.payload,
    )


def _device(info: DeviceInfo, tally: _DeviceTally | None) -> DeviceStats:
    retransmits: Mapping[tuple[str, str], int] = tally.retransmits if tally else {}
    paths = tuple(_path(t, retransmits) for t in info.targets)
    errors = {kind: tally.errors[kind] if tally else 0 for kind in DEVICE_ERROR_KINDS.values()}
    return DeviceStats(
        device=info.name,
        shelf=info.address.shelf,
        slot=info.address.slot,
        state=info.state,
        up=info.up,
        sectors=info.sectors,
        payload=info.payload,
        open_count=info.open_count,
        firmware_version=info.firmware_version,
        frames_sent=sum(p.frames_sent for p in paths),
        # Paths gone since keep their retransmits in the device's count.
        retransmits=sum(retransmits.values()),
        errors=errors,
        in_flight=sum(p.in_flight for p in paths),
        paths=paths,
    )


def snapshot(
    devices: list[DeviceInfo],
    tally: EventTally,
    interfaces: Mapping[str, tuple[bytes, int]],
    counters: Mapping[str, InterfaceCounters],
    engine: Counters,
    requests_in_flight: int,
    listener_errors: int,
) -> InitiatorStats:
    """The stats of this instant (call on the I/O thread: nothing here is copied under a lock)."""
    names = sorted(set(interfaces) | set(counters))
    return InitiatorStats(
        devices=tuple(_device(info, tally.devices.get(info.address)) for info in devices),
        interfaces=tuple(
            InterfaceStats(
                name=name,
                in_use=name in interfaces,
                mac=format_mac(interfaces[name][0]) if name in interfaces else "",
                mtu=interfaces[name][1] if name in interfaces else 0,
                counters=InterfaceCounters(**asdict(counters.get(name, InterfaceCounters()))),
            )
            for name in names
        ),
        engine=Counters(**asdict(engine)),
        requests_in_flight=requests_in_flight,
        listener_errors=listener_errors,
    )
