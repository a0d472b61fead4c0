"""pyaoe.initiator.device: one AoE device (eX.Y) and the targets (MACs x local interfaces) serving it.

Device and Target hold the table's state (state machine, sizes, payload, windows, RTT, paths,
taint) and the choice of target; DeviceInfo/TargetInfo are the read-only snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from pyaoe.initiator.address import DeviceAddress
from pyaoe.initiator.events import DeviceChanged, DeviceUp, Diagnostic, DiagnosticKind, InitiatorEvent
from pyaoe.initiator.paths import MAX_INTERFACES, Paths
from pyaoe.initiator.rtt import RttEstimator
from pyaoe.initiator.timers import Timer, TimerKind
from pyaoe.initiator.window import Window
from pyaoe.protocol import (
    LBA28_MAX,
    RESPONSE_VERFLAGS,
    SECTOR_SIZE,
    Command,
    IdentifyInfo,
    effective_sector_count,
    sectors_per_frame,
)
from pyaoe.protocol.layout import response_head

__all__ = [
    "DeviceState",
    "Target",
    "Device",
    "DeviceInfo",
    "TargetInfo",
    "MAX_INTERFACES",
    "MAX_TAINT",
    "DEFAULT_PAYLOAD",
]

#: Taint stops growing here (the driver's MAX_TAINT).
MAX_TAINT = 1000
#: Payload when a target or interface allows no whole sector count (the driver's DEFAULTBCNT).
DEFAULT_PAYLOAD = 1024


class DeviceState(Enum):
    """Where a device is in its life. Transitions, and what causes them:

    NEW -> UP      IDENTIFY answered
    UP -> DOWN     a frame waited deadsecs (all requests fail)
    DOWN -> UP     IDENTIFY answered again: a config reply while not open, revalidate, or the
                   query sent on last close
    any -> gone    flush()
    """

    #: Discovered, IDENTIFY not answered yet (the driver shows such a device as "down").
    NEW = "new"
    UP = "up"
    DOWN = "down"


class Target:
    """One MAC answering for a device, the local interfaces it answers on, and its window."""

    __slots__ = (
        "bufcnt",
        "device",
        "firmware_version",
        "ifaces",
        "mac",
        "nout",
        "paths",
        "payload",
        "probe_timer",
        "probing",
        "reads",
        "request_prefixes",
        "response_head",
        "rtt",
        "sector_count",
        "taint",
        "window",
        "writes",
    )

    def __init__(self, device: Device, mac: bytes, bufcnt: int, maxout: int, rtt: RttEstimator) -> None:
        self.device = device
        self.mac = mac
        #: Local interfaces this target answered on, the frames' rotation over them and their losses.
        self.paths = Paths()
        #: paths.names: the same list, read-only here.
        self.ifaces = self.paths.names
        self.bufcnt = bufcnt
        #: Sector count from its config reply (raw: 0 means 2).
        self.sector_count = 0
        self.firmware_version = 0
        self.window = Window(min(bufcnt, maxout))
        self.rtt = rtt
        #: Frames sent to it and not yet answered or timed out.
        self.nout = 0
        #: Demerits for not answering (the driver's scorn): tainted targets get no new frames
        #: while an untainted one exists, only probes.
        self.taint = 0
        #: A probe is in flight or scheduled (the timer that sends the next one).
        self.probing = False
        self.probe_timer = Timer(TimerKind.PROBE, self)
        #: Bytes per frame over its worst interface.
        self.payload = DEFAULT_PAYLOAD
        self.reads = 0
        self.writes = 0
        #: The bytes from its source MAC to the command of a clean ATA answer from it (compared
        #: whole, instead of field by field, by the receive path).
        shelf, slot = device.address
        self.response_head = response_head(mac, RESPONSE_VERFLAGS, shelf, slot, Command.ATA)
        #: The first bytes of every request to it (up to the tag), by interface, with the
        #: interface's MAC object they were made with (remade when it changes).
        self.request_prefixes: dict[str, tuple[bytes, bytes]] = {}

    def set_bufcnt(self, bufcnt: int, maxout: int) -> None:
        self.bufcnt = bufcnt
        self.window.set_nframes(min(bufcnt, maxout))

    def compute_payload(self, mtus: Mapping[str, int]) -> int:
        """Bytes per frame: the target's sector count and each interface's MTU, the smaller, as
        the driver's aoecmd_cfg_rsp/setifbcnt compute it; the smallest over the interfaces."""
        scnt = effective_sector_count(self.sector_count)
        best = 0
        for ifname in self.ifaces:
            n = min(sectors_per_frame(mtus.get(ifname, 0)), scnt) * SECTOR_SIZE or DEFAULT_PAYLOAD
            best = n if best == 0 else min(best, n)
        self.payload = best or min(scnt * SECTOR_SIZE, DEFAULT_PAYLOAD)
        return self.payload

    def scorn(self) -> None:
        """Taint grows fast (about x3 each time), capped at MAX_TAINT; answers lower it by one."""
        self.taint = min(MAX_TAINT, (self.taint + 1) * 3)

    @property
    def usable(self) -> bool:
        return bool(self.ifaces)


class Device:
    """An AoE device: its address, state, size and targets (its requests: DataPath's DeviceWork)."""

    __slots__ = (
        "address",
        "firmware_version",
        "identify",
        "lba48",
        "minor",
        "next_target",
        "open_count",
        "payload",
        "sectors",
        "state",
        "targets",
    )

    def __init__(self, address: DeviceAddress, minor: int) -> None:
        self.address = address
        self.minor = minor
        self.state = DeviceState.NEW
        self.targets: list[Target] = []
        self.next_target = 0
        self.open_count = 0
        self.sectors = 0
        self.lba48 = False
        self.identify: IdentifyInfo | None = None
        self.firmware_version = 0
        #: Bytes per data frame: the smallest target payload (the driver's maxbcnt).
        self.payload = 0

    @property
    def name(self) -> str:
        return self.address.name

    @property
    def is_up(self) -> bool:
        return self.state is DeviceState.UP

    @property
    def state_string(self) -> str:
        """The sysfs ``state`` text, as the driver writes it."""
        if self.state is DeviceState.UP:
            return "up"
        return "down,closewait" if self.open_count else "down"

    def apply_identify(self, info: IdentifyInfo, src: bytes) -> list[InitiatorEvent]:
        """Take an IDENTIFY DEVICE answer from ``src``: its size; up if it was not. The events to tell."""
        old = self.sectors, self.lba48
        self.identify = info
        # Without LBA48 only 2**28 sectors can be addressed, whatever words 60-61 claim.
        self.sectors = info.sectors if info.lba48 else min(info.sectors, LBA28_MAX + 1)
        self.lba48 = info.lba48
        line = f"aoe: {src.hex()} {self.name} v{self.firmware_version:04x} has {info.sectors} sectors"
        if self.state is not DeviceState.UP:
            self.state = DeviceState.UP
            return [
                DeviceUp(self.address, info.sectors),
                Diagnostic(DiagnosticKind.DEVICE_UP, line, self.address),
            ]
        if old != (info.sectors, info.lba48):
            return [
                Diagnostic(DiagnosticKind.INFO, line, self.address),
                DeviceChanged(self.address, info.sectors, self.payload, "capacity"),
            ]
        return []

    def target(self, mac: bytes) -> Target | None:
        for t in self.targets:
            if t.mac == mac:
                return t
        return None

    def compute_payload(self, mtus: Mapping[str, int]) -> int:
        """Recompute every target's payload and the device's (the smallest); returns it."""
        sizes = [t.compute_payload(mtus) for t in self.targets if t.usable]
        self.payload = min(sizes) if sizes else 0
        return self.payload

    def pick_target(self) -> Target | None:
        """The next target with room in its window, round robin (the driver's newframe).

        Tainted targets are passed over while any untainted usable target exists, even a
        full one: their frames wait rather than go to a target that stopped answering.
        """
        targets = self.targets
        n = len(targets)
        if n == 1:
            t = targets[0]
            return t if t.ifaces and t.nout < t.window.maxout else None
        clean_exists = any(t.taint == 0 and t.ifaces for t in targets)
        start = self.next_target
        for i in range(n):
            t = targets[(start + i) % n]
            if t.ifaces and t.nout < t.window.maxout and (t.taint == 0 or not clean_exists):
                self.next_target = (start + i + 1) % n
                return t
        return None

    def choose_target(self, target: Target) -> Target | None:
        """``target`` if it still answers and has room in its window; when it is gone, has no
        interface left or is tainted while another is not, any target (pick_target: they serve
        the same device); None when the choice has no room."""
        if not target.ifaces or target not in self.targets:
            return self.pick_target()
        if target.taint and self.untainted_count():
            return self.pick_target()
        return target if target.nout < target.window.maxout else None

    def untainted_count(self) -> int:
        return sum(1 for t in self.targets if t.taint == 0 and t.usable)

    def netifs(self) -> list[str]:
        """Local interfaces over all targets, first seen first, at most 8 (sysfs ``netif``)."""
        seen: dict[str, None] = {}
        for t in self.targets:
            for name in t.ifaces:
                seen.setdefault(name, None)
        return list(seen)[:MAX_INTERFACES]

    def info(self) -> DeviceInfo:
        netifs = self.netifs()
        return DeviceInfo(
            address=self.address,
            name=self.name,
            state=self.state_string,
            up=self.is_up,
            mac=self.targets[0].mac.hex() if self.targets else "none",
            netif=",".join(netifs) if netifs else "none",
            payload=self.payload,
            firmware_version=self.firmware_version,
            sectors=self.sectors,
            lba48=self.lba48,
            identify=self.identify,
            open_count=self.open_count,
            minor=self.minor,
            targets=tuple(
                TargetInfo(
                    mac=t.mac,
                    interfaces=tuple(t.ifaces),
                    nout=t.nout,
                    maxout=t.window.maxout,
                    nframes=t.window.nframes,
                    ssthresh=t.window.ssthresh,
                    taint=t.taint,
                    srtt=t.rtt.srtt,
                    rto=t.rtt.rto,
                    bufcnt=t.bufcnt,
                    sector_count=t.sector_count,
                    payload=t.payload,
                    reads=t.reads,
                    writes=t.writes,
                )
                for t in self.targets
            ),
        )


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """One target of a device, as debugfs shows it."""

    mac: bytes
    interfaces: tuple[str, ...]
    nout: int
    maxout: int
    nframes: int
    ssthresh: int
    taint: int
    srtt: float | None
    rto: float
    bufcnt: int
    sector_count: int
    payload: int
    #: Read and write frames sent to it.
    reads: int
    writes: int


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device as sysfs and aoe-stat show it."""

    address: DeviceAddress
    #: eX.Y
    name: str
    #: "up", "down" or "down,closewait", exactly as the driver's sysfs ``state``.
    state: str
    up: bool
    #: The first target's MAC as 12 hex digits, or "none" (sysfs ``mac``).
    mac: str
    #: Local interfaces, comma separated, or "none" (sysfs ``netif``).
    netif: str
    #: Bytes of data per frame (sysfs ``payload``); 0 before any target is usable.
    payload: int
    #: From the last config reply read while the device was not open (sysfs ``firmware-version``).
    firmware_version: int
    #: Capacity in 512-byte sectors (0 until IDENTIFY answered).
    sectors: int
    lba48: bool
    identify: IdentifyInfo | None
    open_count: int
    #: Minor number of the whole disk (16 per device, as the driver's partitions).
    minor: int
    targets: tuple[TargetInfo, ...]
