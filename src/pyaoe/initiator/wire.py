"""pyaoe.initiator.wire: the frames the initiator sends, built fast, and response header peeking.

ATA requests are packed with one Struct (no message objects on the data path); Query Config
goes through the typed codec. Padding to 60 bytes is the codec's pad_frame().
"""

from __future__ import annotations

from struct import Struct

from pyaoe.initiator.tags import CONFIG_TAG
from pyaoe.protocol import (
    AOE_VERSION,
    ATA_HLEN,
    BROADCAST_MAC,
    ETH_P_AOE,
    ETH_ZLEN,
    Command,
    ConfigArg,
    Frame,
    Header,
    encode_frame,
    pad_frame,
)
from pyaoe.protocol.layout import ATA_ARG, HEADER

__all__ = [
    "ATA_REQUEST",
    "RESPONSE_HEADER",
    "RESPONSE_ATA",
    "build_ata_request",
    "build_config_query",
    "VERSION_FLAGS",
]

#: The whole ATA request header: Ethernet, AoE (big-endian) and the ATA argument with its
#: six LBA bytes little-endian, as one 36-byte pack.
ATA_REQUEST = Struct("!6s6sHBBHBBIBBBB6s2x")
#: Version 1, no flags: the byte every request carries.
VERSION_FLAGS = AOE_VERSION << 4
#: Reading a response: the common header, then the ATA argument (the codec's layouts).
RESPONSE_HEADER = HEADER
RESPONSE_ATA = ATA_ARG
if ATA_REQUEST.size != ATA_HLEN:  # a layout fact, checked once at import
    raise ImportError(f"ATA request header packs {ATA_REQUEST.size} bytes, not {ATA_HLEN}")


def build_ata_request(
    dst: bytes,
    src: bytes,
    shelf: int,
    slot: int,
    tag: int,
    aflags: int,
    sector_count: int,
    command: int,
    lba_registers: int,
    data: bytes | bytearray | memoryview | None = None,
) -> bytes:
    """One ATA request frame, padded; ``data`` follows the header for writes (one copy)."""
    header = ATA_REQUEST.pack(
        dst,
        src,
        ETH_P_AOE,
        VERSION_FLAGS,
        0,
        shelf,
        slot,
        Command.ATA,
        tag,
        aflags,
        0,
        sector_count,
        command,
        lba_registers.to_bytes(6, "little"),
    )
    frame = header + data if data else header
    return frame if len(frame) >= ETH_ZLEN else pad_frame(frame)


def build_config_query(src: bytes, shelf: int, slot: int, dst: bytes = BROADCAST_MAC) -> bytes:
    """A Query Config read (CCmd 0, empty string), broadcast unless ``dst`` is given; padded."""
    header = Header(dst=dst, src=src, shelf=shelf, slot=slot, command=Command.QUERY_CONFIG, tag=CONFIG_TAG)
    return encode_frame(Frame(header, ConfigArg()))
