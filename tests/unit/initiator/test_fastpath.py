"""The fast paths (fastpath.send_data_frames, receive_frame's clean-answer branch) change nothing.

The same seeded run, over a lossy wire and a target whose answers are sometimes damaged, is
made twice: with the fast paths and with the general code only. Every frame sent, every
event, the counters, the device table, and after each frame received the timer, the tags
matched and every target's window, round-trip estimate and counters must come out the same.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from pyaoe.errors import DeviceUnavailable
from pyaoe.initiator import InitiatorConfig, InitiatorEngine, RequestDone, RequestFailed
from pyaoe.initiator import datapath as datapath_module
from pyaoe.initiator.requests import RequestKind
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target import Export, ExportConfig, TargetEngine
from pyaoe.testing import INITIATOR_MAC, EnginePair, FakeClock, LossyWire, engine_pair

MAC_A = bytes.fromhex("0200000000a1")
MAC_B = bytes.fromhex("0200000000b1")
MAC_2 = bytes.fromhex("020000000002")
SIZE = 1 << 20
#: A run that records into a trace and counts general receives.
Scenario = Callable[[list[Any], dict[str, int]], EnginePair]


class DamagingTarget:
    """A target engine whose ATA answers are sometimes damaged, duplicated or cut short."""

    def __init__(self, engine: TargetEngine, seed: int, rate: float) -> None:
        self.engine = engine
        self.mac = engine.mac
        self.rng = random.Random(seed)
        self.rate = rate

    def announcements(self) -> list[bytes]:
        return self.engine.announcements()

    def handle_frame(self, frame: bytes | bytearray | memoryview, now: float) -> list[bytes]:
        out = []
        rng = self.rng
        for reply in self.engine.handle_frame(frame, now):
            r = bytearray(reply)
            if reply[19] == 0 and rng.random() < self.rate:
                damage = rng.randrange(10)
                if damage == 0:
                    r = r[: rng.randrange(14, len(r))]  # cut short (a runt, or no ATA header)
                elif damage == 1:
                    r[14] |= 0x04  # AoE error flag
                    r[15] = rng.randrange(1, 8)
                elif damage == 2:
                    r[27] |= rng.choice([0x01, 0x80, 0x20, 0x08])  # ERR, BSY, DF, DRQ
                elif damage == 3:
                    r[14] = (r[14] & 0x0F) | 0x20  # version 2
                elif damage == 4:
                    r[rng.randrange(6, 12)] ^= 1  # another source MAC
                elif damage == 5:
                    r[0:6] = b"\xff" * 6  # broadcast destination
                elif damage == 6:
                    r[rng.choice([17, 18])] ^= 1  # another shelf or slot
                elif damage == 7:
                    r[23] ^= rng.choice([1, 2, 4])  # another (perhaps live) tag
                elif damage == 8:
                    r[0] ^= 2  # another unicast destination
                else:
                    r += bytes(rng.randrange(1, 600))  # longer than asked for
            out.append(bytes(r))
            if rng.random() < self.rate / 2:
                out.append(bytes(r))
        return out


def target(backend: MemoryBackend, mac: bytes = MAC_A, mtu: int = 1500, bufcnt: int = 32) -> TargetEngine:
    return TargetEngine(
        mac=mac, mtu=mtu, exports=[Export(ExportConfig(shelf=1, slot=0, bufcnt=bufcnt), backend)]
    )


def workload(pair: EnginePair, seed: int, rounds: int) -> None:
    """Batches of concurrent reads (into the engine's buffers or the caller's), writes and
    flushes of any size and alignment."""
    rng = random.Random(seed)
    initiator = pair.initiator
    for _ in range(rounds):
        ids = []
        for _ in range(rng.randint(1, 6)):
            offset = rng.randrange(SIZE)
            length = rng.randint(0, min(96 * 1024, SIZE - offset))
            if rng.random() < 0.4:
                offset -= offset % 512
                length -= length % 512
            choice = rng.random()
            data = rng.randbytes(length)
            try:
                if choice < 0.45:
                    ids.append(initiator.submit_write("e1.0", offset, data, pair.clock.now))
                elif choice < 0.75:
                    ids.append(initiator.submit_read("e1.0", offset, length, pair.clock.now))
                elif choice < 0.95:
                    ids.append(initiator.submit_read_into("e1.0", offset, bytearray(length), pair.clock.now))
                else:
                    ids.append(initiator.submit_flush("e1.0", pair.clock.now))
            except DeviceUnavailable:  # down after deadsecs
                pair.run_for(1.0)
        for rid in ids:
            pair.result(rid, timeout=300)


def recorded_run(scenario: Scenario, fast: bool) -> tuple[list[Any], int]:
    """The scenario's whole trace, and how many frames went through the general receive code."""
    trace: list[Any] = []
    counts = {"general": 0, "received": 0, "sent": 0}
    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(datapath_module, "send_data_frames", lambda dp, request, now: None)
        pair = scenario(trace, counts)
    events = []
    for event in pair.events:
        if isinstance(event, RequestDone) and event.data is not None:
            events.append(("done", event.request_id, bytes(event.data)))
        else:
            events.append(event)
    trace += [events, pair.initiator.counters, pair.initiator.devices(), pair.initiator.get_timer()]
    return trace, counts["general"]


def internal_state(engine: InitiatorEngine) -> list[Any]:
    """Tags still matched, and each target's window, round-trip estimate and counters."""
    dp = engine._dp
    state: list[Any] = [sorted(dp.tags), dp.tag_allocator.next_tag]
    for device in engine._table:
        state.append((device.next_target, [r.outstanding for r in device.active.values()]))
        assert device.active_writes == sum(r.kind is RequestKind.WRITE for r in device.active.values())
        for t in device.targets:
            window, rtt = t.window, t.rtt
            state.append((t.nout, t.taint, dict(t.lost), t.next_if, t.reads, t.writes))
            state.append((window.maxout, window.ssthresh, window.next_cwnd))
            state.append((rtt.srtt, rtt.rttvar, rtt.rto, rtt.samples))
    return state


def instrument(pair: EnginePair, trace: list[Any], counts: dict[str, int], fast: bool) -> None:
    """Record frames sent and the timer after each frame received; route input as told."""
    initiator = pair.initiator
    frames_to_send = initiator.frames_to_send
    receive_one = initiator.receive_frame if fast else initiator._receive_general
    receive_many = initiator.receive_frames
    checked = initiator._receive_checked

    frames_to_send_into = initiator.frames_to_send_into
    send_buffers = [bytearray(9100) for _ in range(3)]

    def sending(now: float) -> list[tuple[str, bytes]]:
        # Grouped by interface (as a driver sends them); the fast run takes them in turn as
        # bytes and through frames_to_send_into() with a few buffers (several calls).
        turn = counts["sent"] % 2
        counts["sent"] += 1
        if not fast or turn == 0:
            out = frames_to_send(now)
            grouped = [(name, frame) for name in initiator.interfaces for n, frame in out if n == name]
            assert len(grouped) == len(out)
        else:
            grouped = []
            for name in initiator.interfaces:
                while True:
                    for buffer in send_buffers:
                        buffer[:] = b"\xa5" * len(buffer)
                    lengths = frames_to_send_into(now, name, send_buffers)
                    grouped += [(name, bytes(send_buffers[i][:n])) for i, n in enumerate(lengths)]
                    if len(lengths) < len(send_buffers):
                        break
            assert frames_to_send(now) == []
        trace.append((now, grouped))
        return grouped

    def receiving(frame: bytes | bytearray | memoryview, ifname: str, now: float) -> None:
        # In a buffer that is reused at once, as the I/O service hands frames over; the fast
        # run takes them in turn through receive_frame, and through receive_frames, in a
        # buffer longer than the frame (with junk after it) or exactly as long.
        buffer = bytearray(frame) + b"\xa5" * (counts["received"] % 3) * 100
        view = memoryview(buffer)
        turn = counts["received"] % 3
        counts["received"] += 1
        if not fast or turn == 0:
            receive_one(view[: len(frame)], ifname, now)
        elif turn == 1:
            receive_many([view], ifname, now, [len(frame)])
        else:
            receive_many([view[: len(frame)]], ifname, now)
        buffer[:] = bytes(len(buffer))
        trace.append((initiator.get_timer(), internal_state(initiator)))

    def general(frame: bytes | bytearray | memoryview, ifname: str, now: float, mac: bytes) -> None:
        counts["general"] += 1
        checked(frame, ifname, now, mac)

    initiator.frames_to_send = sending  # type: ignore[method-assign]
    initiator.receive_frame = receiving  # type: ignore[method-assign]
    initiator._receive_checked = general  # type: ignore[method-assign]


def one_target(
    seed: int,
    mtu: int = 1500,
    config: InitiatorConfig | None = None,
    delay: float = 0.0005,
    jitter: float = 0.0002,
    reorder_delay: float | None = None,
    second_interface: bool = False,
    outage: float = 0.0,
    bufcnt: int = 32,
) -> Callable[[bool], Scenario]:
    def make(fast: bool) -> Scenario:
        def scenario(trace: list[Any], counts: dict[str, int]) -> EnginePair:
            backend = MemoryBackend(SIZE)
            pair = engine_pair(
                [DamagingTarget(target(backend, mtu=mtu, bufcnt=bufcnt), seed, rate=0.04)],  # type: ignore[list-item]
                config=config or InitiatorConfig(discover_interval=1.0),
                interfaces={"eth0": (INITIATOR_MAC, mtu)},
                wire=LossyWire(
                    seed=seed, loss=0.03, duplicate=0.03, reorder=0.05, delay=delay, jitter=jitter
                ),
            )
            instrument(pair, trace, counts, fast)
            pair.wait_up("e1.0")
            workload(pair, seed, rounds=8)
            if outage:
                # Silent for longer than scorn_secs: the only target is tainted, and its
                # answers then lower the taint again.
                pair.set_alive(0, False)
                rid = pair.initiator.submit_read("e1.0", 0, 8192, pair.clock.now)
                pair.run_for(outage)
                pair.set_alive(0, True)
                pair.result(rid)
                workload(pair, seed + 2, rounds=4)
            if second_interface:
                # One frame, most likely sent and answered on the fast paths; then the target
                # is found on a second interface too and frames rotate over both.
                pair.result(pair.initiator.submit_read("e1.0", 0, 1024, pair.clock.now))
                pair.segments["eth1"] = "eth0"
                pair.initiator.update_interfaces({"eth0": (INITIATOR_MAC, mtu), "eth1": (MAC_2, mtu)})
                pair.run_until(lambda: pair.initiator.devices()[0].netif == "eth0,eth1")
                workload(pair, seed + 1, rounds=10)
            trace.append(bytes(backend.buffer))
            return pair

        return scenario

    return make


def two_targets(seed: int) -> Callable[[bool], Scenario]:
    def make(fast: bool) -> Scenario:
        def scenario(trace: list[Any], counts: dict[str, int]) -> EnginePair:
            backend = MemoryBackend(SIZE)
            pair = engine_pair(
                [target(backend, MAC_A), target(backend, MAC_B)],
                config=InitiatorConfig(discover_interval=1.0, deadsecs=20),
                interfaces={"eth0": (INITIATOR_MAC, 1500)},
                wire=LossyWire(seed=seed, loss=0.02, delay=0.0005, jitter=0.0002),
                clock=FakeClock(100.0),
            )
            instrument(pair, trace, counts, fast)
            pair.run_until(
                lambda: bool(pair.initiator.devices()) and len(pair.initiator.devices()[0].targets) == 2
            )
            pair.wait_up("e1.0")
            workload(pair, seed, rounds=3)
            pair.set_alive(0, False)  # failover: frames move to the other target
            workload(pair, seed + 1, rounds=3)
            pair.set_alive(1, False)  # nobody answers: deadsecs
            ids = [pair.initiator.submit_read("e1.0", 0, 100_000, pair.clock.now)]
            results = [pair.result(rid) for rid in ids]
            assert all(isinstance(r, RequestFailed) for r in results)
            trace.append(bytes(backend.buffer))
            return pair

        return scenario

    return make


@pytest.mark.parametrize(
    "scenario",
    [
        one_target(1),
        # A small window: an interface that loses 2 x 4 frames in a row is given up.
        one_target(2, second_interface=True, bufcnt=4),
        one_target(3, mtu=9000),
        # Round trips long enough that the RTO follows them (not held at min_rto).
        one_target(
            5,
            config=InitiatorConfig(min_rto=0.001, initial_rto=0.01),
            delay=0.002,
            jitter=0.002,
            reorder_delay=0.2,
        ),
        # A fixed RTO shorter than some answers take: spurious resends, answers to frames
        # that wait to be sent again.
        one_target(
            8, config=InitiatorConfig(min_rto=0.01, initial_rto=0.01, max_rto=0.01), reorder_delay=0.2
        ),
        one_target(7, outage=15.0),
        # deadsecs shorter than any RTO: it sets every first deadline, and devices go down.
        one_target(6, config=InitiatorConfig(deadsecs=0.5, min_rto=1.0, initial_rto=1.0), delay=0.001),
        two_targets(4),
    ],
    ids=[
        "seed1",
        "second-interface",
        "jumbo",
        "slow-wire",
        "late-answers",
        "tainted",
        "short-deadsecs",
        "failover",
    ],
)
def test_fast_paths_give_the_same_frames_events_and_state_as_the_general_code(
    scenario: Callable[[bool], Scenario],
) -> None:
    general, general_count = recorded_run(scenario(False), fast=False)
    fast, fast_count = recorded_run(scenario(True), fast=True)
    assert fast == general
    # The fast path did carry the answers (most of them), and the general code got the rest.
    assert 0 < fast_count < general_count / 2


def batched_run(seed: int, fast: bool, mtu: int) -> list[Any]:
    """An initiator and a target in lock step: each burst of frames is answered (answers
    damaged, doubled, dropped and shuffled at random) and the answers arrive as one batch."""
    rng = random.Random(seed)
    backend = MemoryBackend(SIZE)
    answerer = DamagingTarget(target(backend, mtu=mtu), seed, rate=0.003)
    config = InitiatorConfig(discover_interval=0, discover_again=())
    initiator = InitiatorEngine(config, {"eth0": (INITIATOR_MAC, mtu)})
    trace: list[Any] = []
    buffers = [memoryview(bytearray(mtu + 100)) for _ in range(200)]
    now = 0.0
    pending: list[int] = []
    for step in range(400):
        if step > 10 and len(pending) < 4 and initiator.devices()[0].up:
            offset = rng.randrange(0, SIZE - 65536, 512)
            size = rng.choice([512, 4096, 16384, 65536])
            if rng.random() < 0.5:
                pending.append(initiator.submit_write("e1.0", offset, rng.randbytes(size), now))
            else:
                pending.append(initiator.submit_read("e1.0", offset, size, now))
        timer = initiator.get_timer()
        if timer is not None and timer <= now:
            initiator.handle_timer(now)
        sent = initiator.frames_to_send(now)
        trace.append(sent)
        answers = [a for _, frame in sent if rng.random() > 0.02 for a in answerer.handle_frame(frame, now)]
        rng.shuffle(answers) if rng.random() < 0.2 else None
        now += 0.001
        if fast:
            for i, answer in enumerate(answers):
                buffers[i][: len(answer)] = answer
                buffers[i][len(answer) :] = b"\xa5" * (len(buffers[i]) - len(answer))
            initiator.receive_frames(buffers, "eth0", now, [len(a) for a in answers])
        else:
            for answer in answers:
                initiator._receive_general(answer, "eth0", now)
        trace.append((initiator.get_timer(), internal_state(initiator)))
        while (event := initiator.next_event()) is not None:
            if isinstance(event, RequestDone | RequestFailed):
                pending.remove(event.request_id)
            trace.append(
                ("done", event.request_id, bytes(event.data))
                if isinstance(event, RequestDone) and event.data
                else event
            )
        now = max(now, min(initiator.get_timer() or now, now + 0.05))
    trace += [initiator.counters, initiator.devices(), bytes(backend.buffer)]
    return trace


@pytest.mark.parametrize("mtu", [1500, 9000])
def test_a_batch_through_receive_frames_does_what_the_frames_one_by_one_do(mtu: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datapath_module, "send_data_frames", lambda dp, request, now: None)
        general = batched_run(8, fast=False, mtu=mtu)
    fast = batched_run(8, fast=True, mtu=mtu)
    assert fast == general
    done = [e for e in fast if isinstance(e, RequestDone) or (isinstance(e, tuple) and e[0] == "done")]
    failed = [e for e in fast if isinstance(e, RequestFailed)]
    assert len(done) > 20 and failed
