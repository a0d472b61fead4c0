"""pyaoe.storage.memory: a backend held in a bytearray, for tests, demos and benchmarks.

MemoryBackend(size) behaves like a file that never fails (unless told to, for fault tests).
"""

from __future__ import annotations

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """``size`` bytes of memory (rounded down to whole sectors by the export)."""

    def __init__(self, size: int, *, readonly: bool = False, data: bytes | None = None) -> None:
        self.buffer = bytearray(data if data is not None else size)
        if len(self.buffer) != size:
            raise ValueError("data must be exactly size bytes")
        self._readonly = readonly
        self.flushes = 0

    @property
    def size(self) -> int:
        return len(self.buffer)

    @property
    def readonly(self) -> bool:
        return self._readonly

    def read_into(self, buf: memoryview, offset: int) -> int:
        n = max(0, min(len(buf), len(self.buffer) - offset))
        buf[:n] = self.buffer[offset : offset + n]
        return n

    def write(self, data: memoryview, offset: int) -> int:
        if self._readonly:
            raise PermissionError("read-only backend")
        n = max(0, min(len(data), len(self.buffer) - offset))
        self.buffer[offset : offset + n] = data[:n]
        return n

    def flush(self) -> None:
        self.flushes += 1
