"""pyaoe.service.initiator_daemon: what runs beside an initiator that serves its tree: the control
socket, metrics, the pidfile, systemd's notifications, and what SIGHUP and the stop signals do.

The FUSE tree's life is pyaoe.fuse.daemon.serve(); this is handed to it as its ready, hangup and
drain callbacks.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from pyaoe.errors import ConfigError
from pyaoe.initiator import DeviceInfo
from pyaoe.service import daemon as sd
from pyaoe.service.control import ControlServer
from pyaoe.service.initiator import InitiatorService
from pyaoe.service.initiator_control import Hooks, executor, register
from pyaoe.service.metrics import MetricsServer

__all__ = ["InitiatorDaemon", "DRAIN_TIMEOUT", "HANDLED_SIGNALS"]

log = logging.getLogger("pyaoe.initiator")

#: Longest a stop signal waits for the requests in flight (each also fails after deadsecs); under
#: the unit's TimeoutStopSec, leaving time to unmount.
DRAIN_TIMEOUT = 30.0
#: Longest READY waits for the I/O thread's first turn (it is normally long over by then).
_FIRST_TURN_WAIT = 10.0
#: What the tree's loop handles: helper threads block these.
HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class InitiatorDaemon:
    """The control socket, metrics, pidfile and systemd notifications of one initiator."""

    def __init__(
        self,
        service: InitiatorService,
        root: Path,
        *,
        hooks: Callable[[str, DeviceInfo], None] | None = None,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        self.service = service
        self.root = root
        self.hooks = Hooks(revalidated=hooks)
        self.drain_timeout = drain_timeout
        self.control: ControlServer | None = None
        self._metrics: MetricsServer | None = None
        self._pidfile: sd.Pidfile | None = None
        self._on_stop: list[Callable[[], None]] = []
        self._stopping_said = False

    def prepare(
        self, control_socket: str, default_socket: str, metrics: str | None, pidfile: str | None
    ) -> None:
        """Check the options and take the control socket (``control_socket``; 'none': none), so
        that a mistake is one line (ConfigError) before anything else is opened."""
        if metrics:
            from pyaoe.service.initiator_metrics import InitiatorCollector

            self._metrics = MetricsServer(metrics, HANDLED_SIGNALS)
            self._metrics.add(InitiatorCollector(self.service))
        if pidfile:
            self._pidfile = sd.Pidfile(pidfile)
        if control_socket != "none":
            server = ControlServer(control_socket, executor=executor(self.service))
            register(server, self.service, self.hooks)
            try:
                server.bind()
            except ConfigError as exc:
                if control_socket != default_socket:
                    raise
                # Another initiator may hold the default socket; this one still serves.
                log.warning("%s; pyaoe ctl cannot reach this initiator (give --control-socket PATH)", exc)
            else:
                self.control = server
                self._on_stop.append(server.close)

    def start(self) -> None:
        """Write the pidfile, serve the metrics and answer on the control socket; ConfigError
        with one line if one of them cannot be. (Calls before the service starts run at once.)"""
        if self._pidfile is not None:
            try:
                self._pidfile.write()
            except OSError as exc:
                raise ConfigError(f"cannot write pidfile {self._pidfile.path}: {exc.strerror}") from None
            self._on_stop.append(self._pidfile.remove)
        if self._metrics is not None:
            self._metrics.start()
            self._on_stop.append(self._metrics.close)
        if self.control is not None:
            with sd.signals_blocked(HANDLED_SIGNALS):
                self.control.start()

    def status(self) -> str:
        interfaces = sorted(self.service.interfaces)
        where = ", ".join(interfaces) if interfaces else "no interface yet"
        return f"tree at {self.root}; discovery sent on {where}"

    def ready(self) -> None:
        """The tree is mounted: tell systemd once the first discovery went out."""
        if not self.service.wait_first_turn(_FIRST_TURN_WAIT):
            log.warning("the I/O thread has not taken its first turn; telling systemd anyway")
        sd.ready(self.status())

    def hangup(self) -> None:
        """SIGHUP: nothing to re-read (the options are fixed at start); what can be applied is
        the interfaces as they are now, so scan them and discover again."""
        interfaces = self.service.rescan()
        log.info(
            "SIGHUP: no configuration file to re-read (options stay as started; aoe-interfaces "
            "sets the interfaces); rescanned the interfaces (in use: %s) and sent a discovery",
            ", ".join(interfaces) or "none",
        )

    def drain(self) -> None:
        """A stop signal: tell systemd, take no new request, let those in flight finish."""
        self._stopping()
        began = time.monotonic()
        left = self.service.drain(self.drain_timeout)
        took = time.monotonic() - began
        if left:
            log.warning("%d requests still in flight after %.1f s: they fail", left, took)
        else:
            log.info("no request in flight (waited %.1f s)", took)

    def _stopping(self) -> None:
        if not self._stopping_said:
            self._stopping_said = True
            sd.stopping()

    def close(self) -> None:
        """On the way out: STOPPING=1 (if not said yet), then close what start() opened."""
        self._stopping()
        for stop in reversed(self._on_stop):
            stop()
        self._on_stop.clear()
