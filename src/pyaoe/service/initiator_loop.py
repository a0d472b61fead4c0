"""pyaoe.service.initiator_loop: InitiatorService, the one I/O thread that drives InitiatorEngine.

It owns the packet sockets, the wake-up eventfd, interface rescans, the futures callers wait
on and the event listeners; every engine call happens on its thread.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import os
import random
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any

from pyaoe.errors import DeviceUnavailable
from pyaoe.initiator import (
    Counters,
    DeviceAddress,
    DeviceDiscovered,
    DeviceDown,
    DeviceInfo,
    DeviceRemoved,
    DeviceUp,
    Diagnostic,
    DiagnosticKind,
    InitiatorConfig,
    InitiatorEngine,
    InitiatorEvent,
    RequestDone,
    RequestError,
    RequestFailed,
    parse_iflist,
)
from pyaoe.initiator.address import as_address
from pyaoe.service.initiator_ports import LinkWatch, Port, open_port, scan_interfaces

__all__ = ["InitiatorService", "DeviceRef", "Listener"]

log = logging.getLogger("pyaoe.initiator")

DeviceRef = DeviceAddress | tuple[int, int] | str
Listener = Callable[[InitiatorEvent], None]
Command = Callable[[float], Any]

#: A command's return value meaning "the future is completed later, by an engine event".
_LATER = object()
#: Scan the interfaces this often even without a netlink notice (a missed one, another
#: namespace's quirks); link changes normally trigger a scan at once.
RESCAN_INTERVAL = 10.0
_POLLIN = select.POLLIN
_POLLERR = select.POLLERR | select.POLLHUP | select.POLLNVAL
_DIAGNOSTIC_LEVEL = {
    DiagnosticKind.RETRANSMIT: logging.DEBUG,
    DiagnosticKind.UNEXPECTED_RESPONSE: logging.DEBUG,
    DiagnosticKind.DEVICE_UP: logging.INFO,
    DiagnosticKind.INFO: logging.INFO,
}


class InitiatorService:
    """The AoE initiator's I/O side: sockets, one thread, and a thread-safe API of futures.

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
        self._iflist = config.iflist
        self._rescan_interval = rescan_interval
        self._engine = InitiatorEngine(config, {})
        self._ports: dict[str, Port] = {}
        self._ports_by_fd: dict[int, Port] = {}
        self._poller = select.poll()
        self._link_watch: LinkWatch | None = None
        self._wake_fd = -1
        self._wake_pending = False
        self._commands: deque[tuple[Command, Future[Any]]] = deque()
        self._pending: dict[int, tuple[Future[Any], Any]] = {}
        self._listeners: list[Listener] = []
        self._states: dict[DeviceAddress, bool] = {}
        self._state_changed = threading.Condition()
        self._idle_lock = threading.Lock()
        self._post_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_requested = False
        self._closed = False
        self._next_rescan = 0.0
        #: Frames the kernel refused to queue (full socket buffer, interface gone); the engine resends them.
        self.send_losses = 0

    # -- life --------------------------------------------------------------------------------
    def start(self) -> None:
        """Open packet sockets on the allowed interfaces and start the I/O thread (which sends
        the first discovery). Sockets live in the calling thread's network namespace."""
        if self._thread is not None or self._closed:
            raise RuntimeError("an InitiatorService starts once")
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poller.register(self._wake_fd, _POLLIN)
        try:
            self._link_watch = LinkWatch()
            self._poller.register(self._link_watch.fileno(), _POLLIN)
            self._rescan(time.monotonic())
            if not self._ports:
                log.warning("no interface for AoE yet (iflist: %s)", " ".join(self._iflist) or "all")
        except BaseException:
            self._close_resources()
            raise
        self._thread = threading.Thread(target=self._run, name="pyaoe-initiator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the I/O thread, fail pending requests (DeviceUnavailable) and close the sockets."""
        if self._closed:
            return
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self._stop_requested = True
            self._wake()
            thread.join()
        elif thread is None:
            self._close_resources()
        else:
            self._stop_requested = True  # from a listener: the loop ends after this event

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
            self._stop_requested = True
            self._wake()

        previous = {s: signal.signal(s, _handler) for s in signals}
        try:
            if self._thread is None:
                self.start()
            if ready is not None:
                ready()
            thread = self._thread
            assert thread is not None
            while thread.is_alive():
                thread.join(0.5)  # wakes up for signal handlers
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.stop()
        return caught[0] if caught else None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop_requested

    # -- requests ----------------------------------------------------------------------------
    def read(self, name: DeviceRef, offset: int, length: int) -> Future[bytes]:
        """Read ``length`` bytes at byte ``offset`` (any alignment)."""
        return self._submit(lambda now: self._engine.submit_read(name, offset, length, now), None)

    def read_into(self, name: DeviceRef, offset: int, buffer: Any) -> Future[int]:
        """Read len(buffer) bytes at ``offset`` into ``buffer`` (writable, kept alive until done)."""
        view = memoryview(buffer).cast("B")
        if view.readonly:
            raise TypeError("read_into needs a writable buffer")
        return self._submit(lambda now: self._engine.submit_read_into(name, offset, view, now), view)

    def write(self, name: DeviceRef, offset: int, data: bytes | bytearray | memoryview) -> Future[None]:
        """Write ``data`` at ``offset``; done when every frame of it has been acknowledged."""
        if not isinstance(data, bytes):
            data = bytes(data)  # the caller may reuse its buffer as soon as we return
        return self._submit(lambda now: self._engine.submit_write(name, offset, data, now), None)

    def flush_cache(self, name: DeviceRef) -> Future[None]:
        """FLUSH CACHE (EXT) to every target of the device; done when answered."""
        return self._submit(lambda now: self._engine.submit_flush(name, now), None)

    def _submit(self, start: Callable[[float], int], into: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def command(now: float) -> object:
            self._pending[start(now)] = (future, into)
            return _LATER

        self._post(command, future)
        return future

    # -- control -----------------------------------------------------------------------------
    def discover(self) -> None:
        """Broadcast a Query Config on every allowed interface (does not wait for answers)."""
        self._post(lambda now: self._engine.discover(now), Future())

    def revalidate(self, name: DeviceRef) -> None:
        self.call(lambda now: self._engine.revalidate(name, now))

    def flush_devices(self, what: str = "") -> list[str]:
        """Drop devices: "" those down and not open, "all" every unused one, or one by name."""
        return self.call(lambda now: [a.name for a in self._engine.flush(what, now)])  # type: ignore[no-any-return]

    @property
    def iflist(self) -> tuple[str, ...]:
        return self._iflist

    def set_iflist(self, iflist: str | Iterable[str]) -> None:
        """Use only these interfaces (empty: all up Ethernet interfaces but loopback); rescans now."""
        names = parse_iflist(iflist)

        def apply(now: float) -> None:
            self._engine.set_iflist(names)
            self._iflist = names
            self._rescan(now)

        self.call(apply)

    def open_device(self, name: DeviceRef) -> None:
        self.call(lambda now: self._engine.open_device(name))

    def close_device(self, name: DeviceRef) -> None:
        self.call(lambda now: self._engine.close_device(name))

    def devices(self) -> list[DeviceInfo]:
        return self.call(lambda now: self._engine.devices())  # type: ignore[no-any-return]

    def device_info(self, name: DeviceRef) -> DeviceInfo:
        return self.call(lambda now: self._engine.device_info(name))  # type: ignore[no-any-return]

    def wait_for_device(self, name: DeviceRef, timeout: float) -> DeviceInfo:
        """The device's info once it is up; TimeoutError if it is not up within ``timeout`` s
        (DeviceUnavailable if the service is not running)."""
        address = as_address(name)
        deadline = time.monotonic() + timeout
        while True:
            with self._state_changed:
                while not self._states.get(address):
                    if not self.running:
                        raise DeviceUnavailable("the initiator is not running")
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"{address.name} is not up after {timeout:g} s")
                    self._state_changed.wait(min(left, 1.0))
            info = self.device_info(address)
            if info.up:
                return info

    def add_listener(self, callback: Listener) -> None:
        """Call ``callback(event)`` for every engine event, on the I/O thread (must not block)."""
        self._listeners = [*self._listeners, callback]

    def remove_listener(self, callback: Listener) -> None:
        self._listeners = [c for c in self._listeners if c is not callback]

    @property
    def counters(self) -> Counters:
        """A snapshot of the engine's counters (frames sent, retransmits, ...)."""
        return copy.copy(self._engine.counters)

    @property
    def config(self) -> InitiatorConfig:
        """The configuration in force (iflist as set by set_iflist)."""
        return dataclasses.replace(self._config, iflist=self._iflist)

    @property
    def interfaces(self) -> dict[str, tuple[bytes, int]]:
        """The interfaces in use now: name -> (MAC, MTU)."""
        return {name: (p.facts.mac, p.facts.mtu) for name, p in list(self._ports.items())}

    def call(self, fn: Callable[[float], Any]) -> Any:
        """Run ``fn(now)`` on the I/O thread and return its result (raising what it raised)."""
        thread = self._thread
        if thread is threading.current_thread():
            return fn(time.monotonic())
        if thread is None or not thread.is_alive():
            # Not started, or finished: nobody else touches the engine.
            with self._idle_lock:
                return fn(time.monotonic())
        future: Future[Any] = Future()
        self._post(fn, future)
        return future.result()

    # -- the thread's side -------------------------------------------------------------------
    def _post(self, command: Command, future: Future[Any]) -> None:
        # Under the lock _finish() takes to stop accepting: a command is either queued before
        # the last drain or refused here, never left waiting forever.
        with self._post_lock:
            if self._stop_requested or self._closed or self._thread is None:
                future.set_exception(DeviceUnavailable("the initiator is not running"))
                return
            self._commands.append((command, future))
        if not self._wake_pending:
            self._wake_pending = True
            self._wake()

    def _wake(self) -> None:
        # Closed while stopping, or the counter is full (it is read soon): nothing to do.
        with contextlib.suppress(OSError):
            os.eventfd_write(self._wake_fd, 1)

    def _run(self) -> None:
        reason = "the initiator stopped"
        try:
            self._loop()
        except BaseException as exc:
            # Fail-stop: after an unexpected error the engine's state cannot be trusted with
            # anyone's data. Everything waiting fails; the err stream says why.
            log.exception("the initiator's I/O thread failed")
            reason = f"the initiator failed: {exc!r}"
            self._tell(Diagnostic(DiagnosticKind.INFO, f"pyaoe: {reason}"))
        finally:
            self._stop_requested = True
            self._finish(reason)

    def _tell(self, event: InitiatorEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("an initiator listener failed on %r", event)

    def _loop(self) -> None:
        engine = self._engine
        poll = self._poller.poll
        monotonic = time.monotonic
        ports_by_fd = self._ports_by_fd
        receive = engine.receive_frames
        wake_fd = self._wake_fd
        link_fd = self._link_watch.fileno() if self._link_watch else -1
        while not self._stop_requested:
            deadline = engine.get_timer()
            wake_at = self._next_rescan if deadline is None or deadline > self._next_rescan else deadline
            ms = (wake_at - monotonic()) * 1000.0
            ready = poll(math.ceil(ms) if ms > 0 else 0)
            now = monotonic()
            for fd, mask in ready:
                port = ports_by_fd.get(fd)
                if port is not None:
                    if mask & _POLLIN:
                        port.receive(receive, now)
                    if mask & _POLLERR:
                        self._port_trouble(port, now)
                elif fd == wake_fd:
                    self._run_commands(now)
                elif fd == link_fd and self._link_watch is not None and self._link_watch.drain():
                    self._rescan(now)
            if now >= self._next_rescan:
                self._rescan(now)
            # One get_timer() per turn: the input handled since poll() schedules its deadlines
            # from ``now`` on; one due at ``now`` exactly makes the next poll() return at once.
            if deadline is not None and deadline <= now:
                engine.handle_timer(now)
            self._send(now)
            self._dispatch()

    def _run_commands(self, now: float) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._wake_fd)
        # Cleared before draining: a command posted from now on wakes us again.
        self._wake_pending = False
        commands = self._commands
        while commands:
            command, future = commands.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = command(now)
            except BaseException as exc:  # ValueError, DeviceUnavailable...: the caller's
                future.set_exception(exc)
            else:
                if result is not _LATER:
                    future.set_result(result)

    def _send(self, now: float) -> None:
        """Send what the engine has: packed straight into each port's send buffers."""
        ports = self._ports
        if not ports:
            # Nowhere to send; the engine must still run its queues (a device with work and
            # no interface starts its deadsecs count there).
            self.send_losses += len(self._engine.frames_to_send(now))
            return
        fill = self._engine.frames_to_send_into
        for port in ports.values():
            self.send_losses += port.send_from(fill, now)

    def _dispatch(self) -> None:
        next_event = self._engine.next_event
        pending = self._pending
        while (event := next_event()) is not None:
            kind = type(event)
            if kind is RequestDone:
                entry = pending.pop(event.request_id, None)  # type: ignore[union-attr]
                if entry is not None:
                    _complete(entry, event.data)  # type: ignore[union-attr]
            elif kind is RequestFailed:
                entry = pending.pop(event.request_id, None)  # type: ignore[union-attr]
                if entry is not None:
                    entry[0].set_exception(_exception(event))  # type: ignore[arg-type]
            elif kind is Diagnostic:
                log.log(_DIAGNOSTIC_LEVEL.get(event.kind, logging.WARNING), "%s", event.text)  # type: ignore[union-attr]
            else:
                self._device_event(event)
            self._tell(event)

    def _device_event(self, event: InitiatorEvent) -> None:
        if isinstance(event, DeviceUp | DeviceDown | DeviceRemoved | DeviceDiscovered):
            with self._state_changed:
                if isinstance(event, DeviceRemoved):
                    self._states.pop(event.device, None)
                else:
                    self._states[event.device] = isinstance(event, DeviceUp)
                self._state_changed.notify_all()

    # -- interfaces --------------------------------------------------------------------------
    def _rescan(self, now: float) -> None:
        """Open and close ports so that they match the usable interfaces; tell the engine."""
        self._next_rescan = now + self._rescan_interval
        if self._closed or self._wake_fd < 0:
            return  # not started, or stopped: no sockets to open
        try:
            found = scan_interfaces(self._iflist)
        except OSError as exc:
            log.warning("cannot list the network interfaces: %s", exc)
            return
        changed = False
        for name, port in list(self._ports.items()):
            facts = found.get(name)
            if facts == port.facts:
                continue
            if (
                facts is not None
                and (facts.index, facts.mac) == (port.facts.index, port.facts.mac)
                and port.holds(facts.mtu)
            ):
                port.facts = facts  # a new MTU the buffers still hold
                changed = True
                continue
            self._close_port(port)
            changed = True
        added = False
        for name, facts in found.items():
            if name not in self._ports:
                new = open_port(facts)
                if new is not None:
                    self._ports[name] = new
                    self._ports_by_fd[new.fd] = new
                    self._poller.register(new.fd, _POLLIN)
                    changed = added = True
                    log.info("using %s (%s, MTU %d) for AoE", name, facts.mac.hex(":"), facts.mtu)
        if changed:
            self._engine.update_interfaces({n: (p.facts.mac, p.facts.mtu) for n, p in self._ports.items()})
        if added and self._thread is not None:
            # Devices may be reachable through the new interface: ask (the first discovery
            # at start-up is the engine's own).
            self._engine.discover(now)

    def _close_port(self, port: Port) -> None:
        log.info("no longer using %s for AoE", port.ifname)
        self._ports.pop(port.ifname, None)
        self._ports_by_fd.pop(port.fd, None)
        with contextlib.suppress(KeyError):
            self._poller.unregister(port.fd)
        port.close()

    def _port_trouble(self, port: Port, now: float) -> None:
        try:
            error = port.pending_error()
        except OSError:
            error = -1
        log.debug("%s: socket error %s; rescanning interfaces", port.ifname, error)
        self._rescan(now)
        if self._ports.get(port.ifname) is port and error == 0:
            # Nothing to read and no error: the interface is gone; drop it to stop spinning.
            self._close_port(port)
            self._engine.update_interfaces({n: (p.facts.mac, p.facts.mtu) for n, p in self._ports.items()})

    def _finish(self, reason: str) -> None:
        """On the way out (I/O thread): fail whatever waits, close everything."""
        stopped = DeviceUnavailable(reason)
        with self._post_lock:
            self._closed = True
        while self._commands:
            _, future = self._commands.popleft()
            if future.set_running_or_notify_cancel():
                future.set_exception(stopped)
        for future, _ in self._pending.values():
            future.set_exception(stopped)
        self._pending.clear()
        with self._state_changed:
            self._states.clear()
            self._state_changed.notify_all()
        self._close_resources()

    def _close_resources(self) -> None:
        self._closed = True
        for port in list(self._ports.values()):
            port.close()
        self._ports.clear()
        self._ports_by_fd.clear()
        if self._link_watch is not None:
            self._link_watch.close()
            self._link_watch = None
        if self._wake_fd >= 0:
            os.close(self._wake_fd)
            self._wake_fd = -1


def _complete(entry: tuple[Future[Any], Any], data: memoryview | None) -> None:
    future, into = entry
    if data is None:
        future.set_result(None)
    elif into is not None:
        future.set_result(len(data))  # read_into: the engine read straight into ``into``
    else:
        future.set_result(data.tobytes())


def _exception(event: RequestFailed) -> BaseException:
    if event.error is RequestError.TIMEOUT:
        # The frame that waited deadsecs took its device down: as for the others, EIO.
        return DeviceUnavailable(event.message)
    return event.to_exception()
