"""pyaoe.initiator.events: what the initiator engine tells its driver, one small class per event.

Devices appearing, going up, down, changing or being removed; requests done or failed; the
diagnostic lines of the driver's err stream; and the counters of what was sent and seen.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import Enum

from pyaoe.errors import AoeCommandError, AtaCommandError, DeviceUnavailable, PyaoeError
from pyaoe.initiator.address import DeviceAddress

__all__ = [
    "DeviceDiscovered",
    "DeviceUp",
    "DeviceDown",
    "DeviceChanged",
    "DeviceRemoved",
    "RequestDone",
    "RequestFailed",
    "RequestError",
    "Diagnostic",
    "DiagnosticKind",
    "InitiatorEvent",
    "Counters",
]


@dataclass(frozen=True, slots=True)
class DeviceDiscovered:
    """A Query Config response named a device the table did not hold; IDENTIFY follows."""

    device: DeviceAddress
    #: The target MAC that answered, and the local interface it answered on.
    mac: bytes
    ifname: str


@dataclass(frozen=True, slots=True)
class DeviceUp:
    """IDENTIFY answered: the device can be read and written (state ``up``)."""

    device: DeviceAddress
    sectors: int


@dataclass(frozen=True, slots=True)
class DeviceDown:
    """The device went ``down``: every request on it has failed (a RequestFailed each)."""

    device: DeviceAddress
    reason: str


@dataclass(frozen=True, slots=True)
class DeviceChanged:
    """An up device changed: new capacity, payload, or a target or interface came or went."""

    device: DeviceAddress
    sectors: int
    payload: int
    what: str


@dataclass(frozen=True, slots=True)
class DeviceRemoved:
    """flush() dropped the device from the table."""

    device: DeviceAddress


@dataclass(frozen=True, slots=True)
class RequestDone:
    """A request finished: every frame of it was answered without error.

    ``data`` is the bytes read (a read-only view the engine no longer touches), None for
    writes and flushes.
    """

    request_id: int
    data: memoryview | None = None


class RequestError(Enum):
    """Why a request failed."""

    #: The target answered with the AoE error flag (``aoe_error`` holds the code).
    AOE_ERROR = "aoe error"
    #: The ATA status had BSY, DF, DRQ or ERR set (``ata_status``/``ata_error`` hold them).
    ATA_ERROR = "ata error"
    #: A frame waited deadsecs without an answer (the device goes down with it).
    TIMEOUT = "timeout"
    #: The device went down (deadsecs) or was down; the request was never answered.
    DEVICE_DOWN = "device down"
    #: flush() removed the device.
    DEVICE_REMOVED = "device removed"
    #: The answer was malformed (a read reply too short or too long).
    BAD_RESPONSE = "bad response"


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """A request failed; ``message`` says which device, target, command and why."""

    request_id: int
    error: RequestError
    message: str
    aoe_error: int = 0
    ata_status: int = 0
    ata_error: int = 0

    def to_exception(self) -> PyaoeError | OSError:
        """The pyaoe.errors exception a library call raises for this failure."""
        if self.error is RequestError.AOE_ERROR:
            return AoeCommandError(self.message, self.aoe_error)
        if self.error is RequestError.ATA_ERROR:
            return AtaCommandError(self.message, self.ata_status, self.ata_error)
        if self.error is RequestError.TIMEOUT:
            return TimeoutError(errno.ETIMEDOUT, self.message)
        if self.error is RequestError.BAD_RESPONSE:
            return OSError(errno.EIO, self.message)
        return DeviceUnavailable(self.message)


class DiagnosticKind(Enum):
    """Which of the driver's err lines a Diagnostic is."""

    RETRANSMIT = "retransmit"
    UNEXPECTED_RESPONSE = "unexpected rsp"
    AOE_ERROR = "aoe error"
    ATA_ERROR = "ata error"
    DEVICE_DOWN = "down"
    DEVICE_UP = "up"
    #: Other driver messages: payload changes, refused addresses, runt replies, ejected interfaces.
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One line for the err stream (no trailing newline), shaped like the driver's."""

    kind: DiagnosticKind
    text: str
    device: DeviceAddress | None = None


InitiatorEvent = (
    DeviceDiscovered
    | DeviceUp
    | DeviceDown
    | DeviceChanged
    | DeviceRemoved
    | RequestDone
    | RequestFailed
    | Diagnostic
)


@dataclass(slots=True)
class Counters:
    """What the initiator has sent and seen, for diagnostics and tests."""

    frames_sent: int = 0
    frames_received: int = 0
    retransmits: int = 0
    #: Of those, frames resent before their timeout because later frames were answered.
    fast_retransmits: int = 0
    #: Answers whose tag, source MAC or shelf.slot matched nothing outstanding.
    unexpected_responses: int = 0
    aoe_errors: int = 0
    ata_errors: int = 0
    #: Frames from interfaces outside the iflist, not for us, too short, or not responses.
    ignored: int = 0
    #: Config replies refused (broadcast or all-ones shelf, static-minor limits).
    refused_configs: int = 0
