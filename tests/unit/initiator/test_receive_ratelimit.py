"""Messages about peers' frames are rate-limited as the driver's net_ratelimit() does (10 every
5 s): a host sending junk or error answers must not flood the log or the err stream."""

from __future__ import annotations

import logging

import pytest

from pyaoe.initiator import Diagnostic, DiagnosticKind

from .helpers import IMAC, HandTarget, drain, make_engine

ATTACKER = bytes.fromhex("0266666666ff")


def junk_config(target: HandTarget) -> bytes:
    """A config answer whose string length (over 1024) cannot be decoded."""
    frame = bytearray(target.config_reply(IMAC))
    frame[30:32] = (5000).to_bytes(2, "big")
    return bytes(frame)


def error_config(target: HandTarget) -> bytes:
    frame = bytearray(target.config_reply(IMAC))
    frame[14] |= 0x04
    frame[15] = 2
    return bytes(frame)


def test_undecodable_frames_are_logged_ten_times_in_five_seconds(caplog: pytest.LogCaptureFixture) -> None:
    """Found by fuzzing the initiator: every undecodable frame wrote a warning."""
    engine = make_engine()
    target = HandTarget(mac=ATTACKER)
    with caplog.at_level(logging.WARNING, logger="pyaoe.initiator.engine"):
        for i in range(1000):
            engine.receive_frame(junk_config(target), "eth0", 100.0 + i * 0.001)
        assert len(caplog.records) == 10
        assert engine.counters.ignored == 1000
        caplog.clear()
        engine.receive_frame(junk_config(target), "eth0", 106.0)
    (record,) = caplog.records
    assert "dropped a frame from 0266666666ff on eth0" in record.getMessage()
    assert record.getMessage().endswith("; 990 similar messages suppressed")


def test_error_answers_to_config_queries_are_reported_ten_times_in_five_seconds() -> None:
    engine = make_engine()
    target = HandTarget(mac=ATTACKER)
    for i in range(500):
        engine.receive_frame(error_config(target), "eth0", 50.0 + i * 0.001)
    lines = [e for e in drain(engine) if isinstance(e, Diagnostic) and e.kind is DiagnosticKind.AOE_ERROR]
    assert len(lines) == 10 and engine.counters.aoe_errors == 500
    assert lines[0].text == "aoe: error packet from 1.0@eth0; ecode=2 'bad argument parameter'"
    engine.receive_frame(error_config(target), "eth0", 56.0)
    assert len([e for e in drain(engine) if isinstance(e, Diagnostic)]) == 1
