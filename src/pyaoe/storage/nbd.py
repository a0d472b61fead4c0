"""pyaoe.storage.nbd: an export backed by an NBD server's export (qemu-nbd, nbdkit, nbd-server, ...).

The same window (-o/-l), read-only (-r) and O_SYNC-like (-s: every write FUA) modes as a file.
A run of frames is one NBD request, read straight into the frames; a run larger than the
server's block limit, and the runs of one batch of frames (submit), are several requests in
flight at once. When the server goes away requests
fail (the target answers an ATA error) and the next one after a short pause reconnects.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable, Sequence

from pyaoe.nbd.client import DEFAULT_TIMEOUT, NbdConnection, NbdRequestError, Op, chunks
from pyaoe.protocol.nbd.uri import NbdAddress
from pyaoe.protocol.nbd.wire import Cmd, CmdFlag
from pyaoe.storage.readahead import ReadAhead
from pyaoe.storage.window import export_window
from pyaoe.target.backend import IoRun

__all__ = ["NbdBackend", "RECONNECT_INTERVAL"]

log = logging.getLogger("pyaoe.storage.nbd")

#: Seconds between attempts to reach a server that went away (requests fail meanwhile).
RECONNECT_INTERVAL = 1.0


class NbdBackend:
    """Sectors [offset, offset+length) of an NBD export, through one pipelined connection.

    Raises OSError when the server cannot be reached at first (ConnectionRefusedError,
    FileNotFoundError for a missing socket, ENXIO for an export the server does not have) and
    ValueError for a window that does not fit. ``clock`` is for tests.
    """

    def __init__(
        self,
        address: NbdAddress,
        *,
        offset: int = 0,
        length: int | None = None,
        readonly: bool = False,
        sync: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self.path = str(address)
        self.timeout = timeout
        self._clock = clock
        self._conn: NbdConnection | None = NbdConnection(address, timeout)
        conn = self._conn
        try:
            self._base, self._size = export_window(conn.size, offset, length, f"export {address}")
        except BaseException:
            conn.close()
            raise
        # A read-only NBD export is a read-only AoE export, as a file opened O_RDONLY would be.
        self._readonly = readonly or conn.readonly
        self.sync = sync
        self._ahead = ReadAhead(self._base + self._size, clock)
        self._retry_at = 0.0
        #: Connections lost and made again (what a test or a log looks at).
        self.disconnects = 0
        self.reconnects = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def connected(self) -> bool:
        return self._conn is not None

    # -- the backend's calls --------------------------------------------------------------------
    def read_into(self, buf: memoryview, offset: int) -> int:
        return self.readv((buf,), offset)

    def write(self, data: memoryview, offset: int) -> int:
        return self.writev((data,), offset)

    def readv(self, buffers: Sequence[memoryview], offset: int) -> int:
        length = self._check(buffers, offset)
        conn = self._connection()
        where = self._base + offset
        ahead = self._ahead

        def read() -> None:
            if not ahead.read(conn, buffers, where, length):
                conn.check(self._ops(conn, Cmd.READ, buffers, offset, CmdFlag(0)))
            ahead.advance(conn, where, length)

        self._guard(conn, read)
        return length

    def writev(self, buffers: Sequence[memoryview], offset: int) -> int:
        if self._readonly:
            raise PermissionError(errno.EPERM, "export is read-only")
        length = self._check(buffers, offset)
        conn = self._connection()
        # -s: acknowledged means stable, as O_SYNC does for a file.
        flags = CmdFlag.FUA if self.sync and conn.can_fua else CmdFlag(0)
        ops = self._ops(conn, Cmd.WRITE, buffers, offset, flags)

        def write() -> None:
            # Nothing read ahead may cross a write: its replies first, then the write.
            self._ahead.drop(conn)
            conn.check(ops)
            if self.sync and not flags and conn.can_flush:
                # After the write's reply: a flush covers only writes already answered.
                conn.check([Op(Cmd.FLUSH)])

        self._guard(conn, write)
        return length

    def submit(self, runs: Sequence[IoRun]) -> list[int]:
        """Several runs in flight at once (see pyaoe.target.backend.Submit): every request of
        the batch is sent, then every reply awaited, so a batch of random frames costs one
        round trip to the server rather than one each. A run the server failed did 0 bytes."""
        if len(runs) == 1:
            writing, offset, buffers = runs[0]
            try:
                return [self.writev(buffers, offset) if writing else self.readv(buffers, offset)]
            except OSError:
                return [0]
        conn = self._connection()
        writes = any(writing for writing, _o, _b in runs)
        if writes and self._readonly:
            raise PermissionError(errno.EPERM, "export is read-only")
        flags = CmdFlag.FUA if self.sync and conn.can_fua else CmdFlag(0)
        lengths = [self._check(buffers, offset) for _w, offset, buffers in runs]
        per_run = [
            self._ops(
                conn, Cmd.WRITE if writing else Cmd.READ, buffers, offset, flags if writing else CmdFlag(0)
            )
            for writing, offset, buffers in runs
        ]
        errors: list[int] = []

        def batch() -> None:
            if writes:
                self._ahead.drop(conn)  # nothing read ahead may cross a write
            errors.extend(conn.run([op for ops in per_run for op in ops]))
            if writes and self.sync and not flags and conn.can_flush:
                conn.check([Op(Cmd.FLUSH)])

        self._guard(conn, batch)
        done = []
        first = 0
        for length, ops in zip(lengths, per_run, strict=True):
            done.append(0 if any(errors[first : first + len(ops)]) else length)
            first += len(ops)
        return done

    def flush(self) -> None:
        conn = self._connection()
        if conn.can_flush:
            self._guard(conn, lambda: conn.check([Op(Cmd.FLUSH)]))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- connection -----------------------------------------------------------------------------
    def _check(self, buffers: Sequence[memoryview], offset: int) -> int:
        length = sum(len(b) for b in buffers)
        if offset < 0 or offset + length > self._size:
            raise OSError(
                errno.EINVAL, f"{length} bytes at {offset} fall outside the {self._size}-byte export"
            )
        return length

    def _ops(
        self, conn: NbdConnection, kind: Cmd, buffers: Sequence[memoryview], offset: int, flags: CmdFlag
    ) -> list[Op]:
        return [
            Op(kind, self._base + start, piece, flags)
            for start, piece in chunks(offset, buffers, conn.maximum_block)
        ]

    def _guard(self, conn: NbdConnection, work: Callable[[], None]) -> None:
        """Run ``work`` on ``conn``; a broken connection becomes EIO and a reconnect later."""
        try:
            work()
        except NbdRequestError:
            raise  # the server said no: the connection is fine
        except OSError as exc:
            self._lost(conn, exc)
            raise OSError(errno.EIO, f"{self.address}: connection lost: {exc}") from None
        except ValueError as exc:  # a reply that breaks the protocol: start again
            self._lost(conn, exc)
            raise OSError(errno.EIO, f"{self.address}: {exc}") from None

    def _lost(self, conn: NbdConnection, why: BaseException) -> None:
        log.warning("%s: connection lost (%s); reconnecting", self.address, why)
        self.disconnects += 1
        conn.sock.close()
        self._conn = None
        self._ahead.reset()
        self._retry_at = self._clock()

    def _connection(self) -> NbdConnection:
        conn = self._conn
        if conn is not None:
            return conn
        now = self._clock()
        if now < self._retry_at:
            raise OSError(errno.EIO, f"{self.address}: not connected")
        self._retry_at = now + RECONNECT_INTERVAL
        try:
            conn = NbdConnection(self.address, self.timeout)
        except (OSError, ValueError) as exc:
            log.debug("%s: reconnect failed: %s", self.address, exc)
            raise OSError(errno.EIO, f"{self.address}: not connected ({exc})") from None
        if conn.size < self._base + self._size:
            conn.close()
            raise OSError(errno.EIO, f"{self.address}: the export shrank to {conn.size} bytes")
        log.warning("%s: reconnected", self.address)
        self.reconnects += 1
        self._conn = conn
        return conn
