"""The engine's books balance after every frame and timer, on a wire that loses, duplicates,
reorders and damages frames: tags, windows, outstanding counts, resend queues and loss counts.

One data path carries every exchange; these runs drive all its branches (damaged, late and
duplicated answers, resends to another target, a second interface, devices going down) and
check, after each step, what each part keeps against what the others keep. The same runs
fed through receive_frames()/frames_to_send_into() give what receive_frame()/frames_to_send() give.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from pyaoe.errors import DeviceUnavailable
from pyaoe.initiator import DeviceDown, InitiatorConfig, InitiatorEngine, RequestDone, RequestFailed
from pyaoe.initiator.device import MAX_TAINT, Target
from pyaoe.initiator.exchange import Exchange, ExchangeKind, ExchangeState
from pyaoe.initiator.requests import RequestKind
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target import Export, ExportConfig, TargetEngine
from pyaoe.testing import INITIATOR_MAC, EnginePair, FakeClock, LossyWire, engine_pair

MAC_A = bytes.fromhex("0200000000a1")
MAC_B = bytes.fromhex("0200000000b1")
MAC_2 = bytes.fromhex("020000000002")
SIZE = 1 << 20
_WAITING = ExchangeState.WAITING
#: A run that records into a trace (and counts frames), one by one or batched.
Scenario = Callable[[list[Any], dict[str, int], bool], EnginePair]


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
                    ids.append(initiator.submit_write("e1.0", offset, data))
                elif choice < 0.75:
                    ids.append(initiator.submit_read("e1.0", offset, length))
                elif choice < 0.95:
                    ids.append(initiator.submit_read_into("e1.0", offset, bytearray(length)))
                else:
                    ids.append(initiator.submit_flush("e1.0"))
            except DeviceUnavailable:  # down after deadsecs
                pair.run_for(1.0)
        for rid in ids:
            pair.result(rid, timeout=300)


def check_books(engine: InitiatorEngine) -> None:
    """What each part of the engine keeps agrees with what the others keep."""
    inflight = engine._inflight
    live = {id(e): e for e in inflight.by_tag.values()}
    for tag, exchange in inflight.by_tag.items():
        assert exchange.state is not ExchangeState.RETIRED
        assert exchange.sent_with(tag) is not None, "a tag maps to an exchange that never carried it"
        assert inflight.by_tag.get(exchange.tag) is exchange, "an exchange's latest tag must match it"
    waiting = {id(e) for work in engine._backlog.works.values() for e in work.rexmit if e.state is _WAITING}
    assert waiting == {i for i, e in live.items() if e.state is _WAITING}, (
        "timed out but not queued to resend"
    )
    for device in engine._table:
        work = engine._backlog.works.get(device)
        if work is not None:
            active = list(work.active.values())
            assert work.active_writes == sum(r.kind is RequestKind.WRITE for r in active)
            for request in active:
                if not request.failed:
                    mine = sum(e.request is request for e in live.values())
                    assert request.outstanding == mine, "outstanding count against exchanges out"
        for t in device.targets:
            in_flight = sum(e.target is t and e.state is ExchangeState.IN_FLIGHT for e in live.values())
            assert t.nout == in_flight, f"nout {t.nout}, {in_flight} exchanges in flight"
            assert 1 <= t.window.maxout <= t.window.nframes and t.window.ssthresh >= 1
            assert t.rtt.min_rto <= t.rtt.rto <= t.rtt.max_rto
            assert t.paths.losses == sum(t.paths.lost.values()) and list(t.paths.lost) == t.ifaces
            assert 0 <= t.taint <= MAX_TAINT
            check_paths(t, live.values())


def check_paths(t: Target, live: Iterable[Exchange]) -> None:
    """Each interface's exchanges out are the target's exchanges in flight on it (probes aside),
    in the order they were sent there: what fast retransmit reads."""
    paths = t.paths
    assert list(paths.outstanding) == t.ifaces
    for ifname, on_path in paths.outstanding.items():
        seqs = [e.pseq for e in on_path]
        assert seqs == sorted(set(seqs)) and all(0 < n <= paths.sent[ifname] for n in seqs)
        for e in on_path:
            assert e.on_path is on_path and e.target is t and e.ifname == ifname
            assert e.state is ExchangeState.IN_FLIGHT and e.kind is not ExchangeKind.PROBE
    for e in live:
        if e.target is t and e.state is ExchangeState.IN_FLIGHT and e.kind is not ExchangeKind.PROBE:
            assert e.ifname not in paths.outstanding or e.on_path is paths.outstanding[e.ifname], (
                "in flight but not in its interface's order"
            )
        elif e.state is not ExchangeState.IN_FLIGHT:
            assert e.on_path is None, "waiting to be resent but still counted out on its interface"


def recorded_run(scenario: Scenario, batched: bool) -> list[Any]:
    """The scenario's whole trace, the engine's books checked after every frame and timer."""
    trace: list[Any] = []
    counts = {"received": 0, "sent": 0}
    pair = scenario(trace, counts, batched)
    events = []
    for event in pair.events:
        if isinstance(event, RequestDone) and event.data is not None:
            events.append(("done", event.request_id, bytes(event.data)))
        else:
            events.append(event)
    trace += [events, pair.initiator.counters, pair.initiator.devices(), pair.initiator.get_timer()]
    return trace


def instrument(pair: EnginePair, trace: list[Any], counts: dict[str, int], batched: bool) -> None:
    """Record frames sent, the timer and the device table after each frame received; check the
    books after each frame and timer. ``batched``: through frames_to_send_into() and
    receive_frames() with buffers longer than the frames, as the I/O service uses them."""
    initiator = pair.initiator
    frames_to_send = initiator.frames_to_send
    frames_to_send_into = initiator.frames_to_send_into
    receive_one = initiator.receive_frame
    receive_many = initiator.receive_frames
    handle_timer = initiator.handle_timer
    send_buffers = [bytearray(9100) for _ in range(3)]

    def sending(now: float) -> list[tuple[str, bytes]]:
        # Grouped by interface (as a driver sends them); batched runs take them in turn as
        # bytes and through frames_to_send_into() with a few buffers (several calls).
        turn = counts["sent"] % 2
        counts["sent"] += 1
        if not batched or turn == 0:
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
        # In a buffer that is reused at once, as the I/O service hands frames over; batched
        # runs take them in turn through receive_frames, in a buffer longer than the frame
        # (junk after it) with its length, or exactly as long.
        buffer = bytearray(frame) + b"\xa5" * (counts["received"] % 3) * 100
        view = memoryview(buffer)
        turn = counts["received"] % 3
        counts["received"] += 1
        if not batched or turn == 0:
            receive_one(bytes(frame), ifname, now)
        elif turn == 1:
            receive_many([view], ifname, now, [len(frame)])
        else:
            receive_many([view[: len(frame)]], ifname, now)
        buffer[:] = bytes(len(buffer))
        check_books(initiator)
        trace.append((initiator.get_timer(), initiator.devices()))

    def timer(now: float) -> None:
        handle_timer(now)
        check_books(initiator)

    initiator.frames_to_send = sending  # type: ignore[method-assign]
    initiator.receive_frame = receiving  # type: ignore[method-assign]
    initiator.handle_timer = timer  # type: ignore[method-assign]


def one_target(
    seed: int,
    mtu: int = 1500,
    config: InitiatorConfig | None = None,
    delay: float = 0.0005,
    jitter: float = 0.0002,
    reorder_delay: float = 0.0,
    second_interface: bool = False,
    outage: float = 0.0,
    bufcnt: int = 32,
) -> Scenario:
    def scenario(trace: list[Any], counts: dict[str, int], batched: bool) -> EnginePair:
        backend = MemoryBackend(SIZE)
        wire = LossyWire(seed=seed, loss=0.03, duplicate=0.03, reorder=0.05, delay=delay, jitter=jitter)
        if reorder_delay:
            wire.reorder_delay = reorder_delay
        pair = engine_pair(
            [DamagingTarget(target(backend, mtu=mtu, bufcnt=bufcnt), seed, rate=0.04)],  # type: ignore[list-item]
            config=config or InitiatorConfig(discover_interval=1.0),
            interfaces={"eth0": (INITIATOR_MAC, mtu)},
            wire=wire,
        )
        instrument(pair, trace, counts, batched)
        pair.wait_up("e1.0")
        workload(pair, seed, rounds=8)
        if outage:
            # Silent for longer than scorn_secs: the only target is tainted, and its
            # answers then lower the taint again.
            pair.set_alive(0, False)
            rid = pair.initiator.submit_read("e1.0", 0, 8192)
            pair.run_for(outage)
            pair.set_alive(0, True)
            pair.result(rid)
            workload(pair, seed + 2, rounds=4)
        if second_interface:
            # The target is found on a second interface too and frames rotate over both.
            pair.result(pair.initiator.submit_read("e1.0", 0, 1024))
            pair.segments["eth1"] = "eth0"
            pair.initiator.update_interfaces({"eth0": (INITIATOR_MAC, mtu), "eth1": (MAC_2, mtu)})
            pair.run_until(lambda: pair.initiator.devices()[0].netif == "eth0,eth1")
            workload(pair, seed + 1, rounds=10)
        trace.append(bytes(backend.buffer))
        return pair

    return scenario


def two_targets(seed: int) -> Scenario:
    def scenario(trace: list[Any], counts: dict[str, int], batched: bool) -> EnginePair:
        backend = MemoryBackend(SIZE)
        pair = engine_pair(
            [target(backend, MAC_A), target(backend, MAC_B)],
            config=InitiatorConfig(discover_interval=1.0, deadsecs=20),
            interfaces={"eth0": (INITIATOR_MAC, 1500)},
            wire=LossyWire(seed=seed, loss=0.02, delay=0.0005, jitter=0.0002),
            clock=FakeClock(100.0),
        )
        instrument(pair, trace, counts, batched)
        pair.run_until(
            lambda: bool(pair.initiator.devices()) and len(pair.initiator.devices()[0].targets) == 2
        )
        pair.wait_up("e1.0")
        workload(pair, seed, rounds=3)
        pair.set_alive(0, False)  # failover: frames move to the other target
        workload(pair, seed + 1, rounds=3)
        pair.set_alive(1, False)  # nobody answers: deadsecs
        assert isinstance(pair.result(pair.initiator.submit_read("e1.0", 0, 100_000)), RequestFailed)
        trace.append(bytes(backend.buffer))
        return pair

    return scenario


SCENARIOS = {
    "seed1": one_target(1),
    # A small window: an interface that loses 2 x 4 frames in a row is given up.
    "second-interface": one_target(2, second_interface=True, bufcnt=4),
    "jumbo": one_target(3, mtu=9000),
    # Round trips long enough that the RTO follows them (not held at min_rto).
    "slow-wire": one_target(
        5,
        config=InitiatorConfig(min_rto=0.001, initial_rto=0.01),
        delay=0.002,
        jitter=0.002,
        reorder_delay=0.2,
    ),
    # A fixed RTO shorter than some answers take: spurious resends, answers to exchanges that
    # wait to be sent again, answers to older tags.
    "late-answers": one_target(
        8, config=InitiatorConfig(min_rto=0.01, initial_rto=0.01, max_rto=0.01), reorder_delay=0.2
    ),
    "tainted": one_target(7, outage=15.0),
    # deadsecs shorter than any RTO: it sets every first deadline, and devices go down (no
    # fast retransmit: nothing may be resent at all).
    "short-deadsecs": one_target(
        6,
        config=InitiatorConfig(deadsecs=0.5, min_rto=1.0, initial_rto=1.0, fast_retransmit=0),
        delay=0.001,
    ),
    # Only timeouts resend, as in the driver.
    "timer-only": one_target(9, config=InitiatorConfig(discover_interval=1.0, fast_retransmit=0)),
    "failover": two_targets(4),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_books_balance_after_every_frame_and_batches_change_nothing(name: str) -> None:
    scenario = SCENARIOS[name]
    one_by_one = recorded_run(scenario, batched=False)
    batched = recorded_run(scenario, batched=True)
    assert batched == one_by_one
    events, counters = one_by_one[-4], one_by_one[-3]
    assert counters.frames_received > 100
    if name == "short-deadsecs":  # every exchange gives up before its first timeout
        assert counters.retransmits == 0 and any(isinstance(e, DeviceDown) for e in events)
    else:
        assert counters.retransmits > 0
    bad = (counters.aoe_errors, counters.ata_errors, counters.ignored, counters.unexpected_responses)
    if name == "seed1":  # the damaging target sent every kind of bad answer, and each was dealt with
        assert all(bad)
    elif name != "failover":
        assert any(bad)


def batched_run(seed: int, batch: bool, mtu: int) -> list[Any]:
    """An initiator and a target in lock step: each burst of frames is answered (answers
    damaged, doubled, dropped and shuffled at random) and the answers arrive together, as one
    receive_frames() call (``batch``) or one receive_frame() each."""
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
                pending.append(initiator.submit_write("e1.0", offset, rng.randbytes(size)))
            else:
                pending.append(initiator.submit_read("e1.0", offset, size))
        timer = initiator.get_timer()
        if timer is not None and timer <= now:
            initiator.handle_timer(now)
        sent = initiator.frames_to_send(now)
        trace.append(sent)
        answers = [a for _, frame in sent if rng.random() > 0.02 for a in answerer.handle_frame(frame, now)]
        rng.shuffle(answers) if rng.random() < 0.2 else None
        now += 0.001
        if batch:
            for i, answer in enumerate(answers):
                buffers[i][: len(answer)] = answer
                buffers[i][len(answer) :] = b"\xa5" * (len(buffers[i]) - len(answer))
            initiator.receive_frames(buffers, "eth0", now, [len(a) for a in answers])
        else:
            for answer in answers:
                initiator.receive_frame(answer, "eth0", now)
        check_books(initiator)
        trace.append((initiator.get_timer(), initiator.devices()))
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
    one_by_one = batched_run(8, batch=False, mtu=mtu)
    batched = batched_run(8, batch=True, mtu=mtu)
    assert batched == one_by_one
    done = [e for e in batched if isinstance(e, RequestDone) or (isinstance(e, tuple) and e[0] == "done")]
    failed = [e for e in batched if isinstance(e, RequestFailed)]
    assert len(done) > 20 and failed
