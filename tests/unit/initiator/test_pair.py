"""The initiator engine against real target engines over a lossy in-memory wire, in fake time."""

from __future__ import annotations

import random

import pytest

from pyaoe.initiator import (
    DeviceDown,
    DeviceUp,
    Diagnostic,
    DiagnosticKind,
    InitiatorConfig,
    RequestDone,
    RequestError,
    RequestFailed,
)
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target import Export, ExportConfig, TargetEngine
from pyaoe.testing import INITIATOR_MAC, EnginePair, FakeClock, LossyWire, engine_pair

MAC_A = bytes.fromhex("0200000000a1")
MAC_B = bytes.fromhex("0200000000b1")
SIZE = 512 * 1024


def target(backend: MemoryBackend, mac: bytes = MAC_A, mtu: int = 1500, bufcnt: int = 16) -> TargetEngine:
    return TargetEngine(
        mac=mac, mtu=mtu, exports=[Export(ExportConfig(shelf=1, slot=0, bufcnt=bufcnt), backend)]
    )


def lossy(seed: int) -> LossyWire:
    # Delays are kept shorter than a round trip so that a duplicate cannot overtake a later
    # request to the same sectors (no initiator can guard against that; see the fence).
    return LossyWire(
        seed=seed, loss=0.10, duplicate=0.05, reorder=0.10, delay=0.0005, jitter=0.0002, reorder_delay=0.0004
    )


def random_workload(pair: EnginePair, backend: MemoryBackend, seed: int, rounds: int) -> int:
    """Batches of concurrent reads and writes of random size and alignment, checked against a model.

    Overlapping requests run in submission order, so a read sees exactly the writes
    submitted before it.
    """
    rng = random.Random(seed)
    model = bytearray(backend.buffer)
    initiator = pair.initiator
    done = 0
    for _ in range(rounds):
        expected: dict[int, bytes | None] = {}
        for _ in range(rng.randint(1, 8)):
            offset = rng.randrange(SIZE)
            length = rng.randint(1, min(24 * 1024, SIZE - offset))
            if rng.random() < 0.5:
                data = rng.randbytes(length)
                expected[initiator.submit_write("e1.0", offset, data)] = None
                model[offset : offset + length] = data
            else:
                rid = initiator.submit_read("e1.0", offset, length)
                expected[rid] = bytes(model[offset : offset + length])
        for rid, want in expected.items():
            event = pair.result(rid)
            assert isinstance(event, RequestDone), event
            if want is not None:
                assert event.data == want
            done += 1
    assert backend.buffer == model
    return done


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_io_over_a_lossy_wire_matches_a_model(seed: int) -> None:
    backend = MemoryBackend(SIZE)
    pair = engine_pair([target(backend)], config=InitiatorConfig(discover_interval=1.0), wire=lossy(seed))
    pair.wait_up("e1.0")
    assert random_workload(pair, backend, seed, rounds=25) > 25
    stats = pair.wire.stats
    assert stats.lost and stats.duplicated and stats.reordered
    assert pair.initiator.counters.retransmits > 0


def test_random_io_through_two_targets_and_two_interfaces_matches_a_model() -> None:
    backend = MemoryBackend(SIZE)
    pair = engine_pair(
        [target(backend, MAC_A), target(backend, MAC_B)],
        config=InitiatorConfig(discover_interval=1.0),
        interfaces={"eth0": (INITIATOR_MAC, 1500), "eth1": (bytes.fromhex("020000000002"), 1500)},
        wire=lossy(7),
    )
    pair.segments["eth1"] = "eth0"  # both local interfaces on one switch with both targets
    pair.run_until(
        lambda: len(pair.initiator.devices()[0].targets) == 2 if pair.initiator.devices() else False
    )
    pair.wait_up("e1.0")
    # Both targets on both interfaces before the work starts (a lost config answer is asked
    # again at the next discovery, and the work may take less time than that).
    pair.run_until(lambda: all(len(t.interfaces) == 2 for t in pair.initiator.devices()[0].targets))
    random_workload(pair, backend, 7, rounds=20)
    (info,) = pair.initiator.devices()
    assert info.netif == "eth0,eth1"
    assert all(t.reads and t.writes for t in info.targets)  # both targets carried traffic
    assert all(len(t.interfaces) == 2 for t in info.targets)


def test_jumbo_frames_carry_seventeen_sectors() -> None:
    backend = MemoryBackend(SIZE)
    pair = engine_pair(
        [target(backend, mtu=9000)],
        interfaces={"eth0": (INITIATOR_MAC, 9000)},
        wire=LossyWire(delay=0.0001),
    )
    pair.wait_up("e1.0")
    assert pair.initiator.devices()[0].payload == 8704
    data = random.Random(5).randbytes(100_000)
    pair.write("e1.0", 12345, data)
    assert pair.read("e1.0", 12345, len(data)) == data
    assert pair.wire.stats.sent < 2 * (2 + 3 + 2 * (100_000 // 8704 + 2))


def test_write_is_reported_done_only_after_every_frame_reached_the_target() -> None:
    backend = MemoryBackend(SIZE)
    pair = engine_pair([target(backend)], wire=lossy(11))
    pair.wait_up("e1.0")
    data = random.Random(11).randbytes(256 * 1024)
    rid = pair.initiator.submit_write("e1.0", 4096, data)

    def finished() -> bool:
        """Checked after every step: once the write is reported done, all of it is stored."""
        done = any(isinstance(e, RequestDone) and e.request_id == rid for e in pair.events)
        if done:
            assert backend.buffer[4096 : 4096 + len(data)] == data
        return done

    pair.run_until(finished)
    assert pair.initiator.counters.retransmits > 0


def test_failover_to_the_second_target_when_the_first_dies() -> None:
    backend = MemoryBackend(SIZE)
    pair = engine_pair(
        [target(backend, MAC_A), target(backend, MAC_B)],
        config=InitiatorConfig(discover_interval=0.5, deadsecs=180),
        wire=LossyWire(seed=3, delay=0.0005, jitter=0.0002),
    )
    pair.run_until(lambda: bool(pair.initiator.devices()) and len(pair.initiator.devices()[0].targets) == 2)
    pair.wait_up("e1.0")
    rng = random.Random(3)
    data = rng.randbytes(64 * 1024)
    pair.write("e1.0", 0, data)
    pair.set_alive(0, False)
    start = pair.clock.now
    # Requests keep working: frames the dead target holds move to the live one.
    for i in range(5):
        chunk = rng.randbytes(32 * 1024)
        pair.write("e1.0", 65536 + i * 32768, chunk)
        assert pair.read("e1.0", 65536 + i * 32768, len(chunk)) == chunk
    assert pair.read("e1.0", 0, len(data)) == data
    assert pair.clock.now - start < 15.0  # scorn after 10 s, then the other target
    assert not pair.events_of(RequestFailed)
    (info,) = pair.initiator.devices()
    assert info.state == "up"
    dead = next(t for t in info.targets if t.mac == MAC_A)
    assert dead.taint > 0
    retransmits = [e for e in pair.events_of(Diagnostic) if e.kind is DiagnosticKind.RETRANSMIT]
    assert any("d=0200000000a1" in e.text for e in retransmits)
    # The first target comes back: probes clear its taint and it carries frames again.
    pair.set_alive(0, True)
    pair.run_until(lambda: all(t.taint == 0 for t in pair.initiator.devices()[0].targets), timeout=120)
    reads_before = next(t.reads for t in pair.initiator.devices()[0].targets if t.mac == MAC_A)
    pair.read("e1.0", 0, 64 * 1024)
    assert next(t.reads for t in pair.initiator.devices()[0].targets if t.mac == MAC_A) > reads_before


def test_device_goes_down_after_deadsecs_and_up_when_the_target_answers_again() -> None:
    backend = MemoryBackend(SIZE)
    pair = engine_pair(
        [target(backend)],
        config=InitiatorConfig(deadsecs=10, discover_interval=5.0),
        wire=LossyWire(seed=4, delay=0.0005),
        clock=FakeClock(1000.0),
    )
    pair.wait_up("e1.0")
    pair.write("e1.0", 0, b"before" * 100)
    pair.set_alive(0, False)
    start = pair.clock.now
    read = pair.initiator.submit_read("e1.0", 0, 600)
    write = pair.initiator.submit_write("e1.0", 8192, b"w" * 5000)
    failed_read = pair.result(read)
    failed_write = pair.result(write)
    assert isinstance(failed_read, RequestFailed) and isinstance(failed_write, RequestFailed)
    assert {failed_read.error, failed_write.error} <= {RequestError.TIMEOUT, RequestError.DEVICE_DOWN}
    assert 10.0 <= pair.clock.now - start < 12.0
    assert pair.events_of(DeviceDown) and pair.initiator.devices()[0].state == "down"
    # The periodic discovery finds it again once it answers, and it is identified: up.
    pair.set_alive(0, True)
    pair.wait_up("e1.0", timeout=10.0)
    assert len(pair.events_of(DeviceUp)) == 2
    assert pair.read("e1.0", 0, 600) == b"before" * 100


def test_a_target_that_announces_itself_is_found_without_a_query() -> None:
    backend = MemoryBackend(SIZE)
    pair = engine_pair(
        [target(backend)],
        config=InitiatorConfig(discover_at_start=False, discover_interval=0),
        wire=LossyWire(delay=0.0005),
    )
    pair.run_for(5.0)
    assert pair.initiator.devices() == []
    pair.announce(0)
    pair.wait_up("e1.0", timeout=1.0)


def test_aoe_error_reply_fails_the_request_at_once() -> None:
    backend = MemoryBackend(SIZE)
    engine = target(backend)
    pair = engine_pair([engine], wire=LossyWire(delay=0.0005))
    pair.wait_up("e1.0")
    engine.exports[0].state.reserve_list = [bytes.fromhex("02000000cccc")]  # reserved by another host
    start = pair.clock.now
    event = pair.result(pair.initiator.submit_write("e1.0", 0, b"x" * 4096))
    assert isinstance(event, RequestFailed)
    assert (event.error, event.aoe_error) == (RequestError.AOE_ERROR, 6)
    assert "target is reserved" in event.message
    assert pair.clock.now - start < 0.01  # no retransmission, no deadsecs wait
    assert backend.buffer[:4096] == bytes(4096)


def test_flush_reaches_the_backend() -> None:
    backend = MemoryBackend(SIZE)
    pair = engine_pair([target(backend)], wire=LossyWire(delay=0.0005))
    pair.wait_up("e1.0")
    pair.write("e1.0", 0, b"data" * 1000)
    event = pair.result(pair.initiator.submit_flush("e1.0"))
    assert isinstance(event, RequestDone)
    assert backend.flushes == 1
