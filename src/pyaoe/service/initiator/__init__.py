"""pyaoe.service.initiator: the AoE initiator's I/O side, as one public face.

operations.py lists the operations (InitiatorLike); service.py implements them (InitiatorService,
futures); faces.py derives Initiator (blocking), AsyncInitiator (asyncio) and BlockClient from
that list; loop.py is the one I/O thread and ports.py its packet sockets. Import from here.
"""

from __future__ import annotations

from pyaoe.service.initiator.faces import AsyncInitiator, BlockClient, Initiator, open_block_client
from pyaoe.service.initiator.operations import DeviceRef, InitiatorLike, Listener
from pyaoe.service.initiator.service import InitiatorService

__all__ = [
    "InitiatorService",
    "InitiatorLike",
    "Initiator",
    "AsyncInitiator",
    "BlockClient",
    "open_block_client",
    "DeviceRef",
    "Listener",
]
