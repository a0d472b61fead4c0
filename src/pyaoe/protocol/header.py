"""pyaoe.protocol.header: the common AoE header (AoEr11 §2) with the Ethernet header before it.

Commands, header flags and AoE error codes, the Header message, and its encoder and decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum, IntFlag

from pyaoe.errors import FrameError
from pyaoe.protocol.constants import (
    AOE_HLEN,
    AOE_VERSION,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    ETH_P_AOE,
)
from pyaoe.protocol.layout import HEADER

__all__ = [
    "Command",
    "HeaderFlag",
    "REQUEST_VERFLAGS",
    "RESPONSE_VERFLAGS",
    "AoeError",
    "AOE_ERROR_TEXT",
    "Header",
    "decode_header",
    "encode_header_into",
    "reply_header",
]


class Command(IntEnum):
    """AoE command codes (AoEr11 §2.5). Vendor commands 0xF0-0xFF stay plain ints."""

    #: Issue ATA Command (AoEr11 §3.1).
    ATA = 0
    #: Query Config Information (AoEr11 §3.2).
    QUERY_CONFIG = 1
    #: Mac Mask List (AoEr11 §3.3).
    MAC_MASK_LIST = 2
    #: Reserve/Release (AoEr11 §3.4).
    RESERVE_RELEASE = 3


class HeaderFlag(IntFlag):
    """The low nibble of the version/flags byte."""

    #: R: the frame is a response.
    RESPONSE = 0x08
    #: E: the response reports an error in the Error field.
    ERROR = 0x04


#: The version/flags byte of a request this implementation sends: version 1, no flags.
REQUEST_VERFLAGS = AOE_VERSION << 4
#: ... and of a response without error.
RESPONSE_VERFLAGS = REQUEST_VERFLAGS | HeaderFlag.RESPONSE


class AoeError(IntEnum):
    """AoE error codes (AoEr11 §2.4), sent with the E flag."""

    #: vblade BadCmd; Linux "unrecognized command code".
    UNRECOGNIZED_COMMAND = 1
    #: vblade BadArg; Linux "bad argument parameter".
    BAD_ARGUMENT = 2
    #: Linux "device unavailable".
    DEVICE_UNAVAILABLE = 3
    #: vblade ConfigErr; Linux "config string present".
    CONFIG_STRING_PRESENT = 4
    #: Linux "unsupported version".
    UNSUPPORTED_VERSION = 5
    #: vblade Res; new in AoEr11.
    TARGET_RESERVED = 6


#: Texts as the Linux driver prints them (aoenet.c aoe_errlist), plus r11's error 6.
AOE_ERROR_TEXT = {
    0: "no such error",
    AoeError.UNRECOGNIZED_COMMAND: "unrecognized command code",
    AoeError.BAD_ARGUMENT: "bad argument parameter",
    AoeError.DEVICE_UNAVAILABLE: "device unavailable",
    AoeError.CONFIG_STRING_PRESENT: "config string present",
    AoeError.UNSUPPORTED_VERSION: "unsupported version",
    AoeError.TARGET_RESERVED: "target is reserved",
}


@dataclass(frozen=True, slots=True)
class Header:
    """Ethernet addresses and the common AoE header of one frame."""

    #: Destination MAC (6 bytes).
    dst: bytes
    #: Source MAC (6 bytes).
    src: bytes
    #: Major address; 0xFFFF is broadcast.
    shelf: int
    #: Minor address; 0xFF is broadcast.
    slot: int
    #: A Command value, or a vendor command int.
    command: int
    #: Opaque to the target, echoed in the response.
    tag: int
    #: HeaderFlag bits (low nibble of byte 14).
    flags: int = 0
    #: AoeError code, meaningful when flags has ERROR.
    error: int = 0
    #: Protocol version (high nibble of byte 14).
    version: int = AOE_VERSION

    @property
    def is_response(self) -> bool:
        return bool(self.flags & HeaderFlag.RESPONSE)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & HeaderFlag.ERROR)

    @property
    def is_broadcast(self) -> bool:
        """True when shelf or slot is a broadcast address."""
        return self.shelf == BROADCAST_SHELF or self.slot == BROADCAST_SLOT

    def __post_init__(self) -> None:
        if len(self.dst) != 6 or len(self.src) != 6:
            raise ValueError("MAC addresses are 6 bytes")
        if not (0 <= self.shelf <= 0xFFFF and 0 <= self.slot <= 0xFF):
            raise ValueError(f"address {self.shelf}.{self.slot} out of range")
        if not (0 <= self.command <= 0xFF and 0 <= self.tag <= 0xFFFFFFFF):
            raise ValueError("command or tag out of range")
        if not (0 <= self.flags <= 0xF and 0 <= self.version <= 0xF and 0 <= self.error <= 0xFF):
            raise ValueError("version, flags or error out of range")


def decode_header(buf: bytes | bytearray | memoryview) -> Header:
    """Decode the Ethernet and AoE headers at the start of a frame.

    Raises FrameError (drop silently) when the frame is shorter than 24 bytes or is not AoE.
    """
    if len(buf) < AOE_HLEN:
        raise FrameError(f"frame of {len(buf)} bytes is shorter than the {AOE_HLEN}-byte AoE header")
    dst, src, ethertype, verflags, error, shelf, slot, command, tag = HEADER.unpack_from(buf, 0)
    if ethertype != ETH_P_AOE:
        raise FrameError(f"EtherType 0x{ethertype:04x} is not AoE")
    return Header(
        dst=dst,
        src=src,
        shelf=shelf,
        slot=slot,
        command=command,
        tag=tag,
        flags=verflags & 0x0F,
        error=error,
        version=verflags >> 4,
    )


def encode_header_into(buf: bytearray | memoryview, header: Header) -> None:
    """Write the 24 header bytes at the start of ``buf``."""
    HEADER.pack_into(
        buf,
        0,
        header.dst,
        header.src,
        ETH_P_AOE,
        (header.version << 4) | header.flags,
        header.error,
        header.shelf,
        header.slot,
        header.command,
        header.tag,
    )


def reply_header(request: Header, mac: bytes, shelf: int, slot: int, error: int | None = None) -> Header:
    """The header of a response to ``request``: addresses swapped, the target's own shelf.slot,
    R set, tag echoed, version 1; E and the code when ``error`` is given."""
    flags = HeaderFlag.RESPONSE | (HeaderFlag.ERROR if error else 0)
    return replace(
        request,
        dst=request.src,
        src=mac,
        shelf=shelf,
        slot=slot,
        flags=int(flags),
        error=error or 0,
        version=AOE_VERSION,
    )
