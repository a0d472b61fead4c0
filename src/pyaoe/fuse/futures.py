"""pyaoe.fuse.futures: the bridge from the initiator's concurrent futures into trio (FutureWaiter).

The service's requests are concurrent.futures completed on its I/O thread, woken into trio with
the run's token (run_sync_soon), never by blocking the trio thread; its control calls block,
so the file system runs them in trio's worker threads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import trio

__all__ = ["FutureWaiter", "Stopped"]

T = TypeVar("T")


class Stopped(Exception):
    """The file system is shutting down: a request still waiting is given up."""


class FutureWaiter:
    """Awaits concurrent futures from trio, and lets every waiter go at shutdown."""

    def __init__(self) -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._waiting: set[trio.Event] = set()
        self._lock = threading.Lock()
        #: Calls made before trio ran, replayed in order once it does.
        self._early: list[tuple[Callable[..., Any], tuple[Any, ...]]] | None = []
        self.stopping = False

    def attach(self) -> None:
        """Remember the running trio's token and run the calls that came before (call from
        inside trio)."""
        with self._lock:
            self._token = trio.lowlevel.current_trio_token()
            early, self._early = self._early or [], None
        for fn, args in early:
            fn(*args)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the trio thread, from any thread; kept until trio runs, dropped
        after it ended."""
        token = self._token
        if token is None:
            with self._lock:
                if self._early is not None:
                    self._early.append((fn, args))
                    return
                token = self._token
        if token is None:
            return
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(fn, *args)

    async def wait(self, future: Future[T]) -> T:
        """The future's result (or its exception); Stopped if shutdown comes first."""
        if not future.done():
            if self.stopping:
                raise Stopped()
            done = trio.Event()
            self._waiting.add(done)
            future.add_done_callback(lambda _f: self.call_soon(done.set))
            try:
                await done.wait()
            finally:
                self._waiting.discard(done)
            if not future.done():
                raise Stopped()
        return future.result()

    @property
    def busy(self) -> int:
        """Requests waiting for their future now."""
        return len(self._waiting)

    def stop(self) -> None:
        """Release every waiter (they raise Stopped)."""
        self.stopping = True
        for event in list(self._waiting):
            event.set()
