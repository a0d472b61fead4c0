"""pyaoe.initiator: the pure AoE initiator engine (the Linux aoe driver's work, sans I/O).

InitiatorEngine takes frames, requests and timer ticks and gives frames, a timer and events.
"""

from __future__ import annotations

from pyaoe.initiator.address import DeviceAddress, parse_device_name
from pyaoe.initiator.datapath import Counters
from pyaoe.initiator.device import DeviceInfo, DeviceState, TargetInfo
from pyaoe.initiator.engine import InitiatorEngine, Interfaces
from pyaoe.initiator.events import (
    DeviceChanged,
    DeviceDiscovered,
    DeviceDown,
    DeviceRemoved,
    DeviceUp,
    Diagnostic,
    DiagnosticKind,
    InitiatorEvent,
    RequestDone,
    RequestError,
    RequestFailed,
)
from pyaoe.initiator.options import InitiatorConfig, parse_iflist

__all__ = [
    "InitiatorEngine",
    "InitiatorConfig",
    "Interfaces",
    "Counters",
    "DeviceAddress",
    "parse_device_name",
    "parse_iflist",
    "DeviceInfo",
    "DeviceState",
    "TargetInfo",
    "InitiatorEvent",
    "DeviceDiscovered",
    "DeviceUp",
    "DeviceDown",
    "DeviceChanged",
    "DeviceRemoved",
    "RequestDone",
    "RequestFailed",
    "RequestError",
    "Diagnostic",
    "DiagnosticKind",
]
