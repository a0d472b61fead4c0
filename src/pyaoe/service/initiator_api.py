"""pyaoe.service.initiator_api: the faces of InitiatorService for users' code.

Initiator (blocking calls), AsyncInitiator (asyncio), and BlockClient, one device as a
thread-safe byte store (what the benchmark's initiator-api rows drive).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from pyaoe.initiator import Counters, DeviceInfo, InitiatorConfig
from pyaoe.initiator.address import as_address
from pyaoe.service.initiator_loop import DeviceRef, InitiatorService, Listener

__all__ = ["Initiator", "AsyncInitiator", "BlockClient", "open_block_client"]

T = TypeVar("T")


class _Facade:
    """What both facades pass straight to their service."""

    def __init__(self, config: InitiatorConfig | None = None, **service_options: Any) -> None:
        self.service = InitiatorService(config, **service_options)

    def discover(self) -> None:
        self.service.discover()

    def add_listener(self, callback: Listener) -> None:
        self.service.add_listener(callback)

    @property
    def counters(self) -> Counters:
        return self.service.counters


class Initiator(_Facade):
    """The initiator with blocking calls: ``with Initiator(config) as ini: ini.read(...)``.

    Every call may be made from any thread; I/O calls block until the request is done and
    raise its exception (OSError with errno EIO, ValueError for a range outside the device).
    """

    def start(self) -> Initiator:
        self.service.start()
        return self

    def stop(self) -> None:
        self.service.stop()

    def __enter__(self) -> Initiator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def read(self, name: DeviceRef, offset: int, length: int, timeout: float | None = None) -> bytes:
        return self.service.read(name, offset, length).result(timeout)

    def read_into(self, name: DeviceRef, offset: int, buffer: Any, timeout: float | None = None) -> int:
        return self.service.read_into(name, offset, buffer).result(timeout)

    def write(
        self, name: DeviceRef, offset: int, data: bytes | bytearray | memoryview, timeout: float | None = None
    ) -> None:
        self.service.write(name, offset, data).result(timeout)

    def flush_cache(self, name: DeviceRef, timeout: float | None = None) -> None:
        self.service.flush_cache(name).result(timeout)

    def wait_for_device(self, name: DeviceRef, timeout: float) -> DeviceInfo:
        return self.service.wait_for_device(name, timeout)

    def devices(self) -> list[DeviceInfo]:
        return self.service.devices()

    def device_info(self, name: DeviceRef) -> DeviceInfo:
        return self.service.device_info(name)


class AsyncInitiator(_Facade):
    """The initiator for asyncio: ``async with AsyncInitiator(config) as ini: await ini.read(...)``.

    Requests are the service's futures wrapped for the running loop; any number may be awaited
    at once (asyncio.gather) and they are in flight together.
    """

    async def start(self) -> AsyncInitiator:
        self.service.start()
        return self

    async def stop(self) -> None:
        # Joining the I/O thread takes a moment: not on the event loop's thread.
        await asyncio.get_running_loop().run_in_executor(None, self.service.stop)

    async def __aenter__(self) -> AsyncInitiator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def read(self, name: DeviceRef, offset: int, length: int) -> bytes:
        return await asyncio.wrap_future(self.service.read(name, offset, length))

    async def read_into(self, name: DeviceRef, offset: int, buffer: Any) -> int:
        return await asyncio.wrap_future(self.service.read_into(name, offset, buffer))

    async def write(self, name: DeviceRef, offset: int, data: bytes | bytearray | memoryview) -> None:
        await asyncio.wrap_future(self.service.write(name, offset, data))

    async def flush_cache(self, name: DeviceRef) -> None:
        await asyncio.wrap_future(self.service.flush_cache(name))

    async def wait_for_device(self, name: DeviceRef, timeout: float) -> DeviceInfo:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.service.wait_for_device, name, timeout)

    async def devices(self) -> list[DeviceInfo]:
        return await asyncio.get_running_loop().run_in_executor(None, self.service.devices)

    async def device_info(self, name: DeviceRef) -> DeviceInfo:
        return await asyncio.get_running_loop().run_in_executor(None, self.service.device_info, name)


class BlockClient:
    """One AoE device as a thread-safe byte store: ``size``, read(), write(), close().

    It runs its own InitiatorService; several threads calling at once keep that many
    requests in flight.
    """

    def __init__(self, service: InitiatorService, name: DeviceRef, info: DeviceInfo) -> None:
        self.service = service
        self.name = as_address(name).name
        self.size = info.sectors * 512

    def read(self, offset: int, length: int) -> bytes:
        return self.service.read(self.name, offset, length).result()

    def read_into(self, offset: int, buffer: Any) -> int:
        return self.service.read_into(self.name, offset, buffer).result()

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        self.service.write(self.name, offset, data).result()

    def flush(self) -> None:
        self.service.flush_cache(self.name).result()

    def submit_read(self, offset: int, length: int) -> Future[bytes]:
        """read() without waiting: a future of the bytes."""
        return self.service.read(self.name, offset, length)

    def submit_write(self, offset: int, data: bytes | bytearray | memoryview) -> Future[None]:
        """write() without waiting: a future, done when every frame was acknowledged."""
        return self.service.write(self.name, offset, data)

    @property
    def retransmits(self) -> int:
        return self.service.counters.retransmits

    def close(self) -> None:
        self.service.stop()

    def __enter__(self) -> BlockClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_block_client(
    iflist: Iterable[str] | str = (),
    shelf: int = 0,
    slot: int = 0,
    timeout: float = 10.0,
    config: InitiatorConfig | None = None,
) -> BlockClient:
    """A BlockClient of device e``shelf``.``slot`` through the interfaces of ``iflist``, once
    the device is up (TimeoutError after ``timeout`` seconds)."""
    base = config if config is not None else InitiatorConfig()
    names = tuple(iflist.replace(",", " ").split()) if isinstance(iflist, str) else tuple(iflist)
    service = InitiatorService(dataclasses.replace(base, iflist=names or base.iflist))
    service.start()
    try:
        info = service.wait_for_device((shelf, slot), timeout)
    except BaseException:
        service.stop()
        raise
    return BlockClient(service, (shelf, slot), info)
