"""pyaoe.target: the pure target engine (what vblade does, minus the sockets).

TargetEngine answers frames for any number of exports on one interface; storage is injected.
"""

from __future__ import annotations

from pyaoe.target.backend import Backend
from pyaoe.target.engine import TargetEngine
from pyaoe.target.export import (
    DEFAULT_BUFCNT,
    FIRMWARE_VERSION,
    Export,
    ExportConfig,
    ExportCounters,
    ExportState,
)

__all__ = [
    "Backend",
    "TargetEngine",
    "Export",
    "ExportConfig",
    "ExportCounters",
    "ExportState",
    "DEFAULT_BUFCNT",
    "FIRMWARE_VERSION",
]
