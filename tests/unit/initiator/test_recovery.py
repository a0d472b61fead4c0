"""When answers stop: window cut, failover to another target, deadsecs, down/up, closewait, flush."""

from __future__ import annotations

import pytest

from pyaoe.errors import DeviceUnavailable, LocalProtocolError
from pyaoe.initiator import (
    DeviceDown,
    DeviceRemoved,
    DeviceUp,
    Diagnostic,
    DiagnosticKind,
    InitiatorEngine,
    RequestDone,
    RequestError,
    RequestFailed,
)

from .helpers import IMAC, IMAC2, TMAC, TMAC2, HandTarget, ata, bring_up, drain, make_engine


def run_timers(engine: InitiatorEngine, until: float) -> list[tuple[float, str, bytes]]:
    """Fire every timer due up to ``until``; returns what was sent, with the time."""
    sent = []
    while (when := engine.get_timer()) is not None and when <= until:
        engine.handle_timer(when)
        sent += [(when, ifname, frame) for ifname, frame in engine.frames_to_send(when)]
    return sent


def test_timeouts_halve_the_targets_window_once_per_window_of_frames() -> None:
    engine = make_engine(discover_interval=0, min_rto=0.05, fast_retransmit=0)
    target = HandTarget(bufcnt=16)
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 64 * 1024)
    assert len(engine.frames_to_send(1.0)) == 8
    run_timers(engine, 1.05)  # all eight time out: one loss of one window
    info = engine.devices()[0].targets[0]
    assert (info.maxout, info.ssthresh) == (4, 4)
    assert info.nout == 4  # four frames resent, four waiting for room
    run_timers(engine, 1.16)  # the four resent (after the cut) time out again: one more cut
    info = engine.devices()[0].targets[0]
    assert (info.maxout, info.ssthresh, info.nout) == (2, 2, 2)
    run_timers(engine, 1.6)  # never below two frames
    info = engine.devices()[0].targets[0]
    assert (info.maxout, info.ssthresh, info.nout) == (2, 2, 2)


def test_device_goes_down_after_deadsecs_and_its_requests_fail() -> None:
    engine = make_engine(deadsecs=5, discover_interval=0)
    target = HandTarget()
    bring_up(engine, target)
    first = engine.submit_read("e1.0", 0, 512)
    second = engine.submit_read("e1.0", 4096, 4096)
    engine.frames_to_send(10.0)
    sent = run_timers(engine, 100.0)
    assert max(when for when, _, _ in sent) < 15.0  # resent until deadsecs, then given up
    events = drain(engine)
    (down,) = [e for e in events if isinstance(e, DeviceDown)]
    assert down.reason == "no answer for 5 s"
    failures = {e.request_id: e for e in events if isinstance(e, RequestFailed)}
    assert set(failures) == {first, second}
    assert {f.error for f in failures.values()} <= {RequestError.TIMEOUT, RequestError.DEVICE_DOWN}
    assert all(f.message == "e1.0 went down: no answer for 5 s" for f in failures.values())
    assert "aoe: e1.0 is down: no answer for 5 s" in [
        e.text for e in events if isinstance(e, Diagnostic) and e.kind is DiagnosticKind.DEVICE_DOWN
    ]
    assert engine.devices()[0].state == "down"
    assert engine.get_timer() is None
    with pytest.raises(DeviceUnavailable):
        engine.submit_read("e1.0", 0, 512)


def test_down_device_comes_back_up_when_it_answers_again() -> None:
    engine = make_engine(deadsecs=5, discover_interval=0)
    target = HandTarget()
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 512)
    engine.frames_to_send(10.0)
    run_timers(engine, 100.0)
    drain(engine)
    engine.discover()
    engine.frames_to_send(200.0)
    engine.receive_frame(target.config_reply(), "eth0", 200.0)
    ((_, identify),) = engine.frames_to_send(200.0)
    engine.receive_frame(target.answer(identify), "eth0", 200.001)
    assert [type(e) for e in drain(engine) if isinstance(e, DeviceUp)] == [DeviceUp]
    assert engine.devices()[0].state == "up"
    rid = engine.submit_read("e1.0", 0, 512)
    ((_, frame),) = engine.frames_to_send(201.0)
    engine.receive_frame(target.answer(frame), "eth0", 201.001)
    assert [e.request_id for e in drain(engine) if isinstance(e, RequestDone)] == [rid]


def test_open_down_device_stays_in_closewait_until_the_last_close() -> None:
    engine = make_engine(deadsecs=5, discover_interval=0)
    target = HandTarget()
    bring_up(engine, target)
    engine.open_device("e1.0")
    engine.open_device("e1.0")
    engine.submit_read("e1.0", 0, 512)
    engine.frames_to_send(10.0)
    run_timers(engine, 100.0)
    assert engine.devices()[0].state == "down,closewait"
    # While open, a config reply does not re-identify (the user's view must not change).
    engine.receive_frame(target.config_reply(), "eth0", 101.0)
    assert engine.frames_to_send(101.0) == []
    engine.close_device("e1.0")
    assert engine.frames_to_send(102.0) == []
    engine.close_device("e1.0")
    ((_, query),) = engine.frames_to_send(103.0)
    assert query[0:6] == b"\xff" * 6 and query[16:20] == b"\x00\x01\x00\x01"  # shelf 1, slot 0, cmd 1
    engine.receive_frame(target.config_reply(), "eth0", 103.0)
    ((_, identify),) = engine.frames_to_send(103.0)
    engine.receive_frame(target.answer(identify), "eth0", 103.001)
    assert engine.devices()[0].state == "up"
    with pytest.raises(LocalProtocolError):
        engine.close_device("e1.0")


def test_revalidate_identifies_an_open_device_and_brings_it_up() -> None:
    engine = make_engine(deadsecs=5, discover_interval=0)
    target = HandTarget()
    bring_up(engine, target)
    engine.open_device("e1.0")
    engine.submit_read("e1.0", 0, 512)
    engine.frames_to_send(10.0)
    run_timers(engine, 100.0)
    target.sectors = 8192  # it grew meanwhile
    engine.revalidate("e1.0")
    sent = engine.frames_to_send(200.0)
    assert [ata(f)[1].cmd_status for _, f in sent if f[19] == 0] == [0xEC]  # plus the config query
    identify = next(f for _, f in sent if f[19] == 0)
    engine.receive_frame(target.answer(identify), "eth0", 200.001)
    (info,) = engine.devices()
    assert (info.state, info.sectors, info.open_count) == ("up", 8192, 1)
    with pytest.raises(DeviceUnavailable):
        engine.revalidate("e9.9")


def test_deadsecs_zero_retries_forever() -> None:
    engine = make_engine(deadsecs=0, discover_interval=0, max_rto=2.0)
    target = HandTarget()
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 512)
    engine.frames_to_send(10.0)
    sent = run_timers(engine, 1000.0)
    assert engine.devices()[0].state == "up"
    assert len(sent) > 400  # one resend every 2 s at most
    assert engine.get_timer() is not None


def test_frames_move_to_the_other_target_when_one_stops_answering() -> None:
    engine = make_engine(discover_interval=0, scorn_secs=10)
    a, b = HandTarget(), HandTarget(mac=TMAC2)
    bring_up(engine, a)
    engine.receive_frame(b.config_reply(), "eth0", 0.0)
    ((_, identify),) = engine.frames_to_send(0.0)
    engine.receive_frame(
        b.answer(identify) if ata(identify)[0].dst == TMAC2 else a.answer(identify), "eth0", 0.0
    )
    drain(engine)
    rid = engine.submit_read("e1.0", 0, 1024)
    ((_, frame),) = engine.frames_to_send(1.0)
    dead = ata(frame)[0].dst
    alive = b if dead == TMAC else a
    # The dead target keeps the frame (resent to it) until it has held it for scorn_secs;
    # resends back off to one every max_rto (2 s), so the move comes within 10-12 s.
    sent = run_timers(engine, 13.0)
    destinations = [ata(f)[0].dst for _, _, f in sent]
    moved = destinations.index(alive.mac)
    assert set(destinations[:moved]) == {dead}
    assert 11.0 < sent[moved][0] <= 13.0
    # Its latest send there (its timeout there backs off from a few milliseconds, and only
    # the last few tags of an exchange are kept).
    latest = [f for _, _, f in sent if ata(f)[0].dst == alive.mac][-1]
    engine.receive_frame(alive.answer(latest), "eth0", 13.0)
    assert [e.request_id for e in drain(engine) if isinstance(e, RequestDone)] == [rid]
    (tainted,) = [t for t in engine.devices()[0].targets if t.mac == dead]
    assert tainted.taint > 0
    # New frames avoid the tainted target; it only gets probes.
    engine.submit_read("e1.0", 0, 4096)
    assert {ata(f)[0].dst for _, f in engine.frames_to_send(13.0)} == {alive.mac}


def test_tainted_target_is_probed_and_used_again_once_it_answers() -> None:
    engine = make_engine(discover_interval=0, scorn_secs=1)
    a, b = HandTarget(), HandTarget(mac=TMAC2)
    bring_up(engine, a)
    engine.receive_frame(b.config_reply(), "eth0", 0.0)
    ((_, identify),) = engine.frames_to_send(0.0)
    engine.receive_frame(
        a.answer(identify) if ata(identify)[0].dst == TMAC else b.answer(identify), "eth0", 0.0
    )
    engine.submit_read("e1.0", 0, 512)
    ((_, frame),) = engine.frames_to_send(1.0)
    dead_mac = ata(frame)[0].dst
    dead, alive = (a, b) if dead_mac == TMAC else (b, a)
    sent = run_timers(engine, 3.0)
    moved = [f for _, _, f in sent if ata(f)[0].dst == alive.mac]
    engine.receive_frame(alive.answer(moved[-1]), "eth0", 3.0)  # its latest tag there
    # Probes (full-size READs of LBA 0) go to the tainted target; answering them clears its taint.
    for _ in range(50):
        probes = [f for _, _, f in run_timers(engine, engine.get_timer() or 3.0) if ata(f)[0].dst == dead.mac]
        for probe in probes:
            assert (ata(probe)[1].lba, ata(probe)[1].sector_count) == (0, 2)
            engine.receive_frame(dead.answer(probe), "eth0", engine.get_timer() or 3.0)
        engine.frames_to_send(3.0)
        if all(t.taint == 0 for t in engine.devices()[0].targets):
            break
    assert all(t.taint == 0 for t in engine.devices()[0].targets)
    engine.submit_read("e1.0", 0, 4096)
    assert {ata(f)[0].dst for _, f in engine.frames_to_send(100.0)} == {TMAC, TMAC2}


def test_flush_drops_down_unopened_devices_all_or_one_by_name() -> None:
    engine = make_engine(deadsecs=5, discover_interval=0)
    targets = [HandTarget(shelf=1, slot=s, mac=bytes([2, 0, 0, 0, 1, s])) for s in range(4)]
    for t in targets:
        engine.receive_frame(t.config_reply(IMAC), "eth0", 0.0)
    for _, frame in engine.frames_to_send(0.0):
        slot = frame[19 - 1]
        engine.receive_frame(targets[slot].answer(frame), "eth0", 0.0)
    engine.open_device("e1.0")
    engine.open_device("e1.1")
    # e1.1 (open) and e1.2 (not open) go down.
    for name in ("e1.1", "e1.2"):
        engine.submit_read(name, 0, 512)
    engine.frames_to_send(1.0)
    run_timers(engine, 50.0)
    assert [(d.name, d.state) for d in engine.devices()] == [
        ("e1.0", "up"),
        ("e1.1", "down,closewait"),
        ("e1.2", "down"),
        ("e1.3", "up"),
    ]
    drain(engine)
    assert engine.flush("\n") == [(1, 2)]
    assert engine.flush("all") == [(1, 3)]
    assert [d.name for d in engine.devices()] == ["e1.0", "e1.1"]
    assert engine.flush("e1.1") == [(1, 1)]  # by name even though open, as the driver
    assert [type(e) for e in drain(engine)] == [DeviceRemoved] * 3
    with pytest.raises(DeviceUnavailable):
        engine.flush("e7.7")
    engine.close_device("e1.1")  # closing a flushed device is harmless


def test_flush_fails_pending_requests_of_a_removed_device() -> None:
    engine = make_engine(discover_interval=0)
    target = HandTarget()
    bring_up(engine, target)
    rid = engine.submit_read("e1.0", 0, 512)
    engine.frames_to_send(1.0)
    engine.flush("e1.0")
    events = drain(engine)
    (failed,) = [e for e in events if isinstance(e, RequestFailed)]
    assert (failed.request_id, failed.error) == (rid, RequestError.DEVICE_REMOVED)
    assert engine.get_timer() is None


def test_device_with_no_usable_interface_goes_down_after_deadsecs() -> None:
    engine = make_engine(deadsecs=5, discover_interval=0)
    target = HandTarget()
    bring_up(engine, target)
    engine.update_interfaces({})
    rid = engine.submit_read("e1.0", 0, 512)
    assert engine.frames_to_send(10.0) == []
    run_timers(engine, 20.0)
    events = drain(engine)
    assert [e.request_id for e in events if isinstance(e, RequestFailed)] == [rid]
    assert engine.devices()[0].state == "down"
    assert IMAC  # (the interface the device was reached on is gone)


def test_a_resent_write_holds_back_overlapping_requests_for_one_timeout() -> None:
    """A late copy of a resent write could land after a newer write to the same sectors."""
    engine = make_engine(discover_interval=0, min_rto=0.05)
    target = HandTarget()
    bring_up(engine, target)
    first = engine.submit_write("e1.0", 0, b"1" * 512)
    ((_, sent),) = engine.frames_to_send(1.0)
    ((when, _, resent),) = run_timers(engine, 1.06)
    engine.receive_frame(target.answer(resent), "eth0", 1.07)
    assert [e.request_id for e in drain(engine) if isinstance(e, RequestDone)] == [first]
    second = engine.submit_write("e1.0", 0, b"2" * 512)
    unrelated = engine.submit_read("e1.0", 4096, 512)
    ((_, read),) = engine.frames_to_send(1.07)
    assert ata(read)[1].lba == 8  # only the read goes; the write waits
    engine.receive_frame(target.answer(read), "eth0", 1.08)
    assert engine.frames_to_send(1.08) == []
    fence = engine.get_timer()
    assert fence is not None and fence == pytest.approx(1.07 + 0.05)
    engine.handle_timer(fence)
    ((_, write),) = engine.frames_to_send(fence)
    assert ata(write)[1].data[:512] == b"2" * 512
    del second, unrelated, sent, when


def test_an_interface_that_keeps_losing_frames_is_no_longer_used_for_that_target() -> None:
    engine = make_engine({"eth0": (IMAC, 1500), "eth1": (IMAC2, 1500)}, discover_interval=0)
    target = HandTarget(bufcnt=2)  # nframes 2: ejected after more than 4 losses
    bring_up(engine, target, ifname="eth0")
    engine.receive_frame(target.config_reply(IMAC2), "eth1", 0.0)
    ((ifname, identify),) = engine.frames_to_send(0.0)
    engine.receive_frame(target.answer(identify), ifname, 0.0)
    now = 1.0
    for _ in range(12):
        engine.submit_read("e1.0", 0, 512)
        pending = engine.frames_to_send(now)
        while pending:
            ifname, frame = pending.pop()
            if ifname == "eth0":  # eth1's cable is cut: nothing sent there is answered
                engine.receive_frame(target.answer(frame), "eth0", now)
            else:
                now = engine.get_timer() or now
                engine.handle_timer(now)
            pending += engine.frames_to_send(now)
    assert engine.devices()[0].targets[0].interfaces == ("eth0",)
    texts = [e.text for e in drain(engine) if isinstance(e, Diagnostic) and e.kind is DiagnosticKind.INFO]
    assert "aoe: e1.0: 5 frames lost on eth1 to 0200000000aa; no longer using that interface for it" in texts


def test_device_goes_down_at_exactly_deadsecs_after_the_first_send() -> None:
    # 0.2 + 0.5 is 0.7, but 0.7 - 0.2 is 0.49999999999999994: a check written as
    # now - first_sent >= deadsecs misses the deadline it was woken for and resends instead.
    engine = make_engine(deadsecs=0.5, discover_interval=0, initial_rto=1.0, min_rto=1.0, max_rto=1.0)
    target = HandTarget()
    bring_up(engine, target)
    rid = engine.submit_read("e1.0", 0, 512)
    assert len(engine.frames_to_send(0.2)) == 1
    due = engine.get_timer()
    assert due == 0.2 + 0.5
    engine.handle_timer(due)
    assert engine.frames_to_send(due) == []
    events = drain(engine)
    assert [e.reason for e in events if isinstance(e, DeviceDown)] == ["no answer for 0.5 s"]
    assert [(e.request_id, e.error) for e in events if isinstance(e, RequestFailed)] == [
        (rid, RequestError.TIMEOUT)
    ]
