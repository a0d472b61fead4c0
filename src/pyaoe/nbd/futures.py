"""pyaoe.nbd.futures: an NBD connection as futures, for callers that keep many requests in flight.

Any thread sends (under a lock); one receiver thread reads replies and completes the futures,
read data landing straight in the buffers the requests gave. `pyaoe copy` uses it.
"""

from __future__ import annotations

import errno
import threading
from concurrent.futures import Future

from pyaoe.nbd.client import DEFAULT_TIMEOUT, NbdConnection, Op, request_error
from pyaoe.protocol.nbd.uri import NbdAddress
from pyaoe.protocol.nbd.wire import Cmd, CmdFlag

__all__ = ["NbdFutures"]


class NbdFutures:
    """submit_read / submit_write / submit_zero / submit_flush, each a concurrent Future."""

    def __init__(self, address: NbdAddress, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.conn = NbdConnection(address, timeout)
        # The receiver waits for replies as long as it takes; requests have their own bound.
        self.conn.sock.settimeout(None)
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Future[None], Op]] = {}
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._receive, name="nbd-replies", daemon=True)
        self._thread.start()

    @property
    def size(self) -> int:
        return self.conn.size

    def submit(self, op: Op) -> Future[None]:
        future: Future[None] = Future()
        with self._lock:
            if self._failed is not None:
                future.set_exception(OSError(errno.EIO, f"{self.conn.address}: {self._failed}"))
                return future
            # Registered before the send: the reply may come before send() returns.
            handle = self.conn.register(op)
            self._pending[handle] = (future, op)
            try:
                self.conn.send(op, handle)
            except OSError as exc:
                del self._pending[handle]
                future.set_exception(exc)
        return future

    def submit_read(self, offset: int, buffer: memoryview) -> Future[None]:
        return self.submit(Op(Cmd.READ, offset, (buffer,)))

    def submit_write(self, offset: int, data: memoryview, fua: bool = False) -> Future[None]:
        return self.submit(Op(Cmd.WRITE, offset, (data,), CmdFlag.FUA if fua else 0))

    def submit_zero(self, offset: int, length: int) -> Future[None]:
        return self.submit(Op(Cmd.WRITE_ZEROES, offset, (), 0, length))

    def submit_flush(self) -> Future[None]:
        return self.submit(Op(Cmd.FLUSH))

    def _receive(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._pending and self._failed is not None:
                        return
                handle, error = self.conn.receive()
                with self._lock:
                    future, op = self._pending.pop(handle)
                if error:
                    future.set_exception(request_error(op, error))
                else:
                    future.set_result(None)
        except (OSError, ValueError, KeyError) as exc:
            with self._lock:
                self._failed = exc
                pending, self._pending = self._pending, {}
            for future, _op in pending.values():
                future.set_exception(OSError(errno.EIO, f"{self.conn.address}: connection lost: {exc}"))

    def close(self) -> None:
        with self._lock:
            self._failed = self._failed or ConnectionAbortedError("closed")
        self.conn.close()
        self._thread.join(5)
