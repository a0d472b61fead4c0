"""pyaoe.copy.engine: copy one end to the other with requests in flight, then verify by checksum.

Chunks are read ahead into a fixed set of buffers; a chunk that reads all zeroes becomes a hole
on a sparse end and a write of zeroes on any other; the destination is flushed at the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass

from pyaoe.copy.endpoints import Endpoint

__all__ = ["CHUNK", "IN_FLIGHT", "CopyResult", "copy", "checksum"]

#: Bytes per request: large enough for the AoE initiator to fill its window with one request.
CHUNK = 1 << 20
#: Chunks in flight at once (reads and writes together).
IN_FLIGHT = 8

Progress = Callable[[int], None]


@dataclass
class CopyResult:
    size: int
    #: Bytes that were zero and left as holes, or written as zeroes on a device.
    zero_bytes: int = 0
    written_bytes: int = 0


def _is_zero(view: memoryview) -> bool:
    # Comparing against a zero bytes object runs at memcmp speed.
    return view == _ZERO_CHUNK[: len(view)]


_ZERO_CHUNK = bytes(CHUNK)


def copy(
    src: Endpoint,
    dst: Endpoint,
    size: int,
    *,
    progress: Progress | None = None,
    chunk: int = CHUNK,
    in_flight: int = IN_FLIGHT,
) -> CopyResult:
    """Copy ``size`` bytes from ``src`` to ``dst``; raises the first request's failure."""
    result = CopyResult(size)
    buffers = [memoryview(bytearray(chunk)) for _ in range(in_flight)]
    free = list(range(in_flight))
    # future -> (stage, buffer index, offset, length)
    pending: dict[Future[None], tuple[str, int, int, int]] = {}
    offset = 0
    try:
        while offset < size or pending:
            while offset < size and free:
                index = free.pop()
                length = min(chunk, size - offset)
                pending[src.read_into(offset, buffers[index][:length])] = ("read", index, offset, length)
                offset += length
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for future in done:
                stage, index, at, length = pending.pop(future)
                future.result()
                if stage == "read":
                    view = buffers[index][:length]
                    if _is_zero(view):
                        result.zero_bytes += length
                        written = dst.write_zeroes(at, length)
                    else:
                        result.written_bytes += length
                        written = dst.write(at, view)
                    pending[written] = ("write", index, at, length)
                else:
                    free.append(index)
                    if progress is not None:
                        progress(length)
        dst.flush()
    finally:
        # On a failure, let what is in flight land before the buffers go away.
        if pending:
            wait(list(pending))
    return result


def checksum(
    end: Endpoint,
    size: int,
    *,
    progress: Progress | None = None,
    chunk: int = CHUNK,
    in_flight: int = IN_FLIGHT,
) -> str:
    """SHA-256 of ``end``'s first ``size`` bytes, read with requests in flight."""
    digest = hashlib.sha256()
    buffers = [memoryview(bytearray(chunk)) for _ in range(in_flight)]
    # Reads are issued in order and hashed in order: a ring of in_flight slots.
    slots: list[tuple[Future[None], memoryview] | None] = [None] * in_flight
    issued = hashed = 0
    total = (size + chunk - 1) // chunk
    try:
        while hashed < total:
            while issued < total and issued - hashed < in_flight:
                at = issued * chunk
                view = buffers[issued % in_flight][: min(chunk, size - at)]
                slots[issued % in_flight] = (end.read_into(at, view), view)
                issued += 1
            slot = slots[hashed % in_flight]
            assert slot is not None
            future, view = slot
            future.result()
            digest.update(view)
            slots[hashed % in_flight] = None
            hashed += 1
            if progress is not None:
                progress(len(view))
    finally:
        waiting = [s[0] for s in slots if s is not None]
        if waiting:
            wait(waiting)
    return digest.hexdigest()
