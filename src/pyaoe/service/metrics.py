"""pyaoe.service.metrics: a daemon's /metrics endpoint (Prometheus text format, by prometheus-client).

A daemon add()s collectors: objects whose collect() yields metric families, read from its counters
when Prometheus scrapes, so serving a frame costs nothing more with metrics on. The HTTP server
runs in its own thread, which blocks the signals the serving loop handles.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pyaoe.errors import ConfigError
from pyaoe.service.daemon import signals_blocked
from pyaoe.values import parse_int

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

__all__ = ["MetricsServer", "parse_address"]

log = logging.getLogger(__name__)


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (HOST may be [v6]) -> (host, port); every interface when HOST is omitted."""
    host, colon, port = text.rpartition(":")
    if not colon:
        host = ""
    host = host.strip("[]")
    return host or "0.0.0.0", parse_int(port, "--metrics port", 1, 65535)


class MetricsServer:
    """Serve /metrics on ``address`` ([HOST:]PORT) for the collectors added."""

    def __init__(self, address: str, signals: Iterable[int] = ()) -> None:
        from prometheus_client import CollectorRegistry

        self.host, self.port = parse_address(address)
        self.registry = CollectorRegistry(auto_describe=False)
        self._signals = tuple(signals)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def add(self, collector: Collector) -> None:
        """Serve ``collector``'s families too (the target's, the initiator's, ...)."""
        self.registry.register(collector)

    def start(self) -> None:
        """Listen; ConfigError with one line if the address cannot be bound."""
        from prometheus_client import start_http_server

        try:
            with signals_blocked(self._signals):
                self._server, self._thread = start_http_server(self.port, self.host, self.registry)
        except OSError as exc:
            raise ConfigError(f"--metrics {self.host}:{self.port}: {exc.strerror or exc}") from None
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def close(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown()
                self._server.server_close()
            self._server = None
