"""pyaoe.initiator: the pure AoE initiator engine (the Linux aoe driver's work, sans I/O).

InitiatorEngine takes frames, requests and timer ticks and gives frames, a timer and events.
"""

from __future__ import annotations

from pyaoe.initiator.address import DeviceAddress, parse_device_name
from pyaoe.initiator.device import DeviceInfo, DeviceState, TargetInfo
from pyaoe.initiator.engine import InitiatorEngine, Interfaces
from pyaoe.initiator.events import *  # noqa: F403
from pyaoe.initiator.events import __all__ as _events_all
from pyaoe.initiator.options import InitiatorConfig, parse_iflist

__all__ = [
    "InitiatorEngine",
    "InitiatorConfig",
    "Interfaces",
    "DeviceAddress",
    "parse_device_name",
    "parse_iflist",
    "DeviceInfo",
    "DeviceState",
    "TargetInfo",
    *_events_all,
]
