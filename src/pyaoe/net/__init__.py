"""pyaoe.net: the network edge: interface facts, BPF filters and the raw AF_PACKET socket.

I/O lives here; the pure core (protocol/, target/, initiator/) never imports it.
"""

from __future__ import annotations

from pyaoe.net.bpf import BpfProgram, attach_filter, initiator_filter, target_filter
from pyaoe.net.interfaces import (
    InterfaceInfo,
    NoSuchInterfaceError,
    aoe_interfaces,
    interface_info,
    list_interfaces,
)
from pyaoe.net.packet_socket import PacketSocket

__all__ = [
    "BpfProgram",
    "attach_filter",
    "initiator_filter",
    "target_filter",
    "InterfaceInfo",
    "NoSuchInterfaceError",
    "aoe_interfaces",
    "interface_info",
    "list_interfaces",
    "PacketSocket",
]
