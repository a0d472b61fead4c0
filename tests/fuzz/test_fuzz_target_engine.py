"""Fuzzing the target at the engine level: hostile and careless frames through the fast path and
TargetEngine (as the serving loop sends them) over three windows of a real file.

Pass: nothing raises, every answer is a well-formed AoE reply (an AoE error, or ATA registers an
initiator understands), frames that must be ignored get no answer, the file changes exactly as
the valid writes say (inside and outside each window), access state changes only as allowed,
and memory does not grow. PYAOE_FUZZ_EXAMPLES=N runs a longer campaign.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyaoe.protocol import (
    MAX_CONFIG_STRING,
    AtaArg,
    ConfigArg,
    Directive,
    Frame,
    Header,
    MaskArg,
    ReserveArg,
    encode_frame,
)

from .harness import ADDRESSES, ADMIN, ATTACKER, HOST_A, HOST_B, SOURCES, TARGET_MAC, TargetHarness
from .strategies import examples, request_frames

FUZZ = settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
hostile = request_frames(TARGET_MAC, SOURCES, ADDRESSES)


@pytest.fixture(params=[1500, 9000], ids=["mtu1500", "mtu9000"])
def mtu(request: pytest.FixtureRequest) -> int:
    return int(request.param)


def harness(mtu: int) -> Iterator[TargetHarness]:
    h = TargetHarness(mtu)
    try:
        yield h
    finally:
        h.close()


def valid_write(lba: int, count: int, seed: int, src: bytes = HOST_A, slot: int = 2) -> bytes:
    data = bytes((seed + i) % 251 for i in range(count * 512))
    header = Header(dst=TARGET_MAC, src=src, shelf=1, slot=slot, command=0, tag=0x1000 + seed)
    return encode_frame(
        Frame(header, AtaArg(aflags=0x41, sector_count=count, cmd_status=0x34, lba=lba, data=data))
    )


@FUZZ
@given(frames=st.lists(hostile, min_size=1, max_size=12), mtu=st.sampled_from([1500, 9000]))
def test_hostile_frames_change_only_what_valid_writes_say(frames: list[bytes], mtu: int) -> None:
    for h in harness(mtu):
        for frame in frames:
            h.feed(frame)
        h.check_storage()
        # Still serving: the read-only window answers whoever the mask lets in.
        h.feed(valid_write(0, 1, 7, slot=3))


@FUZZ
@given(
    frames=st.lists(hostile, max_size=8),
    writes=st.lists(
        st.tuples(st.integers(0, 63), st.integers(1, 2), st.integers(0, 250)), min_size=1, max_size=6
    ),
    src=st.sampled_from([HOST_A, HOST_B]),
)
def test_valid_writes_land_among_hostile_frames(
    frames: list[bytes], writes: list[tuple[int, int, int]], src: bytes
) -> None:
    """Writes from an initiator interleaved with an attacker's frames: each one the access state
    allows is acknowledged and lands, in its window and nowhere else."""
    for h in harness(1500):
        mixed: list[bytes] = list(frames)
        for i, (lba, count, seed) in enumerate(writes):
            mixed.insert(min(i * 2, len(mixed)), valid_write(min(lba, 64 - count), count, seed, src=src))
        for frame in mixed:
            h.feed(frame)
        h.check_storage()


# -- config strings, mask and reserve lists at and over their limits --------------------------
def _control(command: int, arg: object, src: bytes, slot: int = 2, shelf: int = 1) -> bytes:
    header = Header(dst=TARGET_MAC, src=src, shelf=shelf, slot=slot, command=command, tag=77)
    return encode_frame(Frame(header, arg))  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 1, MAX_CONFIG_STRING - 1, MAX_CONFIG_STRING])
def test_config_strings_up_to_1024_bytes_are_claimed_once(mtu: int, length: int) -> None:
    for h in harness(mtu):
        text = bytes(range(256)) * 4
        h.feed(_control(1, ConfigArg(ccmd=3, config_string=text[:length]), HOST_A))
        assert h.exports[(1, 2)].state.config_string == text[:length]
        # Claimed (unless empty): the attacker's set is refused and changes nothing.
        (reply,) = h.feed(_control(1, ConfigArg(ccmd=3, config_string=b"mine"), ATTACKER))
        assert bool(reply[14] & 0x04) == (length > 0)
        assert h.exports[(1, 2)].state.config_string == (text[:length] or b"mine")


@pytest.mark.parametrize("length", [MAX_CONFIG_STRING + 1, 1400, 0xFFFF])
def test_config_strings_over_1024_bytes_are_refused(mtu: int, length: int) -> None:
    for h in harness(mtu):
        frame = bytearray(_control(1, ConfigArg(ccmd=4), ATTACKER))
        frame[30:32] = length.to_bytes(2, "big")
        frame += b"x" * min(length, 1400)
        (reply,) = h.feed(bytes(frame))
        assert reply[14] & 0x04 and reply[15] == 2  # bad argument
        assert h.exports[(1, 2)].state.config_string == b""


def test_mask_lists_with_bad_directives_stop_at_the_bad_one(mtu: int) -> None:
    for h in harness(mtu):
        directives = (Directive(1, HOST_A), Directive(7, HOST_B), Directive(1, ATTACKER))
        (reply,) = h.feed(_control(2, MaskArg(mcmd=1, directives=directives), HOST_A))
        assert (reply[24 + 2], reply[24 + 3]) == (2, 1)  # MError bad directive, at index 1
        assert h.exports[(1, 2)].state.mask_list == [HOST_A]


def test_a_full_mask_list_refuses_the_33rd_mac(mtu: int) -> None:
    for h in harness(mtu):
        macs = [b"\x02\x00\x00\x00\x01" + bytes([i]) for i in range(40)]
        directives = tuple(Directive(1, m) for m in [HOST_A, *macs])
        (reply,) = h.feed(_control(2, MaskArg(mcmd=1, directives=directives), HOST_A))
        assert (reply[24 + 2], reply[24 + 3]) == (3, 32)  # MError list full, at index 32
        assert len(h.exports[(1, 2)].state.mask_list) == 32
        # The list is full and HOST_B is not on it: HOST_B is ignored from now on.
        assert h.feed(valid_write(0, 1, 1, src=HOST_B)) == []
        h.check_storage()


def test_admin_only_export_ignores_everyone_elses_edits(mtu: int) -> None:
    for h in harness(mtu):
        export = h.exports[(2, 2)]
        for src in (HOST_A, HOST_B, ATTACKER):
            h.feed(
                _control(
                    2, MaskArg(mcmd=1, directives=(Directive(2, HOST_A), Directive(1, src))), src, shelf=2
                )
            )
            h.feed(_control(3, ReserveArg(rcmd=2, macs=(src,)), src, shelf=2))
        assert export.state.mask_list == [HOST_A, HOST_B] and export.state.reserve_list == []
        h.feed(_control(3, ReserveArg(rcmd=1, macs=(HOST_B,)), ADMIN, shelf=2))
        assert export.state.reserve_list == [HOST_B]


# -- a long campaign of mutated frames: memory --------------------------------------------------
def _templates() -> list[bytes]:
    frames = []
    for src in SOURCES:
        frames += [
            valid_write(3, 2, 1, src=src),
            valid_write(60, 2, 1, src=src),
            valid_write(0, 1, 2, src=src, slot=3),
            _control(0, AtaArg(sector_count=2, cmd_status=0x24, lba=62), src),
            _control(0, AtaArg(sector_count=1, cmd_status=0xEC), src, shelf=0xFFFF, slot=0xFF),
            _control(1, ConfigArg(ccmd=3, config_string=b"x" * 1024), src),
            _control(2, MaskArg(mcmd=1, directives=(Directive(1, src), Directive(2, HOST_A))), src),
            _control(3, ReserveArg(rcmd=1, macs=(src,)), src, shelf=2),
            _control(3, ReserveArg(rcmd=0), src),
        ]
    return frames


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    out = bytearray(frame)
    for _ in range(rng.randrange(4)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    if rng.random() < 0.2:
        out = out[: rng.randrange(len(out) + 1)]
    elif rng.random() < 0.1:
        out += rng.randbytes(rng.choice([1, 600, 9000]))
    return bytes(out)


def test_a_campaign_of_mutated_frames_does_not_grow_memory() -> None:
    rng = random.Random(1)
    templates = _templates()
    for h in harness(9000):
        for _ in range(300):  # warm up: caches, interned ints, the logger
            h.feed(_mutate(rng, rng.choice(templates)))
        gc.collect()
        tracemalloc.start()
        try:
            start, _peak = tracemalloc.get_traced_memory()
            for _ in range(examples(3000)):
                h.feed(_mutate(rng, rng.choice(templates)))
            gc.collect()  # what stays, not garbage waiting for the collector
            end, _peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        h.check_storage()
        assert end - start < 64 * 1024, f"traced memory grew by {end - start} bytes"
        assert h.replies > 0 and h.writes > 0
