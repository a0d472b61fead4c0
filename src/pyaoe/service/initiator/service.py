"""pyaoe.service.initiator.service: InitiatorService, the thread-safe API over the initiator's I/O thread.

Requests become futures completed from engine events; control calls run on the I/O thread
(loop.IoLoop, which owns the engine and the sockets) and wait for it.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any

from pyaoe.errors import DeviceUnavailable
from pyaoe.initiator import Counters, DeviceInfo, InitiatorConfig, parse_iflist
from pyaoe.initiator.address import as_address
from pyaoe.service.initiator.loop import LATER, RESCAN_INTERVAL, IoLoop
from pyaoe.service.initiator.operations import DeviceRef, Listener
from pyaoe.service.initiator.stats import InitiatorStats

__all__ = ["InitiatorService"]

#: How often drain() looks whether the requests in flight are done (seconds).
_DRAIN_POLL = 0.02


class InitiatorService:
    """The AoE initiator's I/O side: sockets, one thread, and the operations of InitiatorLike.

    Requests (read, read_into, write, flush_cache) return concurrent.futures.Future objects
    that fail with OSError subclasses of errno EIO (pyaoe.errors), or ValueError for a range
    outside the device. Control calls block until the I/O thread has done them.
    """

    def __init__(
        self, config: InitiatorConfig | None = None, *, rescan_interval: float = RESCAN_INTERVAL
    ) -> None:
        config = config if config is not None else InitiatorConfig()
        if config.tag_start == 1:
            # Tags differ between runs, so a late answer to a previous run matches nothing.
            config = dataclasses.replace(config, tag_start=random.randrange(1, 1 << 31))
        self._config = config
        self._io = IoLoop(config, rescan_interval)
        self._idle_lock = threading.Lock()
        #: Set by drain(): new requests fail at once, those in flight go on.
        self._draining = False

    @property
    def send_losses(self) -> int:
        """Frames the kernel refused to queue (full socket buffer, interface gone); resent."""
        return self._io.send_losses

    @property
    def listener_errors(self) -> int:
        """Exceptions raised by listeners (add_listener): each is logged and the I/O goes on."""
        return self._io.listener_errors

    # -- life --------------------------------------------------------------------------------
    def start(self) -> None:
        """Open packet sockets on the allowed interfaces and start the I/O thread (which sends
        the first discovery). Sockets live in the calling thread's network namespace."""
        if self._io.thread is not None or self._io.closed:
            raise RuntimeError("an InitiatorService starts once")
        self._io.start()

    def stop(self) -> None:
        """Stop the I/O thread, fail pending requests (DeviceUnavailable) and close the sockets."""
        io = self._io
        if io.closed:
            return
        thread = io.thread
        if thread is None:
            io.close_resources()
        elif thread is threading.current_thread():
            io.stop_requested = True  # from a listener: the loop ends after this event
        else:
            io.request_stop()
            thread.join()

    def run(
        self,
        signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
        ready: Callable[[], None] | None = None,
    ) -> int | None:
        """Run in the foreground (main thread): start if needed, call ``ready()``, wait until
        one of ``signals`` arrives or stop() is called, then stop cleanly. Returns the signal
        number that stopped it, or None."""
        caught: list[int] = []

        def _handler(signum: int, _frame: object) -> None:
            caught.append(signum)
            self._io.request_stop()

        previous = {s: signal.signal(s, _handler) for s in signals}
        try:
            if self._io.thread is None:
                self.start()
            if ready is not None:
                ready()
            thread = self._io.thread
            assert thread is not None
            while thread.is_alive():
                thread.join(0.5)  # wakes up for signal handlers
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.stop()
        return caught[0] if caught else None

    def wait_first_turn(self, timeout: float | None = None) -> bool:
        """Wait until the I/O thread has taken its first turn, in which it sent the first
        discovery (when InitiatorConfig.discover_at_start); False after ``timeout`` s."""
        return self._io.first_turn.wait(timeout)

    def drain(self, timeout: float) -> int:
        """Take no new request (each fails at once with DeviceUnavailable) and wait up to
        ``timeout`` s for those in flight to be done or failed; returns how many are left."""
        self._draining = True
        deadline = time.monotonic() + timeout
        while True:
            left: int = self.call(lambda now: len(self._io.pending))
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(_DRAIN_POLL)

    @property
    def running(self) -> bool:
        io = self._io
        return io.thread is not None and io.thread.is_alive() and not io.stop_requested

    # -- requests ----------------------------------------------------------------------------
    def read(self, name: DeviceRef, offset: int, length: int) -> Future[bytes]:
        """Read ``length`` bytes at byte ``offset`` (any alignment)."""
        return self._submit(lambda now: self._io.engine.submit_read(name, offset, length), None)

    def read_into(self, name: DeviceRef, offset: int, buffer: Any) -> Future[int]:
        """Read len(buffer) bytes at ``offset`` into ``buffer`` (writable, kept alive until done)."""
        view = memoryview(buffer).cast("B")
        if view.readonly:
            raise TypeError("read_into needs a writable buffer")
        return self._submit(lambda now: self._io.engine.submit_read_into(name, offset, view), view)

    def write(self, name: DeviceRef, offset: int, data: bytes | bytearray | memoryview) -> Future[None]:
        """Write ``data`` at ``offset``; done when every frame of it has been acknowledged."""
        if not isinstance(data, bytes):
            data = bytes(data)  # the caller may reuse its buffer as soon as we return
        return self._submit(lambda now: self._io.engine.submit_write(name, offset, data), None)

    def flush_cache(self, name: DeviceRef) -> Future[None]:
        """FLUSH CACHE (EXT) to every target of the device; done when answered."""
        return self._submit(lambda now: self._io.engine.submit_flush(name), None)

    def _submit(self, start: Callable[[float], int], into: Any) -> Future[Any]:
        future: Future[Any] = Future()
        if self._draining:
            future.set_exception(DeviceUnavailable("the initiator is stopping"))
            return future

        def command(now: float) -> object:
            self._io.pending[start(now)] = (future, into)
            return LATER

        self._io.post(command, future)
        return future

    # -- control -----------------------------------------------------------------------------
    def discover(self) -> None:
        """Broadcast a Query Config on every allowed interface (does not wait for answers)."""
        self._io.post(lambda now: self._io.engine.discover(), Future())

    def rescan(self) -> list[str]:
        """Scan the interfaces now (as a link change makes it do) and broadcast a Query Config
        on each allowed one; returns the interfaces in use."""

        def scan(now: float) -> list[str]:
            self._io.rescan(now)
            self._io.engine.discover()
            return sorted(self._io.ports.by_name)

        return self.call(scan)  # type: ignore[no-any-return]

    def stats(self) -> InitiatorStats:
        """Everything the initiator counts, per device, path and interface, at one instant."""
        return self.call(lambda now: self._io.stats())  # type: ignore[no-any-return]

    def revalidate(self, name: DeviceRef) -> None:
        self.call(lambda now: self._io.engine.revalidate(name))

    def flush_devices(self, what: str = "") -> list[str]:
        """Drop devices: "" those down and not open, "all" every unused one, or one by name."""
        return self.call(lambda now: [a.name for a in self._io.engine.flush(what)])  # type: ignore[no-any-return]

    @property
    def iflist(self) -> tuple[str, ...]:
        return self._io.iflist

    def set_iflist(self, iflist: str | Iterable[str]) -> None:
        """Use only these interfaces (empty: all up Ethernet interfaces but loopback); rescans now."""
        names = parse_iflist(iflist)

        def apply(now: float) -> None:
            self._io.engine.set_iflist(names)
            self._io.iflist = names
            self._io.rescan(now)

        self.call(apply)

    def open_device(self, name: DeviceRef) -> None:
        self.call(lambda now: self._io.engine.open_device(name))

    def close_device(self, name: DeviceRef) -> None:
        self.call(lambda now: self._io.engine.close_device(name))

    def devices(self) -> list[DeviceInfo]:
        return self.call(lambda now: self._io.engine.devices())  # type: ignore[no-any-return]

    def device_info(self, name: DeviceRef) -> DeviceInfo:
        return self.call(lambda now: self._io.engine.device_info(name))  # type: ignore[no-any-return]

    def wait_for_device(self, name: DeviceRef, timeout: float) -> DeviceInfo:
        """The device's info once it is up; TimeoutError if it is not up within ``timeout`` s
        (DeviceUnavailable if the service is not running)."""
        address = as_address(name)
        deadline = time.monotonic() + timeout
        while True:
            with self._io.state_changed:
                while not self._io.states.get(address):
                    if not self.running:
                        raise DeviceUnavailable("the initiator is not running")
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"{address.name} is not up after {timeout:g} s")
                    self._io.state_changed.wait(min(left, 1.0))
            info = self.device_info(address)
            if info.up:
                return info

    def add_listener(self, callback: Listener) -> None:
        """Call ``callback(event)`` for every engine event, on the I/O thread (must not block)."""
        self._io.listeners = [*self._io.listeners, callback]

    @property
    def counters(self) -> Counters:
        """A snapshot of the engine's counters (frames sent, retransmits, ...)."""
        return copy.copy(self._io.engine.counters)

    @property
    def config(self) -> InitiatorConfig:
        """The configuration in force (iflist as set by set_iflist)."""
        return dataclasses.replace(self._config, iflist=self._io.iflist)

    @property
    def interfaces(self) -> dict[str, tuple[bytes, int]]:
        """The interfaces in use now: name -> (MAC, MTU)."""
        return self._io.ports.interfaces()

    def call(self, fn: Callable[[float], Any]) -> Any:
        """Run ``fn(now)`` on the I/O thread and return its result (raising what it raised)."""
        thread = self._io.thread
        if thread is threading.current_thread():
            return fn(time.monotonic())
        if thread is None or not thread.is_alive():
            # Not started, or finished: nobody else touches the engine.
            with self._idle_lock:
                return fn(time.monotonic())
        future: Future[Any] = Future()
        self._io.post(fn, future)
        return future.result()
