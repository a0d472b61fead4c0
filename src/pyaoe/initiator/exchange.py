"""pyaoe.initiator.exchange: one ATA command the initiator sends and the answer it waits for.

An Exchange is made by new_exchange() (with command_fields() for the ATA registers its kind
needs) and carries what it takes to send it again, elsewhere, and to match its answer by tag.
"""

from __future__ import annotations

from enum import IntEnum

from pyaoe.initiator.device import Device, Target
from pyaoe.initiator.requests import Request
from pyaoe.protocol import SECTOR_SIZE, AtaCommand, AtaFlag

__all__ = ["Exchange", "ExchangeKind", "ExchangeState", "new_exchange", "command_fields", "TAGS_KEPT"]

#: Tags of one exchange kept matchable: an answer to one of its last few sends still counts.
TAGS_KEPT = 4
_EXT_FLAG = int(AtaFlag.EXTENDED)
_WRITE_FLAG = int(AtaFlag.WRITE)
#: The LBA28 device bits (protocol.lba_register's), above the 28 address bits.
_LBA28_BITS = 0xE0 << 24
#: The device register bits the driver puts in LBA3 for IDENTIFY and FLUSH CACHE (no LBA).
_DEVICE_REGISTER = 0xA0 << 24


class ExchangeKind(IntEnum):
    """What an exchange does; decides what its answer completes."""

    READ = 0
    WRITE = 1
    #: Reads an edge sector of an unaligned write.
    RMW_READ = 2
    FLUSH = 3
    IDENTIFY = 4
    #: Checks whether a tainted target answers again (the driver's probe).
    PROBE = 5


class ExchangeState(IntEnum):
    #: Sent, waiting for an answer or a timeout.
    IN_FLIGHT = 0
    #: Timed out, waiting in the device's resend queue for room in a window.
    WAITING = 1
    #: Answered, failed or dropped; its tags are forgotten.
    RETIRED = 2


_IN_FLIGHT = ExchangeState.IN_FLIGHT


def _fields(kind: ExchangeKind, extended: bool) -> tuple[int, int, int]:
    """command_fields() for a device with LBA48 (and, for FLUSH, FLUSH CACHE EXT) or without."""
    if kind is ExchangeKind.IDENTIFY:
        return AtaCommand.IDENTIFY_DEVICE, 0, _DEVICE_REGISTER
    if kind is ExchangeKind.FLUSH:
        if extended:
            return AtaCommand.FLUSH_CACHE_EXT, _EXT_FLAG, 0
        return AtaCommand.FLUSH_CACHE, 0, _DEVICE_REGISTER
    ext = _EXT_FLAG if extended else 0
    bits = 0 if extended else _LBA28_BITS
    if kind is ExchangeKind.WRITE:
        return (
            (AtaCommand.WRITE_SECTORS_EXT if extended else AtaCommand.WRITE_SECTORS),
            ext | _WRITE_FLAG,
            bits,
        )
    return (AtaCommand.READ_SECTORS_EXT if extended else AtaCommand.READ_SECTORS), ext, bits


_FIELDS = {(kind, extended): _fields(kind, extended) for kind in ExchangeKind for extended in (False, True)}


def command_fields(kind: ExchangeKind, device: Device) -> tuple[int, int, int]:
    """The ATA command, aflags and LBA register bits an exchange of ``kind`` carries to ``device``
    (its LBA registers are its LBA | those bits): the EXT forms when IDENTIFY said LBA48 (for
    FLUSH, FLUSH CACHE EXT)."""
    if kind is ExchangeKind.FLUSH:
        identify = device.identify
        return _FIELDS[kind, identify is not None and identify.flush_cache_ext]
    return _FIELDS[kind, device.lba48]


class Exchange:
    """One ATA command: what it asks, where its answer goes, and how it was sent.

    Made by new_exchange() for its first send, to ``target`` at ``now`` (InFlight.send makes
    that send and any later one and fills in the rest of the sending state); the tags of
    earlier sends that still match an answer are in ``older``.
    """

    __slots__ = (
        "aflags",
        "command",
        "deadline",
        "dest",
        "dest_offset",
        "device",
        "first_sent",
        "ifname",
        "kind",
        "lba",
        "lba_registers",
        "nsect",
        "older",
        "on_path",
        "pseq",
        "request",
        "sent_at",
        "seq",
        "state",
        "tag",
        "target",
        "target_since",
        "transmissions",
        "tries",
    )

    kind: ExchangeKind
    device: Device
    request: Request | None
    lba: int
    nsect: int
    command: int
    aflags: int
    lba_registers: int
    #: Where an answer's data goes (reads, IDENTIFY; None for edge reads and probes).
    dest: bytearray | memoryview | None
    #: Byte offset in the request's buffer: of a read's or write's data (a write frame is rebuilt
    #: from there on resend), or the edge sector's index for an edge read.
    dest_offset: int
    #: The target of its latest send, and the interface that send took.
    target: Target
    ifname: str
    #: The tag of the latest send (0: not sent yet), and when that send went out.
    tag: int
    sent_at: float
    #: Earlier sends still matchable: (tag, target, sent_at), oldest first; None until a resend.
    older: list[tuple[int, Target, float]] | None
    first_sent: float
    #: The latest send's number among the target's sends, and among those on its interface;
    #: the interface's exchanges out (Paths.outstanding[ifname]) while it is one of them.
    seq: int
    pseq: int
    on_path: dict[Exchange, None] | None
    #: When the current target got it (for scorn: how long this target kept it unanswered).
    target_since: float
    #: Sends in all, and sends to the current target (its timeout doubles with each).
    transmissions: int
    tries: int
    deadline: float
    state: ExchangeState

    def __init__(self) -> None:
        raise TypeError("an Exchange is made by new_exchange()")

    def sent_with(self, tag: int) -> tuple[Target, float] | None:
        """The target and time of the send that carried ``tag``, or None if it is not one of ours."""
        if tag == self.tag:
            return self.target, self.sent_at
        for older, target, sent_at in self.older or ():
            if older == tag:
                return target, sent_at
        return None

    def leave_path(self) -> None:
        """No longer counted out on its interface (answered, taken as lost, or sent again)."""
        on_path = self.on_path
        if on_path is not None:
            del on_path[self]
            self.on_path = None

    def describe(self) -> str:
        """The command, for error messages: 'WRITE of 2 sectors at LBA 100'."""
        kind = self.kind
        if kind is ExchangeKind.FLUSH:
            return "FLUSH CACHE" + (" EXT" if self.command == AtaCommand.FLUSH_CACHE_EXT else "")
        if kind is ExchangeKind.IDENTIFY:
            return "IDENTIFY DEVICE"
        verb = "WRITE" if kind is ExchangeKind.WRITE else "READ"
        return f"{verb} of {self.nsect} sectors at LBA {self.lba}"

    def write_data(self) -> memoryview | None:
        """A write's sectors in its request's buffer (None for anything else)."""
        if self.kind is not ExchangeKind.WRITE or self.request is None:
            return None
        start = self.dest_offset
        return memoryview(self.request.buf)[start : start + self.nsect * SECTOR_SIZE]


_make = object.__new__


def new_exchange(
    kind: ExchangeKind,
    device: Device,
    request: Request | None,
    target: Target,
    now: float,
    lba: int,
    nsect: int,
    command: int,
    aflags: int,
    lba_registers: int,
    dest: bytearray | memoryview | None = None,
    dest_offset: int = 0,
) -> Exchange:
    """An exchange made for its first send, to ``target`` at ``now``: the one way one is made.

    A function rather than Exchange.__init__: calling a class costs this interpreter a good deal
    more than calling a function, and a request makes one exchange per frame.
    """
    exchange: Exchange = _make(Exchange)
    exchange.kind = kind
    exchange.device = device
    exchange.request = request
    exchange.lba = lba
    exchange.nsect = nsect
    exchange.command = command
    exchange.aflags = aflags
    exchange.lba_registers = lba_registers
    exchange.dest = dest
    exchange.dest_offset = dest_offset
    exchange.target = target
    exchange.ifname = ""
    exchange.tag = 0
    exchange.sent_at = now
    exchange.older = None
    exchange.first_sent = now
    exchange.seq = 0
    exchange.pseq = 0
    exchange.on_path = None
    exchange.target_since = now
    exchange.transmissions = 1
    exchange.tries = 1
    exchange.deadline = 0.0
    exchange.state = _IN_FLIGHT
    return exchange
