"""pyaoe.protocol.mask: the MAC Mask List argument (AoEr11 §3.3).

Mask commands, directives and their errors, and the MaskArg message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pyaoe.errors import FrameError
from pyaoe.protocol.constants import AOE_HLEN, MASK_HLEN
from pyaoe.protocol.header import AoeError
from pyaoe.protocol.layout import DIRECTIVE, MASK_ARG

__all__ = [
    "MaskCommand",
    "DirectiveCommand",
    "MaskError",
    "Directive",
    "MaskArg",
    "decode_mask",
    "encode_mask_into",
]


class MaskCommand(IntEnum):
    """MCmd."""

    READ = 0
    EDIT = 1


class DirectiveCommand(IntEnum):
    """DCmd of one directive."""

    NONE = 0
    ADD = 1
    DELETE = 2


class MaskError(IntEnum):
    """MError: reported in the argument, without the AoE error flag."""

    UNSPECIFIED = 1
    BAD_DIRECTIVE = 2
    LIST_FULL = 3


@dataclass(frozen=True, slots=True)
class Directive:
    """One directive: a DCmd and a MAC (in responses DCmd is 0 and the list is the mask)."""

    dcmd: int
    mac: bytes

    def __post_init__(self) -> None:
        if len(self.mac) != 6 or not 0 <= self.dcmd <= 0xFF:
            raise ValueError("a directive is a DCmd byte and a 6-byte MAC")


@dataclass(frozen=True, slots=True)
class MaskArg:
    """The 4-byte MAC Mask List argument and its directives."""

    #: A MaskCommand value.
    mcmd: int = MaskCommand.READ
    #: A MaskError value in an edit response; 0 is success.
    merror: int = 0
    #: Directives (a request) or the current mask list (a successful response).
    directives: tuple[Directive, ...] = ()
    #: With merror set: the index of the directive that failed (sent as the Dir Count).
    failed_index: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.mcmd <= 0xFF and 0 <= self.merror <= 0xFF and 0 <= self.failed_index <= 0xFF):
            raise ValueError("mask fields are bytes")
        if len(self.directives) > 255:
            raise ValueError("at most 255 directives fit in one frame")
        # With MError set the Dir Count field holds failed_index, so directives could not be
        # counted on the wire (vblade's error reply is the bare argument); without it there is
        # no field for failed_index. Either mix would not decode to what was built.
        if self.merror and self.directives:
            raise ValueError("a mask error response carries no directives")
        if not self.merror and self.failed_index:
            raise ValueError("failed_index is only sent with merror")


def decode_mask(buf: bytes | bytearray | memoryview) -> MaskArg:
    """Decode the MAC Mask List argument of a whole frame.

    Raises FrameError: drop when shorter than 28 bytes (vblade); BAD_ARGUMENT when the
    directive count runs past the end of the frame. With MError set, Dir Count is the index of
    the failing directive and no directives are read.
    """
    if len(buf) < MASK_HLEN:
        raise FrameError(f"mask frame of {len(buf)} bytes is shorter than {MASK_HLEN}")
    _res, mcmd, merror, count = MASK_ARG.unpack_from(buf, AOE_HLEN)
    if merror:
        return MaskArg(mcmd=mcmd, merror=merror, failed_index=count)
    end = MASK_HLEN + count * DIRECTIVE.size
    if end > len(buf):
        raise FrameError(
            f"{count} mask directives run past the end of a {len(buf)}-byte frame",
            AoeError.BAD_ARGUMENT,
        )
    directives = tuple(
        Directive(dcmd=dcmd, mac=mac) for _r, dcmd, mac in DIRECTIVE.iter_unpack(bytes(buf[MASK_HLEN:end]))
    )
    return MaskArg(mcmd=mcmd, merror=0, directives=directives)


def encode_mask_into(buf: bytearray | memoryview, arg: MaskArg) -> int:
    """Write the argument and directives after the 24-byte header; return the frame length."""
    count = arg.failed_index if arg.merror else len(arg.directives)
    MASK_ARG.pack_into(buf, AOE_HLEN, 0, arg.mcmd, arg.merror, count)
    offset = MASK_HLEN
    for directive in arg.directives:
        DIRECTIVE.pack_into(buf, offset, 0, directive.dcmd, directive.mac)
        offset += DIRECTIVE.size
    return offset
