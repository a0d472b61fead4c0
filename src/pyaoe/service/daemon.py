"""pyaoe.service.daemon: what every pyaoe daemon shares: telling systemd (Type=notify) what it is
doing, a pidfile, and helper threads that leave signals to the serving loop.

sd_notify(3) is one datagram to $NOTIFY_SOCKET; without that variable every call does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Iterable, Iterator

__all__ = ["Pidfile", "notify", "ready", "reloading", "signals_blocked", "stopping"]

log = logging.getLogger(__name__)


def notify(*fields: str) -> bool:
    """Send ``fields`` ("READY=1", ...) to systemd; False when not under systemd or it failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), address)
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", address, exc)
        return False
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def reloading() -> bool:
    """RELOADING=1 with the time it began, as systemd 253's Type=notify-reload asks."""
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def stopping() -> bool:
    return notify("STOPPING=1")


class Pidfile:
    """``path`` holds this process's pid while it runs (written atomically, removed at exit)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self) -> None:
        """Raises OSError if the file cannot be written."""
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, self.path)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            with open(self.path) as f:
                if f.read().strip() != str(os.getpid()):
                    return  # another process's by now
            os.unlink(self.path)


@contextlib.contextmanager
def signals_blocked(signals: Iterable[int]) -> Iterator[None]:
    """Threads started inside inherit a mask that blocks ``signals``, so the kernel delivers
    those to the serving loop's thread, whose blocking receive they then cut short."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
