"""pyaoe.target.backend: what the target engine needs from storage, as a typing.Protocol.

Implementations live in pyaoe.storage (files, block devices, memory); the engine only calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Backend", "IoRun", "Submit", "Vectored", "submitter", "vectored"]


@runtime_checkable
class Backend(Protocol):
    """Byte-addressed storage of a fixed size (a multiple of 512), as an export sees it.

    Offsets are relative to the export's window: 0 is the first byte the initiator can reach.
    Errors are raised as OSError (the engine turns them into ATA errors). A backend may also
    offer ``readv(buffers, offset)`` and ``writev(buffers, offset)`` (see vectored()), and
    ``submit(runs)`` to have several runs in flight at once (see submitter()).
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


#: Vectored I/O: buffers filled (or written) in turn from one offset; returns the bytes done.
Vectored = Callable[[Sequence[memoryview], int], int]


def vectored(backend: Backend, writing: bool) -> Vectored:
    """The backend's ``readv``/``writev`` when it has them (one system call for a run of
    frames), else the same built from read_into/write, one buffer at a time."""
    own: Vectored | None = getattr(backend, "writev" if writing else "readv", None)
    if own is not None:
        return own
    single = backend.write if writing else backend.read_into

    def one_by_one(buffers: Sequence[memoryview], offset: int) -> int:
        done = 0
        for buf in buffers:
            n = single(buf, offset + done)
            done += n
            if n < len(buf):
                break
        return done

    return one_by_one


#: One run of a batch: writing or not, its byte offset, the buffers it fills or writes in turn.
IoRun = tuple[bool, int, Sequence[memoryview]]
#: A batch of runs at once, none overlapping another where either writes (so they may run in
#: any order, or all together); returns the bytes done of each run, in order (0: it failed).
Submit = Callable[[Sequence[IoRun]], list[int]]


def submitter(backend: Backend) -> Submit | None:
    """The backend's own ``submit(runs)`` when it has one: a backend for which a round trip
    costs more than the call (an NBD server) keeps a whole batch's runs in flight at once.
    None otherwise: the fast path then does each run as it closes, with vectored()."""
    own: Submit | None = getattr(backend, "submit", None)
    return own
