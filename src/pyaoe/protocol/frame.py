"""pyaoe.protocol.frame: a whole AoE frame, header plus the argument its command implies.

decode_frame() picks the argument codec by command; encode_frame() builds padded bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from pyaoe.protocol.ata import AtaArg, decode_ata, encode_ata_into
from pyaoe.protocol.config import ConfigArg, decode_config, encode_config_into
from pyaoe.protocol.constants import AOE_HLEN, ATA_HLEN, CONFIG_HLEN, ETH_ALEN, MASK_HLEN, RESERVE_HLEN
from pyaoe.protocol.header import Command, Header, decode_header, encode_header_into
from pyaoe.protocol.layout import DIRECTIVE, padded_length
from pyaoe.protocol.mask import MaskArg, decode_mask, encode_mask_into
from pyaoe.protocol.reserve import ReserveArg, decode_reserve, encode_reserve_into

__all__ = ["Arg", "Frame", "decode_frame", "decode_arg", "encode_frame", "frame_length"]

#: The argument of a frame; raw bytes for commands this codec does not know (vendor commands).
Arg: TypeAlias = AtaArg | ConfigArg | MaskArg | ReserveArg | bytes

_DECODERS: dict[int, Callable[[bytes | bytearray | memoryview], Arg]] = {
    Command.ATA: decode_ata,
    Command.QUERY_CONFIG: decode_config,
    Command.MAC_MASK_LIST: decode_mask,
    Command.RESERVE_RELEASE: decode_reserve,
}


@dataclass(frozen=True, slots=True)
class Frame:
    """One AoE frame: Ethernet and AoE headers and the command's argument."""

    header: Header
    arg: Arg

    def __post_init__(self) -> None:
        expected = _ARG_TYPES.get(self.header.command, bytes)
        if not isinstance(self.arg, expected):
            raise ValueError(
                f"command {self.header.command} takes {expected.__name__}, not {type(self.arg).__name__}"
            )


_ARG_TYPES: dict[int, type] = {
    Command.ATA: AtaArg,
    Command.QUERY_CONFIG: ConfigArg,
    Command.MAC_MASK_LIST: MaskArg,
    Command.RESERVE_RELEASE: ReserveArg,
}


def decode_arg(command: int, buf: bytes | bytearray | memoryview) -> Arg:
    """Decode the argument of a whole frame whose header says ``command``."""
    decoder = _DECODERS.get(command)
    if decoder is None:
        return bytes(buf[AOE_HLEN:])
    return decoder(buf)


def decode_frame(buf: bytes | bytearray | memoryview) -> Frame:
    """Decode a whole frame (Ethernet header included).

    Raises pyaoe.errors.FrameError, whose ``reply_error`` says what a target answers (None: drop). The
    version is not checked here: a target answers a foreign version with an error (see
    pyaoe.target), and an initiator still hears vblade's version-0 announcement.
    """
    header = decode_header(buf)
    return Frame(header=header, arg=decode_arg(header.command, buf))


def frame_length(frame: Frame) -> int:
    """Length of the encoded frame before padding."""
    arg = frame.arg
    if isinstance(arg, AtaArg):
        return ATA_HLEN + len(arg.data)
    if isinstance(arg, ConfigArg):
        return CONFIG_HLEN + len(arg.config_string)
    if isinstance(arg, MaskArg):
        return MASK_HLEN + DIRECTIVE.size * len(arg.directives)
    if isinstance(arg, ReserveArg):
        return RESERVE_HLEN + ETH_ALEN * len(arg.macs)
    return AOE_HLEN + len(arg)


def encode_frame(frame: Frame) -> bytes:
    """Encode a frame, padded to the 60-byte Ethernet minimum."""
    length = frame_length(frame)
    buf = bytearray(padded_length(length))
    encode_header_into(buf, frame.header)
    arg = frame.arg
    if isinstance(arg, AtaArg):
        encode_ata_into(buf, arg)
    elif isinstance(arg, ConfigArg):
        encode_config_into(buf, arg)
    elif isinstance(arg, MaskArg):
        encode_mask_into(buf, arg)
    elif isinstance(arg, ReserveArg):
        encode_reserve_into(buf, arg)
    else:
        buf[AOE_HLEN:length] = arg
    return bytes(buf)
