"""pyaoe.protocol.layout: every byte layout of an AoE frame, and the one padding rule (vblade's dat.h).

The typed codecs (header, ata, config, mask, reserve) and the READ/WRITE fast paths of both
ends pack and unpack with the precompiled Structs and offsets defined here, and nowhere else.
"""

from __future__ import annotations

from struct import Struct

from pyaoe.protocol.constants import (
    AOE_HLEN,
    ATA_HLEN,
    CONFIG_HLEN,
    ETH_HLEN,
    ETH_P_AOE,
    ETH_ZLEN,
    MASK_HLEN,
    RESERVE_HLEN,
)

__all__ = [
    "DST_OFFSET",
    "SRC_OFFSET",
    "TYPE_OFFSET",
    "VERFLAGS_OFFSET",
    "ERROR_OFFSET",
    "SHELF_OFFSET",
    "SLOT_OFFSET",
    "COMMAND_OFFSET",
    "TAG_OFFSET",
    "AFLAGS_OFFSET",
    "ERR_FEATURE_OFFSET",
    "SECTOR_COUNT_OFFSET",
    "CMD_STATUS_OFFSET",
    "LBA_OFFSET",
    "ETHERNET_HEADER",
    "HEADER",
    "ATA_ARG",
    "CONFIG_ARG",
    "MASK_ARG",
    "DIRECTIVE",
    "RESERVE_ARG",
    "ATA_REQUEST",
    "ATA_REQUEST_PREFIX",
    "PREFIXED_ATA_REQUEST",
    "PREFIXED_ATA_REQUEST_PADDED",
    "ATA_RESPONSE_KEY",
    "RESPONSE_HEAD",
    "ATA_REQUEST_LE",
    "ATA_REQUEST_WORDS",
    "ATA_REPLY_WORDS",
    "aoe_word",
    "address_word",
    "ATA_REPLY_HEAD_LE",
    "ATA_REGISTERS",
    "TYPE_AOE_LE",
    "ATA_REPLY_PAD",
    "swap16",
    "padded_length",
    "pad_frame",
    "response_head",
]

# -- offsets in a whole frame (Ethernet header included) ------------------------------------
DST_OFFSET = 0
SRC_OFFSET = 6
TYPE_OFFSET = 12
#: Version (high nibble) and flags (low nibble).
VERFLAGS_OFFSET = 14
ERROR_OFFSET = 15
SHELF_OFFSET = 16
SLOT_OFFSET = 18
COMMAND_OFFSET = 19
TAG_OFFSET = 20
# The ATA argument (AoEr11 §3.1), after the tag.
AFLAGS_OFFSET = 24
#: Feature register in a request, Error register in a response.
ERR_FEATURE_OFFSET = 25
SECTOR_COUNT_OFFSET = 26
#: ATA command in a request, Status register in a response.
CMD_STATUS_OFFSET = 27
#: Six LBA register bytes, little-endian, then two reserved bytes; sector data from ATA_HLEN.
LBA_OFFSET = 28

# -- the typed codecs' layouts -------------------------------------------------------------
#: dst, src, EtherType.
ETHERNET_HEADER = Struct("!6s6sH")
#: dst, src, EtherType, ver|flags, error, major (shelf), minor (slot), command, tag.
HEADER = Struct("!6s6sHBBHBBI")
#: At AFLAGS_OFFSET: aflags, err/feature, sector count, cmd/status, LBA 0-3, LBA 4-5 (both
#: little-endian, as the ATA registers are), reserved.
ATA_ARG = Struct("<BBBBIHH")
#: At AOE_HLEN: buffer count, firmware version, sector count, AoE version|CCmd, string length.
CONFIG_ARG = Struct("!HHBBH")
#: At AOE_HLEN: reserved, MCmd, MError, directive count; then DIRECTIVEs.
MASK_ARG = Struct("!BBBB")
#: One mask directive: reserved, DCmd, MAC.
DIRECTIVE = Struct("!BB6s")
#: At AOE_HLEN: RCmd, number of MACs; then the MACs.
RESERVE_ARG = Struct("!BB")

# -- the initiator's requests, packed whole -------------------------------------------------
#: A whole ATA request header: HEADER, then the ATA argument with its LBA as six
#: little-endian bytes (int.to_bytes(6, "little")), reserved bytes zero.
ATA_REQUEST = Struct("!6s6sHBBHBBIBBBB6s2x")
#: Bytes 0 to TAG_OFFSET of a request: the same for every frame to one target through one
#: interface, so the initiator packs it once and keeps it.
ATA_REQUEST_PREFIX = Struct("!6s6sHBBHBB")
#: ATA_REQUEST from a packed prefix on: prefix, tag, aflags, feature, sector count, command,
#: LBA (six bytes, little-endian). A write's data follows it.
PREFIXED_ATA_REQUEST = Struct("!20sIBBBB6s2x")


def padded_length(length: int) -> int:
    """The length a frame of ``length`` bytes has on the wire: at least the 60-byte minimum.

    vblade does not pad and veth does not either, so aoeping and aoecfg (which drop frames
    shorter than 60 bytes) would never see short replies: every frame pyaoe builds is padded
    by this rule, with zero bytes.
    """
    return length if length >= ETH_ZLEN else ETH_ZLEN


def pad_frame(frame: bytes | bytearray) -> bytes:
    """``frame`` as bytes, padded with zero bytes to padded_length()."""
    short = padded_length(len(frame)) - len(frame)
    return bytes(frame) + bytes(short) if short else bytes(frame)


def _padded(layout: Struct) -> Struct:
    """``layout`` with the zero bytes padded_length() adds after it (pack writes them)."""
    return Struct(f"{layout.format}{padded_length(layout.size) - layout.size}x")


#: PREFIXED_ATA_REQUEST padded: a request that carries no data (READ, FLUSH, IDENTIFY).
PREFIXED_ATA_REQUEST_PADDED = _padded(PREFIXED_ATA_REQUEST)
#: The zero bytes after a reply without data (an ATA_HLEN-byte header).
ATA_REPLY_PAD = bytes(padded_length(ATA_HLEN) - ATA_HLEN)

# -- the initiator reading an ATA response --------------------------------------------------
#: dst, the bytes from the source MAC to the command (compared whole with response_head()),
#: tag, ATA status.
ATA_RESPONSE_KEY = Struct("!6s14sI3xB")
#: EtherType, ver|flags, error, shelf, slot, command: bytes TYPE_OFFSET to TAG_OFFSET.
RESPONSE_HEAD = Struct("!HBBHBB")


def response_head(src: bytes, verflags: int, shelf: int, slot: int, command: int) -> bytes:
    """The bytes from SRC_OFFSET to TAG_OFFSET of a response from ``src`` without AoE error:
    the middle field of ATA_RESPONSE_KEY."""
    return src + RESPONSE_HEAD.pack(ETH_P_AOE, verflags, 0, shelf, slot, command)


# -- the target answering READ/WRITE in the request's buffer --------------------------------
#: A whole ATA request header in one little-endian unpack, the tag skipped: dst, src, EtherType,
#: ver|flags, error, shelf, slot, command, aflags, feature, sector count, ATA command, LBA 0-3,
#: LBA 4-5. The ATA registers are little-endian; the big-endian EtherType and shelf come out
#: byte-swapped (compare them with swap16() of the value instead of converting each frame's).
ATA_REQUEST_LE = Struct("<6s6sHBBHBB4xBBBBIH")
#: The same request as the fast path reads it, in as few objects as it needs: dst, src, then
#: EtherType|ver-flags|error and shelf|slot|command each as one little-endian word (compared
#: whole, see aoe_word()), the sector count, ATA command and LBA (low 4 and high 2 bytes).
ATA_REQUEST_WORDS = Struct("<6s6sII6xBBIH")
#: A reply's dst and src, then its EtherType|ver-flags|error word (see aoe_word()).
ATA_REPLY_WORDS = Struct("<6s6sI")
#: A reply's dst, src, EtherType (byte-swapped: TYPE_AOE_LE), ver|flags, error, written over the
#: request's; shelf, slot, command, tag and LBA stay as the request had them.
ATA_REPLY_HEAD_LE = Struct("<6s6sHBB")
#: At ERR_FEATURE_OFFSET: the Error register, sector count and Status register of a reply.
ATA_REGISTERS = Struct("<BBB")


def swap16(value: int) -> int:
    """A 16-bit value with its bytes swapped: how a big-endian field reads little-endian."""
    return ((value & 0xFF) << 8) | (value >> 8)


#: ETH_P_AOE as ATA_REQUEST_LE reads it and ATA_REPLY_HEAD_LE writes it.
TYPE_AOE_LE = swap16(ETH_P_AOE)


def aoe_word(verflags: int, error: int = 0) -> int:
    """Bytes TYPE_OFFSET to SHELF_OFFSET (EtherType 0x88A2, ver|flags, error) as one
    little-endian word, as ATA_REQUEST_WORDS reads it and ATA_REPLY_WORDS writes it."""
    return TYPE_AOE_LE | verflags << 16 | error << 24


def address_word(shelf: int, slot: int, command: int) -> int:
    """Bytes SHELF_OFFSET to TAG_OFFSET (shelf, big-endian on the wire, slot, command) as one
    little-endian word, as ATA_REQUEST_WORDS reads it."""
    return swap16(shelf) | slot << 16 | command << 24


def _check() -> None:
    """Each layout against the offsets and header sizes (a layout fact, checked at import)."""
    sizes = (
        (ETHERNET_HEADER, ETH_HLEN),
        (HEADER, AOE_HLEN),
        (ATA_ARG, ATA_HLEN - AFLAGS_OFFSET),
        (CONFIG_ARG, CONFIG_HLEN - AOE_HLEN),
        (MASK_ARG, MASK_HLEN - AOE_HLEN),
        (RESERVE_ARG, RESERVE_HLEN - AOE_HLEN),
        (ATA_REQUEST, ATA_HLEN),
        (ATA_REQUEST_PREFIX, TAG_OFFSET),
        (PREFIXED_ATA_REQUEST, ATA_HLEN),
        (PREFIXED_ATA_REQUEST_PADDED, padded_length(ATA_HLEN)),
        (ATA_RESPONSE_KEY, CMD_STATUS_OFFSET + 1),
        (RESPONSE_HEAD, TAG_OFFSET - TYPE_OFFSET),
        (ATA_REQUEST_LE, LBA_OFFSET + 6),
        (ATA_REQUEST_WORDS, LBA_OFFSET + 6),
        (ATA_REPLY_WORDS, ERROR_OFFSET + 1),
        (ATA_REPLY_HEAD_LE, ERROR_OFFSET + 1),
        (ATA_REGISTERS, CMD_STATUS_OFFSET + 1 - ERR_FEATURE_OFFSET),
    )
    for layout, size in sizes:
        if layout.size != size:
            raise ImportError(f"layout {layout.format!r} packs {layout.size} bytes, not {size}")


_check()
