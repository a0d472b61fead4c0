"""pyaoe.service.initiator.faces: Initiator (blocking), AsyncInitiator (asyncio) and BlockClient
(one device), each method derived from an operation of InitiatorLike by one generic wrapper.

A face holds an InitiatorService as ``service``; ``waits(InitiatorLike.read)`` is a method that
calls the service's read and waits for its future, ``awaits`` the same for asyncio, ``in_thread``
runs a blocking call in the loop's executor, ``direct`` passes a call straight through, and ``on_device``
/ ``submit_on_device`` fill in BlockClient's device name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from pyaoe.initiator import Counters, DeviceInfo, InitiatorConfig, parse_iflist
from pyaoe.initiator.address import as_address
from pyaoe.service.initiator.operations import DeviceRef, InitiatorLike
from pyaoe.service.initiator.service import InitiatorService

__all__ = [
    "Initiator",
    "AsyncInitiator",
    "BlockClient",
    "open_block_client",
    "waits",
    "awaits",
    "in_thread",
    "direct",
    "on_device",
    "submit_on_device",
]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


# -- the wrapper -----------------------------------------------------------------------------------
def _like(method: F, op: Callable[..., Any], drop: int = 0, *, result: bool = False) -> F:
    """``method`` named and documented as ``op``, with op's signature (what help() and inspect
    show) less its first ``drop`` parameters after self, returning the future's result type
    when ``result``."""
    method.__name__ = method.__qualname__ = op.__name__
    method.__doc__ = op.__doc__
    signature = inspect.signature(op)
    params = list(signature.parameters.values())
    returns = signature.return_annotation
    if result and isinstance(returns, str) and returns.startswith("Future[") and returns.endswith("]"):
        returns = returns[len("Future[") : -1]
    method.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [params[0], *params[1 + drop :]], return_annotation=returns
    )
    return method


def waits(op: Callable[Concatenate[InitiatorLike, P], Future[R]]) -> Callable[Concatenate[Any, P], R]:
    """A request that blocks until done: its result, or its exception raised."""
    name = op.__name__

    def method(face: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        future: Future[R] = getattr(face.service, name)(*args, **kwargs)
        return future.result()

    return _like(method, op, result=True)


def awaits(
    op: Callable[Concatenate[InitiatorLike, P], Future[R]],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
    """A request for asyncio: submitted at the call, awaited on the running loop."""
    name = op.__name__

    async def method(face: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        future: Future[R] = getattr(face.service, name)(*args, **kwargs)
        return await asyncio.wrap_future(future)

    return _like(method, op, result=True)


def in_thread(
    op: Callable[Concatenate[InitiatorLike, P], R],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
    """A call that blocks, for asyncio: run in the loop's default executor, not on its thread."""
    name = op.__name__

    async def method(face: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        call: Callable[[], R] = lambda: getattr(face.service, name)(*args, **kwargs)  # noqa: E731
        return await asyncio.get_running_loop().run_in_executor(None, call)

    return _like(method, op)


def direct(op: Callable[Concatenate[InitiatorLike, P], R]) -> Callable[Concatenate[Any, P], R]:
    """A call passed straight to the service."""
    name = op.__name__

    def method(face: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = getattr(face.service, name)(*args, **kwargs)
        return result

    return _like(method, op)


def on_device(
    op: Callable[Concatenate[InitiatorLike, DeviceRef, P], Future[R]],
) -> Callable[Concatenate[Any, P], R]:
    """A request on the face's own device (``face.name``) that blocks until done."""
    name = op.__name__

    def method(face: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        future: Future[R] = getattr(face.service, name)(face.name, *args, **kwargs)
        return future.result()

    return _like(method, op, 1, result=True)


def submit_on_device(
    op: Callable[Concatenate[InitiatorLike, DeviceRef, P], Future[R]],
) -> Callable[Concatenate[Any, P], Future[R]]:
    """A request on the face's own device, without waiting: its future."""
    name = op.__name__

    def method(face: Any, /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = getattr(face.service, name)(face.name, *args, **kwargs)
        return future

    return _like(method, op, 1)


# -- the faces -------------------------------------------------------------------------------------
class _Face:
    """What every face holds: its own InitiatorService."""

    def __init__(self, config: InitiatorConfig | None = None, **service_options: Any) -> None:
        self.service = InitiatorService(config, **service_options)

    @property
    def counters(self) -> Counters:
        return self.service.counters

    @property
    def config(self) -> InitiatorConfig:
        return self.service.config

    @property
    def iflist(self) -> tuple[str, ...]:
        return self.service.iflist

    discover = direct(InitiatorLike.discover)
    add_listener = direct(InitiatorLike.add_listener)


class Initiator(_Face):
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

    read = waits(InitiatorLike.read)
    read_into = waits(InitiatorLike.read_into)
    write = waits(InitiatorLike.write)
    flush_cache = waits(InitiatorLike.flush_cache)
    revalidate = direct(InitiatorLike.revalidate)
    flush_devices = direct(InitiatorLike.flush_devices)
    set_iflist = direct(InitiatorLike.set_iflist)
    open_device = direct(InitiatorLike.open_device)
    close_device = direct(InitiatorLike.close_device)
    devices = direct(InitiatorLike.devices)
    device_info = direct(InitiatorLike.device_info)
    wait_for_device = direct(InitiatorLike.wait_for_device)


class AsyncInitiator(_Face):
    """The initiator for asyncio: ``async with AsyncInitiator(config) as ini: await ini.read(...)``.

    Requests are the service's futures wrapped for the running loop; any number may be awaited
    at once (asyncio.gather) and they are in flight together. Calls that wait for the I/O thread
    run in the loop's executor.
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

    read = awaits(InitiatorLike.read)
    read_into = awaits(InitiatorLike.read_into)
    write = awaits(InitiatorLike.write)
    flush_cache = awaits(InitiatorLike.flush_cache)
    revalidate = in_thread(InitiatorLike.revalidate)
    flush_devices = in_thread(InitiatorLike.flush_devices)
    set_iflist = in_thread(InitiatorLike.set_iflist)
    open_device = in_thread(InitiatorLike.open_device)
    close_device = in_thread(InitiatorLike.close_device)
    devices = in_thread(InitiatorLike.devices)
    device_info = in_thread(InitiatorLike.device_info)
    wait_for_device = in_thread(InitiatorLike.wait_for_device)


class BlockClient:
    """One AoE device as a thread-safe byte store: ``size``, read(), write(), flush(), close().

    It runs its own InitiatorService; several threads calling at once keep that many requests
    in flight, and submit_read()/submit_write() return futures without waiting.
    """

    def __init__(self, service: InitiatorService, name: DeviceRef, info: DeviceInfo) -> None:
        self.service = service
        self.name = as_address(name).name
        self.size = info.sectors * 512

    read = on_device(InitiatorLike.read)
    read_into = on_device(InitiatorLike.read_into)
    write = on_device(InitiatorLike.write)
    flush = on_device(InitiatorLike.flush_cache)
    submit_read = submit_on_device(InitiatorLike.read)
    submit_write = submit_on_device(InitiatorLike.write)

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
    names = parse_iflist(iflist)
    service = InitiatorService(dataclasses.replace(base, iflist=names or base.iflist))
    service.start()
    try:
        info = service.wait_for_device((shelf, slot), timeout)
    except BaseException:
        service.stop()
        raise
    return BlockClient(service, (shelf, slot), info)
