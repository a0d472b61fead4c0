"""pyaoe.service.initiator.loop: IoLoop, the initiator's one I/O thread and everything it owns.

Poll on the packet sockets, a wake-up eventfd and a netlink watch; feed InitiatorEngine; send
what it packs; run posted commands; complete futures and tell listeners from its events.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from pyaoe.errors import DeviceUnavailable
from pyaoe.initiator import (
    DeviceAddress,
    DeviceDiscovered,
    DeviceDown,
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
)
from pyaoe.service.initiator.operations import Listener
from pyaoe.service.initiator.ports import LINK_ERRORS, LinkWatch, Port, PortTable, scan_interfaces
from pyaoe.service.initiator.stats import EventTally, InitiatorStats, snapshot

__all__ = ["IoLoop", "LoopCall", "LATER", "RESCAN_INTERVAL"]

log = logging.getLogger("pyaoe.initiator")

#: Work for the I/O thread: called with ``now``; its result completes the command's future.
LoopCall = Callable[[float], Any]
#: A command's result meaning "the future is completed later, by an engine event".
LATER = object()
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


class IoLoop:
    """The engine, the sockets and the thread that alone drives them.

    Other threads only post() commands (and read the ``states`` under ``state_changed``);
    everything else here runs on the thread, or before it starts, or after it ended.
    """

    def __init__(self, config: InitiatorConfig, rescan_interval: float = RESCAN_INTERVAL) -> None:
        self.engine = InitiatorEngine(config, {})
        self.iflist = config.iflist
        self.listeners: list[Listener] = []
        #: Device address -> up, kept from the engine's events for wait_for_device.
        self.states: dict[DeviceAddress, bool] = {}
        self.state_changed = threading.Condition()
        self.thread: threading.Thread | None = None
        self.stop_requested = False
        self.closed = False
        #: Frames the kernel refused to queue (full socket buffer, interface gone); the engine resends them.
        self.send_losses = 0
        #: Exceptions listeners raised (each logged with its traceback; the loop goes on).
        self.listener_errors = 0
        #: Per-device retransmits and errors, from the engine's diagnostics.
        self.tally = EventTally()
        #: Set once the thread's first turn is over: its first discovery (due at once) went out.
        self.first_turn = threading.Event()
        self._rescan_interval = rescan_interval
        self._next_rescan = 0.0
        self._poller = select.poll()
        self.ports = PortTable(self._poller)
        self._link_watch: LinkWatch | None = None
        self._wake_fd = -1
        self._wake_pending = False
        self._commands: deque[tuple[LoopCall, Future[Any]]] = deque()
        self._post_lock = threading.Lock()
        #: Request id -> (its future, the caller's buffer for read_into or None).
        self.pending: dict[int, tuple[Future[Any], Any]] = {}

    # -- life --------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the eventfd, the netlink watch and the ports (in the calling thread's network
        namespace, which the I/O thread inherits), then start the thread."""
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poller.register(self._wake_fd, _POLLIN)
        try:
            self._link_watch = LinkWatch()
            self._poller.register(self._link_watch.fileno(), _POLLIN)
            self.rescan(time.monotonic())
            if not self.ports.by_name:
                log.warning("no interface for AoE yet (iflist: %s)", " ".join(self.iflist) or "all")
        except BaseException:
            self.close_resources()
            raise
        self.thread = threading.Thread(target=self._run, name="pyaoe-initiator", daemon=True)
        self.thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end after its current turn (safe from a signal handler)."""
        self.stop_requested = True
        self.wake()

    def post(self, command: LoopCall, future: Future[Any]) -> None:
        """Queue ``command`` for the thread; ``future`` fails at once if it will never run."""
        # Under the lock _finish() takes to stop accepting: a command is either queued before
        # the last drain or refused here, never left waiting forever.
        with self._post_lock:
            if self.stop_requested or self.closed or self.thread is None:
                future.set_exception(DeviceUnavailable("the initiator is not running"))
                return
            self._commands.append((command, future))
        if not self._wake_pending:
            self._wake_pending = True
            self.wake()

    def wake(self) -> None:
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
            self.stop_requested = True
            self._finish(reason)

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        engine = self.engine
        poll = self._poller.poll
        monotonic = time.monotonic
        ports_by_fd = self.ports.by_fd
        receive = engine.receive_frames
        wake_fd = self._wake_fd
        link_fd = self._link_watch.fileno() if self._link_watch else -1
        first_turn = True
        while not self.stop_requested:
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
                    self.rescan(now)
            if now >= self._next_rescan:
                self.rescan(now)
            # One get_timer() per turn: the input handled since poll() schedules its deadlines
            # from ``now`` on; one due at ``now`` exactly makes the next poll() return at once.
            if deadline is not None and deadline <= now:
                engine.handle_timer(now)
            self._send(now)
            self._dispatch()
            if first_turn:
                first_turn = False
                self.first_turn.set()

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
                if result is not LATER:
                    future.set_result(result)

    def _send(self, now: float) -> None:
        """Send what the engine has: packed straight into each port's send buffers."""
        ports = self.ports.by_name
        if not ports:
            # Nowhere to send; the engine must still run its queues (a device with work and
            # no interface starts its deadsecs count there).
            self.send_losses += len(self.engine.frames_to_send(now))
            return
        fill = self.engine.frames_to_send_into
        for port in ports.values():
            self.send_losses += port.send_from(fill, now)

    def _dispatch(self) -> None:
        next_event = self.engine.next_event
        pending = self.pending
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
                self.tally.diagnostic(event, self.engine.interfaces)  # type: ignore[arg-type]
            elif isinstance(event, DeviceUp | DeviceDown | DeviceRemoved | DeviceDiscovered):
                with self.state_changed:
                    if isinstance(event, DeviceRemoved):
                        self.states.pop(event.device, None)
                        self.tally.forget(event.device)
                    else:
                        self.states[event.device] = isinstance(event, DeviceUp)
                    self.state_changed.notify_all()
            self._tell(event)

    def _tell(self, event: InitiatorEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                # A listener's bug must not stop the initiator, nor pass unseen: logged, counted.
                self.listener_errors += 1
                log.exception("an initiator listener failed on %r", event)

    # -- interfaces --------------------------------------------------------------------------
    def rescan(self, now: float) -> None:
        """Open and close ports so that they match the usable interfaces; tell the engine."""
        self._next_rescan = now + self._rescan_interval
        if self.closed or self._wake_fd < 0:
            return  # not started, or stopped: no sockets to open
        try:
            found = scan_interfaces(self.iflist)
        except OSError as exc:
            log.warning("cannot list the network interfaces: %s", exc)
            return
        changed, added = self.ports.sync(found)
        if changed:
            self.engine.update_interfaces(self.ports.interfaces())
        if added and self.thread is not None:
            # Devices may be reachable through the new interface: ask (the first discovery
            # at start-up is the engine's own).
            self.engine.discover()

    def _port_trouble(self, port: Port, now: float) -> None:
        try:
            error = port.pending_error()
        except OSError:
            error = -1
        if error in LINK_ERRORS:
            port.counters.socket_errors += 1
        log.debug("%s: socket error %s; rescanning interfaces", port.ifname, error)
        self.rescan(now)
        if self.ports.by_name.get(port.ifname) is port and error == 0:
            # Nothing to read and no error: the interface is gone; drop it to stop spinning.
            port.counters.link_down += 1
            self.ports.close(port)
            self.engine.update_interfaces(self.ports.interfaces())

    def stats(self) -> InitiatorStats:
        """Everything counted, as of now (on the thread, or when it is not running)."""
        return snapshot(
            self.engine.devices(),
            self.tally,
            self.ports.interfaces(),
            self.ports.counters,
            self.engine.counters,
            len(self.pending),
            self.listener_errors,
        )

    # -- the end -----------------------------------------------------------------------------
    def _finish(self, reason: str) -> None:
        """On the way out (I/O thread): fail whatever waits, close everything."""
        stopped = DeviceUnavailable(reason)
        with self._post_lock:
            self.closed = True
        while self._commands:
            _, future = self._commands.popleft()
            if future.set_running_or_notify_cancel():
                future.set_exception(stopped)
        for future, _ in self.pending.values():
            future.set_exception(stopped)
        self.pending.clear()
        with self.state_changed:
            self.states.clear()
            self.state_changed.notify_all()
        self.close_resources()

    def close_resources(self) -> None:
        self.closed = True
        self.ports.close_all()
        if self._link_watch is not None:
            self._link_watch.close()
            self._link_watch = None
        fd, self._wake_fd = self._wake_fd, -1  # forgotten before closed: no write to a reused fd
        if fd >= 0:
            os.close(fd)


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
