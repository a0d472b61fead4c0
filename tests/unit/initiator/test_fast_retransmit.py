"""Fast retransmit (Retransmit.answered_after): a frame that later frames on its interface
overtook is sent again at once, before its timeout, and the window is halved once for it."""

from __future__ import annotations

from pyaoe.initiator import Diagnostic, DiagnosticKind, InitiatorEngine, RequestDone

from .helpers import HandTarget, ata, bring_up, drain, make_engine


def eight_out(fast_retransmit: int = 3) -> tuple[InitiatorEngine, HandTarget, list[bytes]]:
    """A device up, a 8 KiB read out as eight frames of 1 KiB, in LBA order, sent at t=1."""
    engine = make_engine(discover_interval=0, min_rto=0.05, fast_retransmit=fast_retransmit)
    target = HandTarget(bufcnt=16)
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 8 * 1024)
    frames = [frame for _, frame in engine.frames_to_send(1.0)]
    assert [ata(f)[1].lba for f in frames] == [0, 2, 4, 6, 8, 10, 12, 14]
    return engine, target, frames


def window(engine: InitiatorEngine) -> tuple[int, int, int]:
    info = engine.devices()[0].targets[0]
    return info.maxout, info.ssthresh, info.nout


def test_a_frame_overtaken_by_three_answers_is_resent_before_its_timeout() -> None:
    engine, target, frames = eight_out()
    for i, frame in enumerate(frames[1:3]):
        engine.receive_frame(target.answer(frame), "eth0", 1.001 + i / 1000)
        assert engine.frames_to_send(1.001) == []  # two later answers: not yet
    engine.receive_frame(target.answer(frames[3]), "eth0", 1.003)
    ((_, resent),) = engine.frames_to_send(1.003)
    assert ata(resent)[1].lba == 0 and ata(resent)[0].tag != ata(frames[0])[0].tag
    assert engine.counters.retransmits == 1
    # Halved once, 8 to 4: five out (four old, the resend), so nothing new until answers come.
    assert window(engine) == (4, 4, 5)
    # Its timeout is the target's plain one from now, not a backed-off one.
    due = engine.get_timer()
    assert due is not None and due > 1.003
    for frame in [*frames[4:], resent]:
        engine.receive_frame(target.answer(frame), "eth0", 1.004)
    assert [type(e) for e in drain(engine) if not isinstance(e, Diagnostic)] == [RequestDone]


def test_losses_within_one_window_cut_it_once_and_each_is_resent() -> None:
    engine, target, frames = eight_out()
    # Frames 0 and 1 lost: 2-7 answered. Both are resent, the window is halved once.
    resent = []
    for frame in frames[2:]:
        engine.receive_frame(target.answer(frame), "eth0", 1.002)
        resent += [f for _, f in engine.frames_to_send(1.002)]
    assert [ata(f)[1].lba for f in resent] == [0, 2]
    assert window(engine)[:2] == (4, 4)
    for frame in resent:
        engine.receive_frame(target.answer(frame), "eth0", 1.003)
    assert [type(e) for e in drain(engine) if not isinstance(e, Diagnostic)] == [RequestDone]


def test_a_small_window_needs_only_the_answers_it_can_get() -> None:
    engine = make_engine(discover_interval=0, min_rto=0.05)
    target = HandTarget(bufcnt=4)  # a window of two frames
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 2 * 1024)
    first, second = (frame for _, frame in engine.frames_to_send(1.0))
    engine.receive_frame(target.answer(second), "eth0", 1.001)
    ((_, resent),) = engine.frames_to_send(1.001)
    assert ata(resent)[1].lba == ata(first)[1].lba == 0


def test_answers_in_order_resend_nothing() -> None:
    engine, target, frames = eight_out()
    for frame in frames:
        engine.receive_frame(target.answer(frame), "eth0", 1.001)
        assert engine.frames_to_send(1.001) == []
    assert engine.counters.retransmits == 0 and window(engine) == (8, 8, 0)


def test_a_late_answer_to_the_first_send_completes_the_frame_and_undoes_the_cut() -> None:
    engine, target, frames = eight_out()
    for frame in frames[1:4]:
        engine.receive_frame(target.answer(frame), "eth0", 1.002)
    ((_, resent),) = engine.frames_to_send(1.002)
    assert window(engine)[:2] == (4, 4)
    engine.receive_frame(target.answer(frames[0]), "eth0", 1.003)  # only late, not lost
    assert window(engine)[:2] == (8, 8)  # so the cut it made is undone
    for frame in frames[4:]:
        engine.receive_frame(target.answer(frame), "eth0", 1.003)
    events = drain(engine)
    assert [type(e) for e in events if not isinstance(e, Diagnostic)] == [RequestDone]
    engine.receive_frame(target.answer(resent), "eth0", 1.004)
    (late,) = drain(engine)
    assert isinstance(late, Diagnostic) and late.kind is DiagnosticKind.UNEXPECTED_RESPONSE


def test_turned_off_only_the_timer_resends_as_in_the_driver() -> None:
    engine, target, frames = eight_out(fast_retransmit=0)
    for frame in frames[1:]:
        engine.receive_frame(target.answer(frame), "eth0", 1.002)
    assert engine.frames_to_send(1.002) == []
    due = engine.get_timer()
    assert due == 1.0 + 0.05
    engine.handle_timer(due)
    ((_, resent),) = engine.frames_to_send(due)
    assert ata(resent)[1].lba == 0


def test_frames_on_another_interface_show_nothing_about_this_one() -> None:
    engine = make_engine(
        {"eth0": (bytes.fromhex("020000000001"), 1500), "eth1": (bytes.fromhex("020000000002"), 1500)},
        discover_interval=0,
        min_rto=0.05,
    )
    target = HandTarget(bufcnt=16)
    bring_up(engine, target)
    engine.receive_frame(target.config_reply(bytes.fromhex("020000000002")), "eth1", 0.0)
    for name, identify in engine.frames_to_send(0.0):
        engine.receive_frame(target.answer(identify), name, 0.0)
    engine.submit_read("e1.0", 0, 8 * 1024)
    sent = engine.frames_to_send(1.0)
    on_eth0 = [f for name, f in sent if name == "eth0"]
    on_eth1 = [f for name, f in sent if name == "eth1"]
    assert len(on_eth0) == len(on_eth1) == 4
    # Everything on eth1 answered, nothing on eth0: eth0's frames wait for their timeout.
    for frame in on_eth1:
        engine.receive_frame(target.answer(frame), "eth1", 1.001)
    assert engine.frames_to_send(1.001) == []
    # On eth0 the last three overtake the first: it goes again.
    for frame in on_eth0[1:]:
        engine.receive_frame(target.answer(frame), "eth0", 1.002)
    resent = engine.frames_to_send(1.002)
    assert [ata(f)[1].lba for _, f in resent] == [ata(on_eth0[0])[1].lba]


def test_an_answer_while_waiting_to_be_resent_undoes_the_cut_of_a_timeout() -> None:
    engine, target, frames = eight_out(fast_retransmit=0)
    # All eight time out: the first cuts the window to four, four are resent, four wait.
    engine.handle_timer(1.05)
    resent = [f for _, f in engine.frames_to_send(1.05)]
    assert len(resent) == 4 and window(engine) == (4, 4, 4)
    engine.receive_frame(target.answer(frames[0]), "eth0", 1.06)  # the first send that cut
    assert window(engine)[:2] == (8, 8)
    engine.receive_frame(target.answer(frames[7]), "eth0", 1.06)  # waiting, late too: no cut to undo
    assert window(engine)[:2] == (8, 8)
