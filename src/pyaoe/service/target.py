"""pyaoe.service.target: the target's serving loop: a Port per interface, any number of exports,
changed while serving (reconfigure), with work from other threads run between batches.

Announces at start, keeps serving whatever a frame does, finishes its batch, flushes and closes
on SIGTERM or SIGINT; SIGHUP never kills it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import FrameType
from typing import Any

from pyaoe.net.mmsg import MSG_DONTWAIT, MSG_WAITFORONE
from pyaoe.service.target_port import WAKE_INTERVAL, Port
from pyaoe.target import Export, TargetEngine

__all__ = ["HANDLED_SIGNALS", "ExportSpec", "TargetService"]

log = logging.getLogger(__name__)

#: Sent to the loop's thread to cut its blocking receive short when work is queued for it: its
#: default action is to do nothing, so a stray one harms no process.
WAKE_SIGNAL = signal.SIGURG
#: What the loop handles: helper threads block these (pyaoe.service.daemon.signals_blocked).
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, WAKE_SIGNAL)


@dataclass
class ExportSpec:
    """An export and the interfaces it is served on."""

    export: Export
    interfaces: Sequence[str]


class TargetService:
    """Serve ``specs`` until stop() or SIGTERM/SIGINT."""

    def __init__(
        self,
        specs: Sequence[ExportSpec],
        *,
        buffer_frames: int = 0,
        batched: bool = True,
        batch_size: int = 32,
    ) -> None:
        #: The exports served now; replaced whole by reconfigure(), so other threads may read it.
        self.specs: list[ExportSpec] = list(specs)
        #: Socket buffer size in frames (0: from the exports' buffer counts, as vblade sizes
        #: its buffers as bufcnt x MTU).
        self.buffer_frames = buffer_frames
        #: Receive and send in batches (recvmmsg/sendmmsg) and answer READ/WRITE in place; False
        #: gives the plain one-frame-per-call loop (the portable fallback).
        self.batched = batched
        self.batch_size = batch_size
        #: One port per interface, by name; replaced whole on a change (readers in other threads).
        self.ports: dict[str, Port] = {}
        self._calls: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._interrupt = False
        self._stopping = False
        self._loop_thread: int | None = None
        self._signal_wake = False
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    # -- exports and ports --------------------------------------------------------------------
    @staticmethod
    def _by_interface(specs: Sequence[ExportSpec]) -> dict[str, list[Export]]:
        by_interface: dict[str, list[Export]] = {}
        for spec in specs:
            for ifname in spec.interfaces:
                by_interface.setdefault(ifname, []).append(spec.export)
        return by_interface

    def open(self) -> None:
        """Open a socket per interface; raises OSError (e.g. no such interface) before serving."""
        self.reconfigure(self.specs)

    def reconfigure(self, specs: Sequence[ExportSpec]) -> list[Export]:
        """Serve ``specs`` from now on; returns the exports no longer served (for the caller to
        flush and close). Run it in the loop's thread (call_soon) or before serve_forever().

        A new interface gets a socket first: if one cannot be opened (OSError), nothing has
        changed. An export object kept keeps serving on its sockets without a lost frame.
        """
        by_interface = self._by_interface(specs)
        opened: dict[str, Port] = {}
        try:
            for ifname, exports in by_interface.items():
                if ifname not in self.ports:
                    opened[ifname] = Port.open(ifname, exports, self.buffer_frames, self.batch_size)
        except BaseException:
            for port in opened.values():
                port.close()
            raise
        ports = {}
        for ifname, port in self.ports.items():
            if ifname in by_interface:
                port.set_exports(by_interface[ifname])
                ports[ifname] = port
            else:
                log.info("%s: no export uses it any more: closed", ifname)
                port.close()
        ports.update(opened)
        kept = {id(spec.export) for spec in specs}
        gone = [spec.export for spec in self.specs if id(spec.export) not in kept]
        self.ports = ports
        self.specs = list(specs)
        return gone

    @property
    def serving(self) -> bool:
        """True while serve_forever() runs."""
        return self._loop_thread is not None

    @property
    def engines(self) -> list[TargetEngine]:
        return [p.engine for p in self.ports.values()]

    def announce(self, only: Collection[Export] | None = None) -> None:
        """Tell running initiators about every export, or those in ``only`` (vblade's start-up
        announcement; a reload announces what it added or changed)."""
        for port in self.ports.values():
            for frame in port.engine.announcements(only):
                port.send(frame)

    # -- work from other threads --------------------------------------------------------------
    def call_soon(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` in the loop's thread between two batches; its result or exception in the
        future. Safe from any thread and from signal handlers."""
        future: Future[Any] = Future()
        self._calls.append((fn, future))
        self._interrupt = True
        self._wake()
        return future

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake is pending anyway), or closed
            os.write(self._wake_w, b"\0")
        if self._signal_wake and self._loop_thread is not None and self._loop_thread != threading.get_ident():
            with contextlib.suppress(ProcessLookupError):
                signal.pthread_kill(self._loop_thread, WAKE_SIGNAL)

    def _run_calls(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass
        while self._calls:
            fn, future = self._calls.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def stop(self, *_: object) -> None:
        self._stopping = True
        self._interrupt = True
        self._wake()

    # -- serving ------------------------------------------------------------------------------
    def serve_forever(self) -> None:
        """Answer frames until stopped. Bad frames never end the loop; socket errors do."""
        self._loop_thread = threading.get_ident()
        self.announce()
        try:
            while True:
                self._interrupt = False
                self._run_calls()
                if self._stopping:
                    break
                if self._interrupt:
                    continue
                ports = list(self.ports.values())
                if len(ports) == 1 and self.batched:
                    self._serve_batched(ports[0])
                else:
                    self._serve_polled(ports)
        finally:
            self._loop_thread = None
            while self._calls:
                _fn, future = self._calls.popleft()
                if future.set_running_or_notify_cancel():
                    future.set_exception(RuntimeError("the target is stopping"))

    def _serve_batched(self, port: Port) -> None:
        """recvmmsg a batch, answer READ/WRITE in place, sendmmsg the replies: the fast path."""
        port.sock.setblocking(True)
        step = port.batch_step()
        while not self._interrupt:
            step(MSG_WAITFORONE)

    def _serve_polled(self, ports: Sequence[Port]) -> None:
        """Several interfaces (or the plain loop): poll, then drain each ready one, in batches
        when batched (a few batches a turn, so one busy interface cannot starve the others)."""
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        steps: dict[int, Callable[[], bool]] = {}
        for port in ports:
            port.sock.setblocking(False)
            poller.register(port.sock.fileno(), select.POLLIN)
            if self.batched:
                batch_step = port.batch_step()
                steps[port.sock.fileno()] = lambda s=batch_step: s(MSG_DONTWAIT)  # type: ignore[misc]
            else:
                steps[port.sock.fileno()] = port.one_step()
        turns = 4 if self.batched else 64  # batches, or frames, of one port per turn
        while not self._interrupt:
            for fd, _event in poller.poll(WAKE_INTERVAL * 1000):
                step = steps.get(fd)
                if step is None:
                    continue  # the wake pipe: the loop's condition says why
                for _ in range(turns):
                    if not step():
                        break

    def flush(self, exports: Sequence[Export] | None = None) -> None:
        """fsync every writable export (or those given): on the way out, and before a reload
        lets one go."""
        for export in exports if exports is not None else [s.export for s in self.specs]:
            if not export.readonly:
                try:
                    export.backend.flush()
                except OSError as exc:
                    log.warning("%s: flush failed: %s", export.config.name, exc)

    def close(self) -> None:
        """Close every socket (a closed service cannot serve again)."""
        for port in self.ports.values():
            port.close()
        self.ports = {}
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        # Never write to a closed descriptor's number: it may be another file's by now.
        self._wake_r = self._wake_w = -1

    def run(
        self, on_hangup: Callable[[], None] | None = None, on_ready: Callable[[], None] | None = None
    ) -> None:
        """open(), serve until SIGTERM/SIGINT, then flush and close. SIGHUP runs ``on_hangup``
        in the loop (a reload), or is logged and ignored without one. ``on_ready`` is called
        once the signals are handled (a SIGTERM from then on stops the loop cleanly)."""

        def hangup(_signum: int, _frame: FrameType | None) -> None:
            if on_hangup is None:
                log.info("SIGHUP: nothing to reload (no --config file); serving on")
            else:
                self.call_soon(on_hangup)

        handlers: dict[int, Callable[[int, FrameType | None], None]] = {
            signal.SIGTERM: self.stop,
            signal.SIGINT: self.stop,
            signal.SIGHUP: hangup,
            WAKE_SIGNAL: lambda _s, _f: None,
        }
        previous = {s: signal.signal(s, h) for s, h in handlers.items()}
        old_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self._signal_wake = True
        try:
            if not self.ports:
                self.open()
            if on_ready is not None:
                on_ready()
            self.serve_forever()
            log.info("stopping")
        finally:
            self._signal_wake = False
            signal.set_wakeup_fd(old_wakeup)
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.flush()
            self.close()
