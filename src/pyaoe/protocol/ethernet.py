"""pyaoe.protocol.ethernet: MAC addresses and the one place frames are padded.

Ethernet header layout, MAC parsing and formatting, and pad_frame() to the 60-byte minimum.
"""

from __future__ import annotations

from struct import Struct

from pyaoe.protocol.constants import ETH_ALEN, ETH_ZLEN

__all__ = ["ETHERNET_HEADER", "parse_mac", "format_mac", "pad_frame", "padded_length", "is_multicast"]

#: dst, src, EtherType.
ETHERNET_HEADER = Struct("!6s6sH")

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_mac(text: str) -> bytes:
    """Parse a MAC address: six hex pairs, with or without ':' or '-' between them, any case.

    Raises ValueError with the offending text when it is not a MAC address.
    """
    digits = text.strip()
    for sep in (":", "-", "."):
        if sep in digits:
            parts = digits.split(sep)
            if sep == "." and len(parts) == 3 and all(len(p) == 4 for p in parts):
                digits = "".join(parts)
                break
            if len(parts) != ETH_ALEN or not all(1 <= len(p) <= 2 for p in parts):
                raise ValueError(f"not a MAC address: {text!r}")
            digits = "".join(p.rjust(2, "0") for p in parts)
            break
    if len(digits) != 2 * ETH_ALEN or not set(digits) <= _HEX:
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes.fromhex(digits)


def format_mac(mac: bytes, sep: str = ":") -> str:
    """Format six bytes as lower-case hex pairs joined by ``sep`` ('' gives aoe-stat's 12 digits)."""
    return mac.hex(sep) if sep else mac.hex()


def is_multicast(mac: bytes) -> bool:
    """True for group addresses (broadcast included): the I/G bit of the first octet."""
    return bool(mac[0] & 1)


def padded_length(length: int) -> int:
    """The length a frame of ``length`` bytes has on the wire once padded."""
    return length if length >= ETH_ZLEN else ETH_ZLEN


def pad_frame(frame: bytes | bytearray) -> bytes:
    """Return ``frame`` padded with zero bytes to the Ethernet minimum of 60 bytes.

    vblade does not pad and veth does not either, so aoeping and aoecfg (which drop frames
    shorter than 60 bytes) never see short replies; every frame pyaoe builds goes through here.
    """
    if len(frame) >= ETH_ZLEN:
        return bytes(frame)
    return bytes(frame) + bytes(ETH_ZLEN - len(frame))
