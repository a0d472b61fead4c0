"""pyaoe.protocol.reserve: the Reserve/Release argument (AoEr11 §3.4).

Reserve commands and the ReserveArg message with its MAC list.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pyaoe.errors import FrameError
from pyaoe.protocol.constants import AOE_HLEN, ETH_ALEN, RESERVE_HLEN
from pyaoe.protocol.header import AoeError
from pyaoe.protocol.layout import RESERVE_ARG

__all__ = ["ReserveCommand", "ReserveArg", "decode_reserve", "encode_reserve_into"]


class ReserveCommand(IntEnum):
    """RCmd."""

    #: Read the reserve list.
    READ = 0
    #: Set the list if it is empty or the requester is in it (else TARGET_RESERVED).
    SET = 1
    #: Set the list unconditionally.
    FORCE_SET = 2


@dataclass(frozen=True, slots=True)
class ReserveArg:
    """The 2-byte Reserve/Release argument and its MAC list (an empty SET releases)."""

    rcmd: int = ReserveCommand.READ
    macs: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.rcmd <= 0xFF or len(self.macs) > 255:
            raise ValueError("rcmd is a byte and at most 255 MACs fit")
        if any(len(mac) != ETH_ALEN for mac in self.macs):
            raise ValueError("MAC addresses are 6 bytes")


def decode_reserve(buf: bytes | bytearray | memoryview) -> ReserveArg:
    """Decode the Reserve/Release argument of a whole frame.

    Raises FrameError: drop when shorter than 26 bytes (vblade); BAD_ARGUMENT when the MAC
    list runs past the end of the frame (vblade answers that with error 2 too).
    """
    if len(buf) < RESERVE_HLEN:
        raise FrameError(f"reserve frame of {len(buf)} bytes is shorter than {RESERVE_HLEN}")
    rcmd, nmacs = RESERVE_ARG.unpack_from(buf, AOE_HLEN)
    end = RESERVE_HLEN + nmacs * ETH_ALEN
    if end > len(buf):
        raise FrameError(
            f"{nmacs} reserve MACs run past the end of a {len(buf)}-byte frame", AoeError.BAD_ARGUMENT
        )
    macs = tuple(bytes(buf[o : o + ETH_ALEN]) for o in range(RESERVE_HLEN, end, ETH_ALEN))
    return ReserveArg(rcmd=rcmd, macs=macs)


def encode_reserve_into(buf: bytearray | memoryview, arg: ReserveArg) -> int:
    """Write the argument and MACs after the 24-byte header; return the frame length."""
    RESERVE_ARG.pack_into(buf, AOE_HLEN, arg.rcmd, len(arg.macs))
    offset = RESERVE_HLEN
    for mac in arg.macs:
        buf[offset : offset + ETH_ALEN] = mac
        offset += ETH_ALEN
    return offset
