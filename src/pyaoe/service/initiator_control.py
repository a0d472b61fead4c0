"""pyaoe.service.initiator_control: the verbs `pyaoe ctl --initiator` sends a running initiator,
and their handlers.

INITIATOR_VERBS is what the client parses; register() binds each verb to its handler on a
daemon's ControlServer, whose executor runs them on the initiator's I/O thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyaoe.errors import ConfigError
from pyaoe.initiator import DeviceAddress, DeviceInfo, parse_device_name
from pyaoe.service.control import Arg, ControlServer, Reply, Table, Verb
from pyaoe.service.initiator import InitiatorService
from pyaoe.service.initiator.stats import DeviceStats, InitiatorStats, PathStats, device_dict

__all__ = ["DEFAULT_SOCKET", "INITIATOR_VERBS", "Hooks", "executor", "register"]

DEFAULT_SOCKET = "/run/pyaoe/initiator.sock"

INITIATOR_VERBS = (
    Verb("list", "devices: state, size, payload, and paths (target MACs and the interfaces to each)"),
    Verb(
        "stats",
        "counters per device, per path and per interface: frames, retransmits, errors, RTT, window, "
        "in flight",
        (Arg(("device",), {"metavar": "eX.Y", "nargs": "?", "help": "one device in detail"}),),
    ),
    Verb("discover", "broadcast a Query Config on every interface in use (what aoe-discover does)"),
    Verb(
        "revalidate",
        "ask a device's targets again: size, paths and partitions are read anew (aoe-revalidate)",
        (Arg(("device",), {"metavar": "eX.Y", "help": "the device, e.g. e1.2"}),),
    ),
    Verb(
        "flush",
        "forget devices (aoe-flush): those down and not open; with -a every one not open; or these",
        (
            Arg(("-a", "--all"), {"action": "store_true", "help": "every device not open, up or not"}),
            Arg(("devices",), {"metavar": "eX.Y", "nargs": "*", "help": "these devices (none may be open)"}),
        ),
    ),
)


@dataclass
class Hooks:
    """What the daemon around the initiator does after a verb (the FUSE tree's share of it).

    Each is called on the I/O thread and must not block."""

    #: A device was revalidated (with its info from before): read its size and partitions anew.
    revalidated: Callable[[str, DeviceInfo], None] | None = None


def _address(text: object) -> DeviceAddress:
    try:
        return parse_device_name(str(text))
    except ValueError:
        raise ConfigError(f"{str(text)!r} is not an AoE device name (expected eX.Y)") from None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e6:.0f}µs" if seconds < 0.01 else f"{seconds * 1e3:.1f}ms"


def _paths_text(device: DeviceStats) -> str:
    return " ".join(f"{p.target}@{','.join(p.interfaces) or '-'}" for p in device.paths) or "-"


def _path_row(device: DeviceStats, path: PathStats) -> tuple[object, ...]:
    return (
        device.device,
        path.target,
        ",".join(path.interfaces) or "-",
        path.frames_sent,
        path.retransmits,
        _duration(path.rtt),
        _duration(path.rto),
        f"{path.window}/{path.window_limit}",
        path.in_flight,
        path.taint,
    )


_PATH_COLUMNS = (
    "device",
    "target",
    "interfaces",
    "frames sent",
    "retransmits",
    "rtt",
    "rto",
    "window",
    "in flight",
    "taint",
)
_PATH_TITLE = "paths (rtt: smoothed round trip; rto: resend after; window: frames allowed now/cap)"


class _Verbs:
    """Each verb's handler, bound to one initiator (they run on its I/O thread)."""

    def __init__(self, service: InitiatorService, hooks: Hooks) -> None:
        self.service = service
        self.hooks = hooks

    def _stats(self) -> InitiatorStats:
        return self.service.stats()

    def _device(self, stats: InitiatorStats, text: object) -> DeviceStats:
        address = _address(text)
        device = stats.device(address)
        if device is None:
            raise ConfigError(f"{address.name}: no such AoE device")
        return device

    def verb_list(self, _args: dict[str, Any]) -> Reply:
        devices = self._stats().devices
        data = [
            {
                "device": d.device,
                "state": d.state,
                "sectors": d.sectors,
                "bytes": d.size,
                "payload": d.payload,
                "open": d.open_count,
                "firmware_version": d.firmware_version,
                "paths": [{"target": p.target, "interfaces": list(p.interfaces)} for p in d.paths],
            }
            for d in devices
        ]
        rows = [
            (d.device, d.state, f"{d.size / 1e9:.3f}GB", d.payload, d.open_count, _paths_text(d))
            for d in devices
        ]
        columns = ("device", "state", "size", "payload", "open", "paths (target@interfaces)")
        return Reply(data=data, tables=[Table(columns, rows)])

    def verb_stats(self, args: dict[str, Any]) -> Reply:
        stats = self._stats()
        if args.get("device"):
            device = self._device(stats, args["device"])
            rows: list[tuple[object, ...]] = [
                ("state", device.state),
                ("frames sent", device.frames_sent),
                ("retransmits", device.retransmits),
                *((f"errors {kind}", n) for kind, n in device.errors.items()),
                ("frames in flight", device.in_flight),
            ]
            return Reply(
                data=device_dict(device),
                tables=[
                    Table(("counter", device.device), rows),
                    Table(_PATH_COLUMNS, [_path_row(device, p) for p in device.paths], _PATH_TITLE),
                ],
            )
        device_rows = [
            (
                d.device,
                d.state,
                d.frames_sent,
                d.retransmits,
                sum(d.errors.values()),
                d.in_flight,
                len(d.paths),
            )
            for d in stats.devices
        ]
        interface_rows = [
            (
                i.name,
                "yes" if i.in_use else "no",
                i.counters.frames_received,
                i.counters.frames_sent,
                i.counters.bytes_received,
                i.counters.bytes_sent,
                i.counters.send_losses,
                i.counters.socket_errors,
                i.counters.link_down,
            )
            for i in stats.interfaces
        ]
        engine = stats.engine
        totals: list[tuple[object, ...]] = [
            ("requests in flight", stats.requests_in_flight),
            ("frames sent", engine.frames_sent),
            ("frames received", engine.frames_received),
            ("retransmits", engine.retransmits),
            ("aoe errors", engine.aoe_errors),
            ("ata errors", engine.ata_errors),
            ("unexpected responses", engine.unexpected_responses),
            ("frames ignored", engine.ignored),
            ("config replies refused", engine.refused_configs),
            ("listener failures", stats.listener_errors),
        ]
        return Reply(
            data=stats.as_dict(),
            tables=[
                Table(
                    ("device", "state", "frames sent", "retransmits", "errors", "in flight", "paths"),
                    device_rows,
                    "devices",
                ),
                Table(
                    _PATH_COLUMNS,
                    [_path_row(d, p) for d in stats.devices for p in d.paths],
                    _PATH_TITLE,
                ),
                Table(
                    (
                        "interface",
                        "in use",
                        "frames in",
                        "frames out",
                        "bytes in",
                        "bytes out",
                        "not sent",
                        "socket errors",
                        "link down",
                    ),
                    interface_rows,
                    "interfaces",
                ),
                Table(("counter", "initiator"), totals, "initiator"),
            ],
        )

    def verb_discover(self, _args: dict[str, Any]) -> Reply:
        interfaces = self.service.rescan()
        where = ", ".join(interfaces) if interfaces else "no interface (none is up and allowed)"
        return Reply(data={"interfaces": interfaces}, message=f"discovery sent on {where}")

    def verb_revalidate(self, args: dict[str, Any]) -> Reply:
        address = _address(args.get("device"))
        try:
            before = self.service.device_info(address)
            self.service.revalidate(address)
        except OSError:
            raise ConfigError(f"{address.name}: no such AoE device") from None
        if self.hooks.revalidated is not None:
            self.hooks.revalidated(address.name, before)
        return Reply(data={"device": address.name}, message=f"{address.name}: revalidating")

    def verb_flush(self, args: dict[str, Any]) -> Reply:
        names = [str(n) for n in args.get("devices") or []]
        if args.get("all") and names:
            raise ConfigError("give -a or device names, not both")
        if names:
            stats = self._stats()
            # Checked all first: one bad name flushes nothing.
            devices = [self._device(stats, name) for name in names]
            busy = [d.device for d in devices if d.open_count]
            if busy:
                raise ConfigError(f"{', '.join(busy)}: open (in use), not flushed")
            dropped = [name for d in devices for name in self.service.flush_devices(d.device)]
        else:
            dropped = self.service.flush_devices("all" if args.get("all") else "")
        text = ", ".join(dropped) if dropped else "nothing"
        return Reply(data={"flushed": dropped}, message=f"flushed {text}")


def register(server: ControlServer, service: InitiatorService, hooks: Hooks | None = None) -> None:
    """Bind every verb of INITIATOR_VERBS to its handler for ``service``."""
    verbs = _Verbs(service, hooks or Hooks())
    for verb in INITIATOR_VERBS:
        server.register(verb, getattr(verbs, f"verb_{verb.name}"))


def executor(service: InitiatorService) -> Callable[[Callable[[], Reply]], Reply]:
    """A ControlServer executor that runs each handler on ``service``'s I/O thread."""

    def run(handler: Callable[[], Reply]) -> Reply:
        result: Reply = service.call(lambda _now: handler())
        return result

    return run
