"""pyaoe.initiator.address: the name of an AoE device, shelf.slot, as the driver writes it (eX.Y).

DeviceAddress is a (shelf, slot) tuple; parse_device_name() reads "e1.2" and "1.2".
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pyaoe.protocol import MAX_SHELF, MAX_SLOT

__all__ = ["DeviceAddress", "parse_device_name", "as_address"]

_NAME = re.compile(r"e?(\d+)\.(\d+)")
#: Names as_address() has read (a bounded cache: it starts over when full).
_PARSED: dict[str, DeviceAddress] = {}
_PARSED_MAX = 1024


class DeviceAddress(NamedTuple):
    """An AoE device address. A plain ``(shelf, slot)`` tuple compares and hashes the same."""

    #: Major address (0-65534).
    shelf: int
    #: Minor address (0-254).
    slot: int

    @property
    def name(self) -> str:
        """The driver's name for it: ``e<shelf>.<slot>``."""
        return f"e{self.shelf}.{self.slot}"

    def __str__(self) -> str:
        return self.name


def parse_device_name(text: str) -> DeviceAddress:
    """Read ``eX.Y`` (or ``X.Y``). Raises ValueError naming the text when it is not one."""
    match = _NAME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an AoE device name: {text!r} (expected eX.Y)")
    shelf, slot = int(match.group(1)), int(match.group(2))
    if shelf > MAX_SHELF or slot > MAX_SLOT:
        raise ValueError(f"AoE address {shelf}.{slot} is out of range")
    return DeviceAddress(shelf, slot)


def as_address(device: DeviceAddress | tuple[int, int] | str) -> DeviceAddress:
    """Accept a DeviceAddress, a (shelf, slot) tuple or a device name."""
    if isinstance(device, str):
        # Callers name a device per request: remember the names already read.
        address = _PARSED.get(device)
        if address is None:
            address = parse_device_name(device)
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[device] = address
        return address
    if isinstance(device, DeviceAddress):
        return device
    shelf, slot = device
    return DeviceAddress(shelf, slot)
