"""InitiatorEngine against hand-built answers: discovery, IDENTIFY, frames, windows, errors, matching."""

from __future__ import annotations

import pytest

from pyaoe.errors import AoeCommandError, AtaCommandError, DeviceUnavailable
from pyaoe.initiator import (
    DeviceDiscovered,
    DeviceUp,
    Diagnostic,
    DiagnosticKind,
    InitiatorConfig,
    RequestDone,
    RequestError,
    RequestFailed,
)
from pyaoe.protocol import AtaFlag, ConfigArg, build_identify, decode_frame

from .helpers import IMAC, IMAC2, TMAC, TMAC2, HandTarget, ata, bring_up, drain, make_engine


def test_first_timer_broadcasts_query_config_on_every_allowed_interface() -> None:
    engine = make_engine(
        {"eth0": (IMAC, 1500), "eth1": (IMAC2, 9000), "wlan0": (bytes.fromhex("020000000003"), 1500)},
        iflist=("eth0", "eth1"),
        discover_again=(1.0, 3.0),
    )
    assert engine.get_timer() == 0.0  # due at once for any monotonic clock
    engine.handle_timer(10.0)
    sent = engine.frames_to_send(10.0)
    assert [ifname for ifname, _ in sent] == ["eth0", "eth1"]
    for (_, frame), mac in zip(sent, (IMAC, IMAC2), strict=True):
        decoded = decode_frame(frame)
        assert decoded.header.dst == b"\xff" * 6 and decoded.header.src == mac
        assert (decoded.header.shelf, decoded.header.slot) == (0xFFFF, 0xFF)
        assert decoded.arg == ConfigArg()
    # Again 1 s and 3 s after the first (a lost query or answer costs seconds), then every
    # 60 s as the driver.
    for due in (11.0, 13.0, 73.0, 133.0):
        assert engine.get_timer() == due
        engine.handle_timer(due)
        again = engine.frames_to_send(due)
        assert [ifname for ifname, _ in again] == ["eth0", "eth1"]
        assert all(decode_frame(frame).arg == ConfigArg() for _, frame in again)


def test_discover_again_must_rise() -> None:
    with pytest.raises(ValueError, match="discover_again"):
        InitiatorConfig(discover_again=(3.0, 1.0))
    with pytest.raises(ValueError, match="discover_again"):
        InitiatorConfig(discover_again=(0.0,))
    assert InitiatorConfig(discover_again=()).discover_again == ()


def test_config_reply_then_identify_brings_the_device_up() -> None:
    engine = make_engine()
    target = HandTarget(sectors=4096)
    engine.handle_timer(0.0)
    engine.frames_to_send(0.0)
    engine.receive_frame(target.config_reply(), "eth0", 0.0)
    ((ifname, ident),) = engine.frames_to_send(0.0)
    header, arg = ata(ident)
    assert (ifname, header.dst, header.src, header.shelf, header.slot) == ("eth0", TMAC, IMAC, 1, 0)
    assert (arg.cmd_status, arg.sector_count, arg.lba) == (0xEC, 1, 0xA0 << 24)
    assert 0 < header.tag < 1 << 31
    assert engine.devices()[0].state == "down"  # not identified yet
    engine.receive_frame(target.answer(ident), "eth0", 0.001)
    events = drain(engine)
    assert isinstance(events[0], DeviceDiscovered) and events[0].mac == TMAC
    assert DeviceUp(events[0].device, 4096) in events
    assert "aoe: 0200000000aa e1.0 v4019 has 4096 sectors" in [
        e.text for e in events if isinstance(e, Diagnostic)
    ]
    (info,) = engine.devices()
    assert (info.name, info.state, info.mac, info.netif, info.payload, info.sectors) == (
        "e1.0",
        "up",
        "0200000000aa",
        "eth0",
        1024,
        4096,
    )
    assert info.firmware_version == 0x4019 and info.lba48


def test_vblades_version_zero_announcement_is_accepted() -> None:
    engine = make_engine()
    engine.receive_frame(HandTarget().config_reply(b"\xff" * 6, version=0), "eth0", 0.0)
    assert [d.name for d in engine.devices()] == ["e1.0"]


def test_read_of_any_alignment_is_split_into_payload_frames_and_reassembled() -> None:
    engine = make_engine()
    target = HandTarget()
    target.store[:] = bytes(i % 251 for i in range(len(target.store)))
    bring_up(engine, target)
    rid = engine.submit_read("e1.0", 700, 3000)  # sectors 1..7
    sent = engine.frames_to_send(1.0)
    fields = [(a.cmd_status, a.aflags, a.lba, a.sector_count) for _, a in (ata(f) for _, f in sent)]
    assert fields == [
        (0x24, AtaFlag.EXTENDED, 1, 2),
        (0x24, 0x40, 3, 2),
        (0x24, 0x40, 5, 2),
        (0x24, 0x40, 7, 1),
    ]
    for _, frame in reversed(sent):  # answers in any order
        engine.receive_frame(target.answer(frame), "eth0", 1.001)
    (done,) = drain(engine)
    assert isinstance(done, RequestDone) and done.request_id == rid
    assert done.data == bytes(target.store[700:3700])


@pytest.mark.parametrize(("offset", "length"), [(1024, 3072), (700, 3000)], ids=["sectors", "unaligned"])
def test_read_into_fills_the_callers_buffer(offset: int, length: int) -> None:
    engine = make_engine()
    target = HandTarget()
    target.store[:] = bytes(i % 251 for i in range(len(target.store)))
    bring_up(engine, target)
    buffer = bytearray(b"?" * (length + 10))
    rid = engine.submit_read_into("e1.0", offset, memoryview(buffer)[5 : 5 + length])
    for _, frame in engine.frames_to_send(1.0):
        engine.receive_frame(target.answer(frame), "eth0", 1.001)
    (done,) = drain(engine)
    assert isinstance(done, RequestDone) and done.request_id == rid
    assert buffer == b"?????" + target.store[offset : offset + length] + b"?????"
    assert done.data is not None and done.data.readonly and done.data == buffer[5 : 5 + length]


def test_read_into_a_read_only_buffer_is_refused() -> None:
    engine = make_engine()
    bring_up(engine, HandTarget())
    with pytest.raises(TypeError):
        engine.submit_read_into("e1.0", 0, bytes(512))
    with pytest.raises(ValueError):
        engine.submit_read_into("e1.0", 2048 * 512, bytearray(512))  # past the end
    assert engine.frames_to_send(1.0) == []


def test_frames_to_send_into_fills_the_callers_buffers_in_order() -> None:
    engines = [make_engine(), make_engine()]
    for engine in engines:
        bring_up(engine, HandTarget())
        engine.submit_read("e1.0", 0, 5 * 1024)
        engine.submit_write("e1.0", 8192, bytes(range(256)) * 8)
    expected = engines[0].frames_to_send(1.0)
    assert len(expected) == 7
    engine = engines[1]
    buffers = [bytearray(1514) for _ in range(3)]
    got: list[tuple[str, bytes]] = []
    calls = 0
    while True:
        lengths = engine.frames_to_send_into(1.0, "eth0", buffers)
        calls += 1
        got += [("eth0", bytes(buffers[i][:n])) for i, n in enumerate(lengths)]
        if len(lengths) < len(buffers):  # a full list: there may be more
            break
    assert calls == 3 and got == expected
    assert engine.frames_to_send(1.0) == []
    with pytest.raises(ValueError):
        engine.frames_to_send_into(1.0, "eth0", [bytearray(1500)])  # no room for MTU + 14


def test_frames_to_send_into_keeps_other_interfaces_frames_for_their_own_call() -> None:
    engine = make_engine({"eth0": (IMAC, 1500), "eth1": (IMAC2, 1500)})
    engine.handle_timer(0.0)  # a Query Config on each interface
    buffers = [bytearray(1514) for _ in range(4)]
    assert engine.frames_to_send_into(0.0, "eth1", buffers) == [60]
    assert bytes(buffers[0][6:12]) == IMAC2
    engine.discover()
    engine.update_interfaces({"eth0": (IMAC, 1500)})  # eth1 is gone: its frame is dropped
    assert engine.frames_to_send_into(0.0, "eth0", buffers) == [60, 60]
    assert engine.frames_to_send(0.0) == []


def test_window_starts_at_half_the_buffer_count() -> None:
    engine = make_engine()
    target = HandTarget(bufcnt=4)
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 20 * 1024)
    sent = engine.frames_to_send(1.0)
    assert len(sent) == 2
    engine.receive_frame(target.answer(sent[0][1]), "eth0", 1.001)
    # maxout starts equal to ssthresh: one answer makes room for one frame.
    assert len(engine.frames_to_send(1.001)) == 1
    info = engine.devices()[0].targets[0]
    assert (info.nout, info.maxout, info.ssthresh, info.nframes) == (2, 2, 2, 4)


def test_write_is_done_only_when_every_frame_is_acknowledged() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    data = bytes(range(256)) * 12  # 3072 bytes: three frames
    rid = engine.submit_write("e1.0", 1024, data)
    sent = engine.frames_to_send(1.0)
    assert [(a.cmd_status, a.aflags, a.lba, len(a.data)) for _, a in (ata(f) for _, f in sent)] == [
        (0x34, 0x41, 2, 1024),
        (0x34, 0x41, 4, 1024),
        (0x34, 0x41, 6, 1024),
    ]
    for _, frame in sent[:2]:
        engine.receive_frame(target.answer(frame), "eth0", 1.001)
    assert drain(engine) == []
    engine.receive_frame(target.answer(sent[2][1]), "eth0", 1.002)
    assert drain(engine) == [RequestDone(rid, None)]
    assert bytes(target.store[1024:4096]) == data


def test_unaligned_write_reads_its_edge_sectors_first() -> None:
    engine = make_engine()
    target = HandTarget()
    target.store[:2048] = b"o" * 2048
    bring_up(engine, target)
    rid = engine.submit_write("e1.0", 100, b"N" * 1000)
    edges = engine.frames_to_send(1.0)
    assert sorted((a.cmd_status, a.lba, a.sector_count) for _, a in (ata(f) for _, f in edges)) == [
        (0x24, 0, 1),
        (0x24, 2, 1),
    ]
    for _, frame in edges:
        engine.receive_frame(target.answer(frame), "eth0", 1.001)
    writes = engine.frames_to_send(1.001)
    assert [(a.cmd_status, a.lba, a.sector_count) for _, a in (ata(f) for _, f in writes)] == [
        (0x34, 0, 2),
        (0x34, 2, 1),
    ]
    for _, frame in writes:
        engine.receive_frame(target.answer(frame), "eth0", 1.002)
    assert drain(engine) == [RequestDone(rid, None)]
    assert bytes(target.store[:2048]) == b"o" * 100 + b"N" * 1000 + b"o" * 948


def test_overlapping_requests_run_in_submission_order() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    write = engine.submit_write("e1.0", 0, b"w" * 1024)
    read = engine.submit_read("e1.0", 512, 512)
    (only,) = engine.frames_to_send(1.0)
    assert ata(only[1])[1].cmd_status == 0x34  # the read waits for the write
    engine.receive_frame(target.answer(only[1]), "eth0", 1.001)
    (read_frame,) = engine.frames_to_send(1.001)
    engine.receive_frame(target.answer(read_frame[1]), "eth0", 1.002)
    assert drain(engine) == [RequestDone(write, None), RequestDone(read, memoryview(b"w" * 512))]


def test_lost_frame_is_resent_after_the_initial_timeout_with_a_new_tag() -> None:
    engine = make_engine(initial_rto=0.25, min_rto=0.05, discover_interval=0)
    target = HandTarget()
    bring_up(engine, target)
    rid = engine.submit_read("e1.0", 0, 512)
    ((_, first),) = engine.frames_to_send(100.0)
    # The IDENTIFY answer gave a round-trip sample of 0, so the timeout is the minimum.
    assert engine.get_timer() == pytest.approx(100.05)
    engine.handle_timer(100.05)
    ((_, second),) = engine.frames_to_send(100.05)
    old, new = ata(first)[0].tag, ata(second)[0].tag
    assert old != new and ata(second)[1].lba == ata(first)[1].lba
    (diag,) = drain(engine)
    assert isinstance(diag, Diagnostic) and diag.kind is DiagnosticKind.RETRANSMIT
    assert diag.text == (
        f"     retransmit e1.0 oldtag={old:08x}@{100050:08x} newtag={new:08x} "
        "s=020000000001 d=0200000000aa nout=1"
    )
    assert engine.get_timer() == pytest.approx(100.05 + 0.1)  # backed off: doubled
    # A late answer to the first send still completes it.
    engine.receive_frame(target.answer(first), "eth0", 100.06)
    assert [type(e) for e in drain(engine)] == [RequestDone]
    engine.receive_frame(target.answer(second), "eth0", 100.07)
    (late,) = drain(engine)
    assert isinstance(late, Diagnostic) and late.kind is DiagnosticKind.UNEXPECTED_RESPONSE
    assert engine.counters.retransmits == 1 and engine.counters.unexpected_responses == 1
    del rid


def test_answers_that_match_nothing_outstanding_are_reported_not_used() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 512)
    ((_, frame),) = engine.frames_to_send(1.0)
    tag = ata(frame)[0].tag
    engine.receive_frame(target.answer(frame, tag=tag + 1000), "eth0", 1.001)  # unknown tag
    engine.receive_frame(target.answer(frame, src=TMAC2), "eth0", 1.002)  # right tag, wrong MAC
    engine.receive_frame(target.answer(frame, shelf=2), "eth0", 1.003)  # right tag, wrong shelf
    events = drain(engine)
    assert [e.kind for e in events if isinstance(e, Diagnostic)] == [DiagnosticKind.UNEXPECTED_RESPONSE] * 3
    first = events[0]
    assert isinstance(first, Diagnostic)
    assert first.text.startswith(f" unexpected rsp e1.0    tag={tag + 1000:08x}@")
    assert first.text.endswith("s=0200000000aa d=020000000001")
    assert engine.counters.unexpected_responses == 3
    engine.receive_frame(target.answer(frame), "eth0", 1.004)
    assert [type(e) for e in drain(engine)] == [RequestDone]


def test_frames_on_interfaces_outside_the_iflist_are_ignored() -> None:
    engine = make_engine({"eth0": (IMAC, 1500), "eth1": (IMAC2, 1500)}, iflist=("eth0",))
    target = HandTarget()
    engine.receive_frame(target.config_reply(IMAC2), "eth1", 0.0)
    engine.receive_frame(target.config_reply(IMAC), "eth9", 0.0)
    assert engine.devices() == [] and engine.counters.ignored == 2
    engine.set_iflist("eth0, eth1")
    engine.receive_frame(target.config_reply(IMAC2), "eth1", 0.0)
    assert [d.netif for d in engine.devices()] == ["eth1"]


def test_requests_and_responses_with_the_user_tag_bit_are_ignored() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 512)
    ((_, frame),) = engine.frames_to_send(1.0)
    engine.receive_frame(target.answer(frame, tag=0x80000000 | ata(frame)[0].tag), "eth0", 1.0)
    assert drain(engine) == [] and engine.counters.ignored == 1
    # A request (R clear), even one addressed to us, is not an answer either.
    engine.receive_frame(frame, "eth0", 1.0)
    assert drain(engine) == [] and engine.counters.ignored == 2


def test_aoe_error_fails_the_request_at_once_with_a_clear_error() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    rid = engine.submit_write("e1.0", 0, b"x" * 3072)
    sent = engine.frames_to_send(1.0)
    engine.receive_frame(target.answer(sent[1][1], aoe_error=6), "eth0", 1.001)
    events = drain(engine)
    failed = [e for e in events if isinstance(e, RequestFailed)]
    assert failed == [
        RequestFailed(
            rid,
            RequestError.AOE_ERROR,
            "e1.0: target 0200000000aa answered WRITE of 2 sectors at LBA 2 "
            "with AoE error 6 (target is reserved)",
            aoe_error=6,
        )
    ]
    assert "aoe: error packet from 1.0@eth0; ecode=6 'target is reserved'" in [
        e.text for e in events if isinstance(e, Diagnostic)
    ]
    assert isinstance(failed[0].to_exception(), AoeCommandError)
    # The other frames' answers and timeouts change nothing more.
    engine.receive_frame(target.answer(sent[0][1]), "eth0", 1.002)
    engine.handle_timer(5.0)
    assert drain(engine) == [] and engine.frames_to_send(5.0) == []


def test_ata_error_status_fails_the_request() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    rid = engine.submit_read("e1.0", 0, 512)
    ((_, frame),) = engine.frames_to_send(1.0)
    engine.receive_frame(target.answer(frame, status=0x41, error=0x10), "eth0", 1.001)
    events = drain(engine)
    (failed,) = [e for e in events if isinstance(e, RequestFailed)]
    assert (failed.request_id, failed.error, failed.ata_status, failed.ata_error) == (
        rid,
        RequestError.ATA_ERROR,
        0x41,
        0x10,
    )
    assert "aoe: ata error cmd=24h stat=41h from e1.0" in [
        e.text for e in events if isinstance(e, Diagnostic)
    ]
    assert isinstance(failed.to_exception(), AtaCommandError)


def test_short_read_answer_fails_the_request() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    rid = engine.submit_read("e1.0", 0, 1024)
    ((_, frame),) = engine.frames_to_send(1.0)
    engine.receive_frame(target.answer(frame, data=b"z" * 512), "eth0", 1.001)
    (failed,) = [e for e in drain(engine) if isinstance(e, RequestFailed)]
    assert failed.request_id == rid and failed.error is RequestError.BAD_RESPONSE


def test_flush_goes_to_every_target_and_is_done_when_all_answer() -> None:
    engine = make_engine()
    a, b = HandTarget(), HandTarget(mac=TMAC2)
    bring_up(engine, a)
    engine.receive_frame(b.config_reply(), "eth0", 1.0)
    ((_, identify),) = engine.frames_to_send(1.0)  # a new target: the device is identified again
    engine.receive_frame((a if ata(identify)[0].dst == TMAC else b).answer(identify), "eth0", 1.0)
    rid = engine.submit_flush("e1.0")
    sent = engine.frames_to_send(1.0)
    assert sorted((h.dst, arg.cmd_status, arg.aflags) for h, arg in (ata(f) for _, f in sent)) == [
        (TMAC, 0xEA, 0x40),
        (TMAC2, 0xEA, 0x40),
    ]
    engine.receive_frame(
        a.answer(sent[0][1] if ata(sent[0][1])[0].dst == TMAC else sent[1][1]), "eth0", 1.001
    )
    assert [e for e in drain(engine) if isinstance(e, RequestDone)] == []
    other = sent[1][1] if ata(sent[0][1])[0].dst == TMAC else sent[0][1]
    engine.receive_frame(b.answer(other), "eth0", 1.002)
    assert [e for e in drain(engine) if isinstance(e, RequestDone)] == [RequestDone(rid, None)]


def test_flush_waits_for_earlier_writes() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    engine.submit_write("e1.0", 0, b"x" * 512)
    engine.submit_flush("e1.0")
    ((_, write),) = engine.frames_to_send(1.0)
    engine.receive_frame(target.answer(write), "eth0", 1.001)
    ((_, flush),) = engine.frames_to_send(1.001)
    assert ata(flush)[1].cmd_status == 0xEA


def test_local_misuse_raises_at_once() -> None:
    engine = make_engine()
    with pytest.raises(DeviceUnavailable):
        engine.submit_read("e1.0", 0, 512)
    target = HandTarget(sectors=8)
    bring_up(engine, target)
    with pytest.raises(ValueError):
        engine.submit_read("e1.0", 4000, 100)
    with pytest.raises(ValueError):
        engine.submit_write("e1.0", -1, b"x")
    assert engine.submit_read("e1.0", 4096, 0) > 0  # empty read at the very end: done at once
    assert [type(e) for e in drain(engine)] == [RequestDone]


def test_broadcast_addresses_in_config_replies_are_refused() -> None:
    engine = make_engine()
    for shelf, slot in ((0xFFFF, 0), (1, 0xFF), (0x0FFF, 3)):
        engine.receive_frame(HandTarget(shelf=shelf, slot=slot).config_reply(), "eth0", 0.0)
    assert engine.devices() == []
    assert engine.counters.refused_configs == 3
    texts = [e.text for e in drain(engine) if isinstance(e, Diagnostic)]
    assert texts == [
        "aoe: e65535.0: broadcast shelf number invalid",
        "aoe: e1.255: broadcast slot number invalid",
        "aoe: Warning: shelf address is all ones.  Check shelf dip switches.",
    ]


def test_frames_rotate_over_the_interfaces_a_target_answers_on() -> None:
    engine = make_engine({"eth0": (IMAC, 1500), "eth1": (IMAC2, 1500)})
    target = HandTarget()
    bring_up(engine, target, ifname="eth0")
    engine.receive_frame(target.config_reply(IMAC2), "eth1", 0.0)
    engine.frames_to_send(0.0)  # a second IDENTIFY
    engine.submit_read("e1.0", 0, 4096)
    sent = engine.frames_to_send(1.0)
    assert [ifname for ifname, _ in sent] == ["eth0", "eth1", "eth0", "eth1"][: len(sent)]
    assert [ata(f)[0].src for _, f in sent[:2]] == [IMAC, IMAC2]
    assert engine.devices()[0].netif == "eth0,eth1"


def test_interface_that_disappears_is_dropped_from_its_targets() -> None:
    engine = make_engine({"eth0": (IMAC, 1500), "eth1": (IMAC2, 9000)})
    target = HandTarget(scnt=17)
    bring_up(engine, target, ifname="eth0")
    engine.receive_frame(target.config_reply(IMAC2), "eth1", 0.0)
    assert engine.devices()[0].payload == 1024
    engine.update_interfaces({"eth1": (IMAC2, 9000)})
    (info,) = engine.devices()
    assert (info.netif, info.payload) == ("eth1", 17 * 512)


def test_frames_may_arrive_as_memoryviews_of_a_reused_buffer() -> None:
    engine = make_engine()
    target = HandTarget()
    target.store[:1024] = b"m" * 1024
    buf = bytearray(2048)

    def receive(frame: bytes, now: float) -> None:
        buf[: len(frame)] = frame
        engine.receive_frame(memoryview(buf)[: len(frame)], "eth0", now)
        buf[:] = bytes(len(buf))  # the driver reuses its buffer at once

    engine.handle_timer(0.0)
    engine.frames_to_send(0.0)
    receive(target.config_reply(), 0.0)
    ((_, identify),) = engine.frames_to_send(0.0)
    receive(target.answer(identify), 0.0)
    rid = engine.submit_read("e1.0", 0, 1024)
    ((_, frame),) = engine.frames_to_send(1.0)
    receive(target.answer(frame), 1.0)
    done = [e for e in drain(engine) if isinstance(e, RequestDone)]
    assert done == [RequestDone(rid, memoryview(b"m" * 1024))]


def test_garbage_never_raises() -> None:
    engine = make_engine()
    target = HandTarget()
    bring_up(engine, target)
    engine.submit_read("e1.0", 0, 512)
    ((_, frame),) = engine.frames_to_send(1.0)
    answer = bytearray(target.answer(frame))
    samples = [b"", b"\x00" * 10, bytes(answer[:30]), bytes(answer[:40])]
    config = bytearray(target.config_reply())
    config[30:32] = b"\xff\xff"  # config string longer than the frame
    samples.append(bytes(config))
    for sample in samples:
        engine.receive_frame(sample, "eth0", 1.0)
    assert engine.counters.frames_received == len(samples) + 2
    # Only the 40-byte answer (a read answer without its data) concerns the request: it fails it.
    outcomes = [e for e in drain(engine) if isinstance(e, RequestDone | RequestFailed)]
    assert [(type(e), getattr(e, "error", None)) for e in outcomes] == [
        (RequestFailed, RequestError.BAD_RESPONSE)
    ]


def test_a_device_without_lba48_gets_lba28_commands() -> None:
    engine = make_engine()
    target = HandTarget(sectors=1000)
    page = bytearray(build_identify(1000))
    for word in (83, 86):  # clear "LBA48 supported/enabled"
        page[2 * word + 1] &= ~(1 << 2) & 0xFF
    engine.handle_timer(0.0)
    engine.frames_to_send(0.0)
    engine.receive_frame(target.config_reply(), "eth0", 0.0)
    ((_, identify),) = engine.frames_to_send(0.0)
    engine.receive_frame(target.answer(identify, data=bytes(page)), "eth0", 0.0)
    (info,) = engine.devices()
    assert (info.state, info.sectors, info.lba48) == ("up", 1000, False)
    engine.submit_write("e1.0", 512 * 300, b"x" * 512)
    ((_, frame),) = engine.frames_to_send(1.0)
    _, arg = ata(frame)
    assert (arg.cmd_status, arg.aflags, arg.lba) == (0x30, AtaFlag.WRITE, 300 | 0xE0 << 24)
