"""pyaoe.storage.window: the part of a file or export a target serves (vblade's -o and -l).

export_window() checks an offset and length in sectors against what the storage holds, with the
same messages whatever the backend.
"""

from __future__ import annotations

from pyaoe.protocol import SECTOR_SIZE

__all__ = ["export_window"]


def export_window(total_bytes: int, offset: int, length: int | None, what: str) -> tuple[int, int]:
    """(first byte, size in bytes) of sectors [offset, offset+length) of ``what``, which holds
    ``total_bytes``; a length of None runs to the end. ValueError for a window that does not fit."""
    total = total_bytes // SECTOR_SIZE
    if offset < 0:
        raise ValueError(f"offset {offset} is negative")
    if total == 0:
        raise ValueError(f"{what} is smaller than one {SECTOR_SIZE}-byte sector")
    if total <= offset:
        raise ValueError(f"offset {offset} too large for {total}-sector {what}")
    available = total - offset
    if length is None:
        length = available
    elif length < 1:
        raise ValueError(f"length {length} must be at least 1 sector")
    elif length > available:
        raise ValueError(f"length {length} too big: {what} has {available} sectors after offset {offset}")
    return offset * SECTOR_SIZE, length * SECTOR_SIZE
