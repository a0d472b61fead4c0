"""pyaoe.protocol.ethernet: MAC addresses as people write them and as frames carry them.

Parsing and formatting (aoe-stat's 12 digits, colons, dashes, Cisco dots) and the group bit.
"""

from __future__ import annotations

from pyaoe.protocol.constants import ETH_ALEN

__all__ = ["parse_mac", "format_mac", "is_multicast"]

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
