"""pyaoe.initiator.discovery: Query Config out, the device table, and what its answers do to it.

Refusing impossible addresses, creating devices and targets, payload per interface, minor
numbers (dyndevs), and deciding when to IDENTIFY (the driver's aoecmd_cfg_rsp).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pyaoe.initiator.address import DeviceAddress
from pyaoe.initiator.device import Device, DeviceState, Target
from pyaoe.initiator.events import (
    Counters,
    DeviceChanged,
    DeviceDiscovered,
    Diagnostic,
    DiagnosticKind,
    InitiatorEvent,
)
from pyaoe.initiator.options import InitiatorConfig
from pyaoe.initiator.ratelimit import RateLimit
from pyaoe.initiator.rtt import RttEstimator
from pyaoe.initiator.tags import CONFIG_TAG
from pyaoe.initiator.work import Backlog
from pyaoe.protocol import (
    AOE_ERROR_TEXT,
    BROADCAST_MAC,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    Command,
    ConfigArg,
    Frame,
    Header,
    HeaderFlag,
    encode_frame,
)
from pyaoe.protocol.config import decode_config

__all__ = [
    "Discovery",
    "DeviceTable",
    "ConfigReply",
    "refusal",
    "build_config_query",
    "MAX_DEVICES",
    "SHELF_ALL_ONES",
    "STATIC_SLOTS",
]

#: Whole-disk minors the driver can hand out: 2**20 minors, 16 per device.
MAX_DEVICES = 1 << 16
#: 0x0FFF: the shelf of a target whose dip switches are set backwards; the driver refuses it.
SHELF_ALL_ONES = 0x0FFF
#: With static minors (dyndevs off) a shelf holds slots 0-15.
STATIC_SLOTS = 16
#: Minors per device (the disk and 15 partitions).
MINORS_PER_DEVICE = 16


@dataclass(frozen=True, slots=True)
class ConfigReply:
    """The parts of a Query Config response discovery uses."""

    src: bytes
    ifname: str
    shelf: int
    slot: int
    buffer_count: int
    firmware_version: int
    sector_count: int


def refusal(shelf: int, slot: int, dyndevs: bool) -> str | None:
    """Why the driver would refuse a config response from ``shelf.slot`` (its log line), or None."""
    name = f"e{shelf}.{slot}"
    if shelf == SHELF_ALL_ONES:
        return "aoe: Warning: shelf address is all ones.  Check shelf dip switches."
    if shelf == BROADCAST_SHELF:
        return f"aoe: {name}: broadcast shelf number invalid"
    if slot == BROADCAST_SLOT:
        return f"aoe: {name}: broadcast slot number invalid"
    if not dyndevs:
        if slot >= STATIC_SLOTS:
            return f"aoe: {name}: static minor device numbers support only {STATIC_SLOTS} slots per shelf"
        if shelf * STATIC_SLOTS + slot >= MAX_DEVICES:
            return f"aoe: {name}: shelf number too large for static minor device numbers"
    return None


class DeviceTable:
    """Devices by shelf.slot, with the minor numbers the driver would give them."""

    def __init__(self, dyndevs: bool = True) -> None:
        self.dyndevs = dyndevs
        self._devices: dict[DeviceAddress, Device] = {}
        self._used: set[int] = set()
        # Dynamic minors: every index below _high is in use or in _free (a heap), so the first
        # free one is found at once, not by a scan (a flood of config answers from new
        # addresses made each new device cost a scan of all the others).
        self._high = 0
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._devices)

    def __iter__(self) -> Iterator[Device]:
        return iter(list(self._devices.values()))

    def __contains__(self, address: object) -> bool:
        return address in self._devices

    def get(self, address: DeviceAddress) -> Device | None:
        return self._devices.get(address)

    def create(self, address: DeviceAddress) -> Device | None:
        """A new device, or None when every minor is taken."""
        if self.dyndevs:
            if self._free:
                index = heapq.heappop(self._free)
            elif self._high < MAX_DEVICES:
                index = self._high
                self._high += 1
            else:
                return None
        else:
            index = address.shelf * STATIC_SLOTS + address.slot
        self._used.add(index)
        device = Device(address, index * MINORS_PER_DEVICE)
        self._devices[address] = device
        return device

    def remove(self, address: DeviceAddress) -> Device | None:
        device = self._devices.pop(address, None)
        if device is not None:
            index = device.minor // MINORS_PER_DEVICE
            self._used.discard(index)
            if self.dyndevs:
                heapq.heappush(self._free, index)
        return device


def apply_config_reply(
    table: DeviceTable,
    reply: ConfigReply,
    config: InitiatorConfig,
    mtus: Mapping[str, int],
    events: list[InitiatorEvent],
) -> tuple[Device | None, bool]:
    """Enter a config response into the table (device, target, interface, payload).

    Returns the device (None when refused) and whether it should be identified now: only
    while nobody has it open, so that its size never changes under a user (as the driver).
    """
    reason = refusal(reply.shelf, reply.slot, config.dyndevs)
    if reason is not None:
        events.append(Diagnostic(DiagnosticKind.INFO, reason))
        return None, False
    address = DeviceAddress(reply.shelf, reply.slot)
    device = table.get(address)
    if device is None:
        device = table.create(address)
        if device is None:
            events.append(Diagnostic(DiagnosticKind.INFO, "aoe: device allocation failure", address))
            return None, False
        events.append(DeviceDiscovered(address, reply.src, reply.ifname))
    target = device.target(reply.src)
    changed = []
    if target is None:
        target = Target(
            device,
            reply.src,
            reply.buffer_count,
            config.maxout,
            RttEstimator(config.initial_rto, config.min_rto, config.max_rto),
        )
        device.targets.append(target)
        changed.append("target")
    else:
        target.set_bufcnt(reply.buffer_count, config.maxout)
    target.sector_count = reply.sector_count
    target.firmware_version = reply.firmware_version
    if target.paths.add(reply.ifname) and "target" not in changed:
        changed.append("interface")
    old_payload = device.payload
    payload = device.compute_payload(mtus)
    if payload != old_payload:
        events.append(
            Diagnostic(
                DiagnosticKind.INFO, f"aoe: {device.name}: setting {payload} byte data frames", address
            )
        )
        changed.append("payload")
    if changed and device.state is DeviceState.UP:
        events.append(DeviceChanged(address, device.sectors, device.payload, ",".join(changed)))
    if device.open_count:
        return device, False
    device.firmware_version = reply.firmware_version
    return device, True


def build_config_query(src: bytes, shelf: int, slot: int, dst: bytes = BROADCAST_MAC) -> bytes:
    """A Query Config read (CCmd 0, empty string), broadcast unless ``dst`` is given; padded."""
    header = Header(dst=dst, src=src, shelf=shelf, slot=slot, command=Command.QUERY_CONFIG, tag=CONFIG_TAG)
    return encode_frame(Frame(header, ConfigArg()))


@dataclass(slots=True, eq=False)
class Discovery:
    """Takes Query Config answers into the table and asks for IDENTIFY when a device needs one."""

    config: InitiatorConfig
    #: The allowed interfaces' MTUs (a live view: the engine updates it).
    mtus: Mapping[str, int]
    table: DeviceTable
    backlog: Backlog
    events: deque[InitiatorEvent]
    counters: Counters
    ratelimit: RateLimit

    def config_answer(
        self,
        frame: bytes | bytearray | memoryview,
        src: bytes,
        shelf: int,
        slot: int,
        verflags: int,
        error: int,
        ifname: str,
        now: float,
    ) -> None:
        """A Query Config answer (any version: vblade announces itself with version 0)."""
        if verflags & HeaderFlag.ERROR:
            self.counters.aoe_errors += 1
            # Rate-limited, as the driver's message is: anyone may send these.
            if self.ratelimit.allow(now) is not None:
                self.events.append(
                    Diagnostic(
                        DiagnosticKind.AOE_ERROR,
                        f"aoe: error packet from {shelf}.{slot}@{ifname}; ecode={error} "
                        f"'{AOE_ERROR_TEXT.get(error, 'unknown error')}'",
                    )
                )
            return
        arg = decode_config(frame)
        reply = ConfigReply(
            src, ifname, shelf, slot, arg.buffer_count, arg.firmware_version, arg.sector_count
        )
        events: list[InitiatorEvent] = []
        device, identify = apply_config_reply(self.table, reply, self.config, self.mtus, events)
        self.events.extend(events)
        if device is None:
            self.counters.refused_configs += 1
            return
        self.backlog.add(device)
        if identify:
            self.want_identify(device)
        self.backlog.dirty[device] = None

    def want_identify(self, device: Device) -> None:
        """Send the device an IDENTIFY as soon as a window has room (unless one is out)."""
        work = self.backlog.works[device]
        if work.identify is None:
            work.identify_wanted = True
        self.backlog.dirty[device] = None
