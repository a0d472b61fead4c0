"""pyaoe.service.initiator.operations: every operation of the initiator, listed once.

InitiatorLike is that list: InitiatorService implements it, the faces (faces.py) derive their
methods from it, and the FUSE tree and the tests' fake depend on it and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, Protocol

from pyaoe.initiator import Counters, DeviceAddress, DeviceInfo, InitiatorConfig, InitiatorEvent

__all__ = ["InitiatorLike", "DeviceRef", "Listener"]

#: A device by address, (shelf, slot) or name ("e1.2").
DeviceRef = DeviceAddress | tuple[int, int] | str
#: Called with every engine event, on the I/O thread (must not block).
Listener = Callable[[InitiatorEvent], None]


class InitiatorLike(Protocol):
    """The initiator's operations. Three kinds, by how they complete:

    - requests (read, read_into, write, flush_cache) return a concurrent.futures.Future that
      fails with an OSError of errno EIO (pyaoe.errors), or ValueError for a range outside the
      device;
    - calls (revalidate ... wait_for_device) block until the I/O thread has done them;
    - discover and add_listener return at once.
    """

    # -- requests ------------------------------------------------------------------------------
    def read(self, name: DeviceRef, offset: int, length: int) -> Future[bytes]:
        """Read ``length`` bytes at byte ``offset`` (any alignment)."""
        ...

    def read_into(self, name: DeviceRef, offset: int, buffer: Any) -> Future[int]:
        """Read len(buffer) bytes at ``offset`` into ``buffer`` (writable, kept alive until done)."""
        ...

    def write(self, name: DeviceRef, offset: int, data: bytes | bytearray | memoryview) -> Future[None]:
        """Write ``data`` at ``offset``; done when every frame of it has been acknowledged."""
        ...

    def flush_cache(self, name: DeviceRef) -> Future[None]:
        """FLUSH CACHE (EXT) to every target of the device; done when answered."""
        ...

    # -- calls ---------------------------------------------------------------------------------
    def revalidate(self, name: DeviceRef) -> None:
        """Ask the device's targets again (Query Config, IDENTIFY): size and paths are re-read."""
        ...

    def flush_devices(self, what: str = "") -> list[str]:
        """Drop devices: "" those down and not open, "all" every unused one, or one by name."""
        ...

    def set_iflist(self, iflist: str | Iterable[str]) -> None:
        """Use only these interfaces (empty: all up Ethernet interfaces but loopback)."""
        ...

    def open_device(self, name: DeviceRef) -> None:
        """Count one more user of the device (an open device is never flushed)."""
        ...

    def close_device(self, name: DeviceRef) -> None:
        """Count one user of the device less."""
        ...

    def devices(self) -> list[DeviceInfo]:
        """Every known device, up or not."""
        ...

    def device_info(self, name: DeviceRef) -> DeviceInfo:
        """One device's state, size, paths and IDENTIFY data."""
        ...

    def wait_for_device(self, name: DeviceRef, timeout: float) -> DeviceInfo:
        """The device's info once it is up; TimeoutError if it is not up within ``timeout`` s."""
        ...

    # -- at once -------------------------------------------------------------------------------
    def discover(self) -> None:
        """Broadcast a Query Config on every allowed interface (does not wait for answers)."""
        ...

    def add_listener(self, callback: Listener) -> None:
        """Call ``callback(event)`` for every engine event, on the I/O thread (must not block)."""
        ...

    # -- state ---------------------------------------------------------------------------------
    @property
    def config(self) -> InitiatorConfig:
        """The configuration in force (iflist as set by set_iflist)."""
        ...

    @property
    def iflist(self) -> tuple[str, ...]:
        """The interfaces allowed (empty: every one)."""
        ...

    @property
    def counters(self) -> Counters:
        """A snapshot of the engine's counters (frames sent, retransmits, ...)."""
        ...
