"""pyaoe: ATA over Ethernet in Python: target (vblade), initiator (the Linux aoe driver) and aoetools.

See README.md for the commands; the library's layers are protocol/, target/, initiator/ (pure)
and net/, storage/, service/, fuse/, cli/ (the edges).
"""

from __future__ import annotations

import importlib

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
