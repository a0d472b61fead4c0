"""pyaoe: ATA over Ethernet in Python: target (vblade), initiator (the Linux aoe driver) and aoetools.

See README.md for the commands; the library's layers are protocol/, target/, initiator/ (pure)
and net/, storage/, service/, fuse/, cli/ (the edges).
"""

from __future__ import annotations

__version__ = "0.1.0"
