"""The initiator's one list of operations (InitiatorLike) and what is derived from it: the service
and the tests' fake implement every operation with the same parameters, and Initiator,
AsyncInitiator and BlockClient offer each one, with results, errors and signatures intact."""

from __future__ import annotations

import asyncio
import errno
import inspect
import threading

import pytest

from pyaoe.errors import DeviceUnavailable
from pyaoe.service.initiator import AsyncInitiator, BlockClient, Initiator, InitiatorLike, InitiatorService
from support.fake_initiator import FakeInitiator

OPERATIONS = sorted(name for name in vars(InitiatorLike) if not name.startswith("_"))
PROPERTIES = sorted(name for name in OPERATIONS if isinstance(vars(InitiatorLike)[name], property))
METHODS = sorted(set(OPERATIONS) - set(PROPERTIES))
REQUESTS = ("read", "read_into", "write", "flush_cache")


def parameters(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_the_list_has_every_kind() -> None:
    assert set(REQUESTS) <= set(METHODS)
    assert {"discover", "wait_for_device", "devices"} <= set(METHODS)
    assert PROPERTIES == ["config", "counters", "iflist"]


@pytest.mark.parametrize("implementation", [InitiatorService, FakeInitiator])
def test_every_operation_is_implemented_with_the_same_parameters(implementation: type) -> None:
    for name in METHODS:
        assert parameters(getattr(implementation, name)) == parameters(getattr(InitiatorLike, name)), name
    for name in PROPERTIES:
        assert name in dir(implementation), name


@pytest.mark.parametrize("face", [Initiator, AsyncInitiator])
def test_the_faces_offer_every_operation_with_its_signature_and_doc(face: type) -> None:
    for name in METHODS:
        method = getattr(face, name)
        assert parameters(method) == parameters(getattr(InitiatorLike, name)), name
        assert method.__doc__ == getattr(InitiatorLike, name).__doc__
    for name in PROPERTIES:
        assert isinstance(getattr(face, name), property), name


def test_the_block_client_fills_in_its_device() -> None:
    assert parameters(BlockClient.read) == ["self", "offset", "length"]
    assert parameters(BlockClient.write) == ["self", "offset", "data"]
    assert parameters(BlockClient.flush) == ["self"]
    assert parameters(BlockClient.submit_read) == ["self", "offset", "length"]


def test_help_shows_what_each_face_returns() -> None:
    returns = {
        face: inspect.signature(method).return_annotation
        for face, method in [
            ("Initiator", Initiator.read),
            ("AsyncInitiator", AsyncInitiator.read),
            ("BlockClient", BlockClient.read),
            ("BlockClient submit", BlockClient.submit_read),
        ]
    }
    assert returns == {
        "Initiator": "bytes",
        "AsyncInitiator": "bytes",
        "BlockClient": "bytes",
        "BlockClient submit": "Future[bytes]",
    }
    assert inspect.iscoroutinefunction(AsyncInitiator.read)
    assert inspect.iscoroutinefunction(AsyncInitiator.devices)
    assert not inspect.iscoroutinefunction(AsyncInitiator.discover)


def over(face: type, fake: FakeInitiator) -> Initiator | AsyncInitiator:
    made = object.__new__(face)
    made.service = fake
    return made  # type: ignore[no-any-return]


@pytest.fixture
def fake() -> FakeInitiator:
    ini = FakeInitiator()
    ini.add_device("e1.2", 64 * 1024, data=bytes(range(256)) * 256)
    yield ini
    ini.close()


def test_the_blocking_face_waits_for_results_and_raises_errors(fake: FakeInitiator) -> None:
    ini = over(Initiator, fake)
    assert isinstance(ini, Initiator)
    assert ini.read("e1.2", 1, 3) == b"\x01\x02\x03"
    assert ini.write("e1.2", 0, b"hello") is None
    buffer = bytearray(5)
    assert ini.read_into("e1.2", 0, buffer) == 5 and buffer == b"hello"
    assert [d.name for d in ini.devices()] == ["e1.2"]
    assert ini.wait_for_device("e1.2", 1).sectors == 128
    ini.discover()
    assert fake.calls[-1] == ("discover", None)
    with pytest.raises(ValueError, match="outside"):
        ini.read("e1.2", 64 * 1024, 1)
    fake.take_down("e1.2")
    with pytest.raises(DeviceUnavailable) as failure:
        ini.write("e1.2", 0, b"x")
    assert failure.value.errno == errno.EIO


def test_the_async_face_runs_requests_together_and_calls_off_the_loop(fake: FakeInitiator) -> None:
    ini = over(AsyncInitiator, fake)
    assert isinstance(ini, AsyncInitiator)
    loop_threads: list[threading.Thread] = []
    call_threads: list[threading.Thread] = []
    original = fake.devices

    def devices():  # type: ignore[no-untyped-def]
        call_threads.append(threading.current_thread())
        return original()

    fake.devices = devices  # type: ignore[method-assign]

    async def main() -> list[bytes]:
        loop_threads.append(threading.current_thread())
        fake.gate.clear()  # every request waits: all are in flight at once
        reads = [asyncio.ensure_future(ini.read("e1.2", i, 2)) for i in range(4)]
        await asyncio.sleep(0)
        assert not any(r.done() for r in reads)
        fake.gate.set()
        results = await asyncio.gather(*reads)
        assert [d.name for d in await ini.devices()] == ["e1.2"]
        with pytest.raises(ValueError):
            await ini.write("e1.2", 64 * 1024, b"x")
        return results

    assert asyncio.run(main()) == [bytes([i, i + 1]) for i in range(4)]
    assert call_threads and call_threads[0] is not loop_threads[0]


def test_the_block_client_reads_writes_and_submits_on_its_device(fake: FakeInitiator) -> None:
    client = BlockClient(fake, "e1.2", fake.device_info("e1.2"))  # type: ignore[arg-type]
    assert (client.name, client.size) == ("e1.2", 64 * 1024)
    client.write(10, b"abc")
    assert client.read(10, 3) == b"abc"
    assert client.submit_read(11, 2).result() == b"bc"
    client.submit_write(0, b"zz").result()
    client.flush()
    assert fake.backend("e1.2").buffer[:2] == b"zz" and fake.flushes("e1.2") == 1
