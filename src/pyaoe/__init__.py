"""pyaoe: ATA over Ethernet in Python: target (vblade), initiator (the Linux aoe driver) and aoetools.

See README.md for the commands; the library's layers are protocol/, target/, initiator/ (pure)
and net/, storage/, service/, fuse/, cli/ (the edges).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy names below are, for type checkers
    from pyaoe.initiator import InitiatorConfig as InitiatorConfig
    from pyaoe.service.initiator import AsyncInitiator as AsyncInitiator
    from pyaoe.service.initiator import Initiator as Initiator
    from pyaoe.service.initiator import InitiatorService as InitiatorService
    from pyaoe.service.initiator import open_block_client as open_block_client

__version__ = "0.1.0"

# The library's main names, imported on first use so that `import pyaoe` stays light.
_LAZY = {
    "InitiatorConfig": "pyaoe.initiator",
    "InitiatorService": "pyaoe.service.initiator",
    "Initiator": "pyaoe.service.initiator",
    "AsyncInitiator": "pyaoe.service.initiator",
    "BlockClient": "pyaoe.service.initiator",
    "open_block_client": "pyaoe.service.initiator",
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyaoe' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
