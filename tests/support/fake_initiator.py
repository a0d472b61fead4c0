"""A stand-in for pyaoe.service.initiator.InitiatorService over MemoryBackends: every operation of
InitiatorLike (tests/unit/service/test_faces.py checks the list) and the same events, with devices
a test makes, takes down and brings back by hand (no network).

    ini = FakeInitiator()
    ini.add_device("e1.2", 8 << 20)        # DeviceUp to the listeners
    ini.take_down("e1.2")                 # err line + DeviceDown; open devices show down,closewait
    ini.backend("e1.2").buffer            # what was written
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from pyaoe.errors import DeviceUnavailable
from pyaoe.initiator import (
    Counters,
    DeviceChanged,
    DeviceDown,
    DeviceInfo,
    DeviceRemoved,
    DeviceUp,
    Diagnostic,
    DiagnosticKind,
    InitiatorConfig,
    InitiatorEvent,
    parse_device_name,
    parse_iflist,
)
from pyaoe.storage.memory import MemoryBackend

__all__ = ["FakeInitiator"]


@dataclass
class _Device:
    name: str
    backend: MemoryBackend
    minor: int
    up: bool = True
    open_count: int = 0
    firmware_version: int = 0x4019
    mac: str = "020000000001"
    netif: str = "veth0"
    payload: int = 1024
    flushes: int = 0
    writes: list[tuple[int, int]] = field(default_factory=list)
    #: Stands for the IDENTIFY answer: a new object each time the device answers one.
    identify: object = field(default_factory=object)


class FakeInitiator:
    def __init__(self, config: InitiatorConfig | None = None) -> None:
        self._config = config or InitiatorConfig()
        self._iflist = self._config.iflist
        self._lock = threading.Lock()
        self._devices: dict[str, _Device] = {}
        self._listeners: list[Callable[[InitiatorEvent], None]] = []
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="fake-initiator")
        self._next_minor = 0
        #: discover/revalidate/flush/set_iflist calls, in order.
        self.calls: list[tuple[str, Any]] = []
        #: While set, requests wait for it (to hold a read or write in flight).
        self.gate = threading.Event()
        self.gate.set()

    # -- what tests do -------------------------------------------------------------------------
    def add_device(self, name: str, size: int, data: bytes | None = None) -> None:
        with self._lock:
            minor = self._next_minor
            self._next_minor += 16
            self._devices[name] = _Device(name, MemoryBackend(size, data=data), minor)
        self._emit(Diagnostic(DiagnosticKind.DEVICE_UP, f"aoe: {name} up", parse_device_name(name)))
        self._emit(DeviceUp(parse_device_name(name), size // 512))

    def take_down(self, name: str) -> None:
        with self._lock:
            self._devices[name].up = False
        address = parse_device_name(name)
        self._emit(Diagnostic(DiagnosticKind.DEVICE_DOWN, f"aoe: {name} down: target gone", address))
        self._emit(DeviceDown(address, "target gone"))

    def resize(self, name: str, size: int) -> None:
        with self._lock:
            dev = self._devices[name]
            dev.backend = MemoryBackend(size, data=bytes(dev.backend.buffer[:size]).ljust(size, b"\0"))
        self._emit(DeviceChanged(parse_device_name(name), size // 512, dev.payload, "size"))

    def backend(self, name: str) -> MemoryBackend:
        return self._devices[name].backend

    def flushes(self, name: str) -> int:
        return self._devices[name].flushes

    def open_count(self, name: str) -> int:
        return self._devices[name].open_count

    def close(self) -> None:
        self.gate.set()
        self._pool.shutdown(wait=True)

    # -- the service's contract ----------------------------------------------------------------
    @property
    def config(self) -> InitiatorConfig:
        return replace(self._config, iflist=self._iflist)

    @property
    def iflist(self) -> tuple[str, ...]:
        return self._iflist

    @property
    def counters(self) -> Counters:
        return Counters()  # no frames: nothing to count

    def add_listener(self, callback: Callable[[InitiatorEvent], None]) -> None:
        self._listeners.append(callback)

    def _emit(self, event: InitiatorEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _up(self, name: str) -> _Device:
        dev = self._devices.get(name)
        if dev is None or not dev.up:
            raise DeviceUnavailable(f"{name} is not up")
        return dev

    def _run(self, fn: Callable[[], Any]) -> Future[Any]:
        def job() -> Any:
            self.gate.wait()
            return fn()

        return self._pool.submit(job)

    def _read(self, name: str, offset: int, length: int) -> bytes:
        dev = self._up(name)
        if offset < 0 or offset + length > dev.backend.size:
            raise ValueError("outside the device")
        return bytes(dev.backend.buffer[offset : offset + length])

    def read(self, name: str, offset: int, length: int) -> Future[bytes]:
        return self._run(lambda: self._read(name, offset, length))

    def read_into(self, name: str, offset: int, buffer: Any) -> Future[int]:
        view = memoryview(buffer).cast("B")

        def job() -> int:
            view[:] = self._read(name, offset, len(view))
            return len(view)

        return self._run(job)

    def write(self, name: str, offset: int, data: bytes | bytearray | memoryview) -> Future[None]:
        def job() -> None:
            dev = self._up(name)
            if offset < 0 or offset + len(data) > dev.backend.size:
                raise ValueError("outside the device")
            dev.backend.buffer[offset : offset + len(data)] = data
            dev.writes.append((offset, len(data)))

        return self._run(job)

    def flush_cache(self, name: str) -> Future[None]:
        def job() -> None:
            self._up(name).flushes += 1

        return self._run(job)

    def discover(self) -> None:
        self.calls.append(("discover", None))

    def revalidate(self, name: str) -> None:
        if name not in self._devices:
            raise DeviceUnavailable(f"no device {name}")
        self.calls.append(("revalidate", name))
        self._devices[name].identify = object()  # answered at once

    def flush_devices(self, what: str = "") -> list[str]:
        self.calls.append(("flush", what))
        with self._lock:
            if not what.strip():
                chosen = [d for d in self._devices.values() if not d.up and not d.open_count]
            elif what.strip() == "all":
                chosen = [d for d in self._devices.values() if not d.open_count]
            elif what in self._devices:
                chosen = [self._devices[what]]
            else:
                raise DeviceUnavailable(f"no device {what}")
            for d in chosen:
                del self._devices[d.name]
        for d in chosen:
            self._emit(DeviceRemoved(parse_device_name(d.name)))
        return [d.name for d in chosen]

    def set_iflist(self, iflist: str | Iterable[str]) -> None:
        self._iflist = parse_iflist(iflist)
        self.calls.append(("set_iflist", self._iflist))

    def open_device(self, name: str) -> None:
        with self._lock:
            self._up(name).open_count += 1

    def close_device(self, name: str) -> None:
        with self._lock:
            dev = self._devices.get(name)
            if dev is not None:
                dev.open_count -= 1

    def wait_for_device(self, name: str, timeout: float) -> DeviceInfo:
        dev = self._devices.get(name)
        if dev is None or not dev.up:
            raise TimeoutError(f"{name} is not up after {timeout:g} s")  # nothing comes by itself
        return self.device_info(name)

    def devices(self) -> list[DeviceInfo]:
        return [self.device_info(n) for n in list(self._devices)]

    def device_info(self, name: str) -> DeviceInfo:
        dev = self._devices.get(name)
        if dev is None:
            raise DeviceUnavailable(f"no device {name}")
        state = "up" if dev.up else ("down,closewait" if dev.open_count else "down")
        return DeviceInfo(
            address=parse_device_name(name),
            name=name,
            state=state,
            up=dev.up,
            mac=dev.mac,
            netif=dev.netif,
            payload=dev.payload,
            firmware_version=dev.firmware_version,
            sectors=dev.backend.size // 512,
            lba48=True,
            identify=dev.identify,  # type: ignore[arg-type]
            open_count=dev.open_count,
            minor=dev.minor,
            targets=(),
        )
