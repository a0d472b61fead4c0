"""pyaoe.target.backend: what the target engine needs from storage, as a typing.Protocol.

Implementations live in pyaoe.storage (files, block devices, memory); the engine only calls them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Backend"]


@runtime_checkable
class Backend(Protocol):
    """Byte-addressed storage of a fixed size (a multiple of 512), as an export sees it.

    Offsets are relative to the export's window: 0 is the first byte the initiator can reach.
    Errors are raised as OSError (the engine turns them into ATA errors).
    """

    @property
    def size(self) -> int:
        """Bytes the export offers."""
        ...

    @property
    def readonly(self) -> bool:
        """True when writes must be refused."""
        ...

    def read_into(self, buf: memoryview, offset: int) -> int:
        """Fill ``buf`` from ``offset``; return the bytes read (short only at an error)."""
        ...

    def write(self, data: memoryview, offset: int) -> int:
        """Write all of ``data`` at ``offset`` before returning; return the bytes written."""
        ...

    def flush(self) -> None:
        """Put every write done so far on stable storage (fsync)."""
        ...
