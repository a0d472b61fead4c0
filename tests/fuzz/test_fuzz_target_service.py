"""Fuzzing the target at the service level: a real `pyaoe target` process in a namespace serving
three windows of one file, flooded through a packet socket with hostile and mutated frames.

Pass: the process stays up and keeps answering, logs no "failed to answer a frame" (a handler
that raised), every answer on the wire is a well-formed AoE reply, its resident memory stays
bounded (VmRSS before and after), and the backing file, inside and outside every window,
changes only by the valid writes sent after the flood. The exports
have an administrator (--admin), so the flood cannot lock the checking host out; the frames the
oracle says would write are left out of the flood, so it must change nothing.
PYAOE_FUZZ_EXAMPLES / PYAOE_FUZZ_FRAMES make the campaign longer.
"""

from __future__ import annotations

import os
import random
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyaoe.lab.netns import Lab, in_netns
from pyaoe.net.packet_socket import PacketSocket
from pyaoe.protocol import (
    AoeError,
    AtaArg,
    AtaStatus,
    ConfigArg,
    Directive,
    Frame,
    Header,
    MaskArg,
    ReserveArg,
    decode_frame,
    encode_frame,
)
from support.packets import recv_frame
from support.target import PYAOE_TARGET, RunningTarget, start_target

from .harness import (
    ADDRESSES,
    ATTACKER,
    HOST_A,
    HOST_B,
    LOCKED_LAYOUT,
    TargetHarness,
    export_table,
    initial_content,
)
from .strategies import examples, request_frames

pytestmark = pytest.mark.netns

MTU = 1500
_HEAD = struct.Struct("!6s6sHBBHBBI")
#: The flood never speaks as the administrator.
FLOOD_SOURCES = (HOST_A, HOST_B, ATTACKER)
_DRDY = int(AtaStatus.DRDY)


def flood_frames() -> int:
    return int(os.environ.get("PYAOE_FUZZ_FRAMES", 20000))


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Served:
    target: RunningTarget
    sock: PacketSocket
    mac: bytes
    path: Path
    #: The oracle (its own copy of the file; only its verdicts are used).
    shadow: TargetHarness
    answers: int = 0
    sent: int = 0

    def send(self, frame: bytes) -> None:
        try:
            self.sock.send(frame)
            self.sent += 1
        except OSError:
            pass  # too short or over the MTU: the kernel refuses it, as a NIC would

    def drain(self, quiet: float = 0.0) -> list[bytes]:
        """The target's answers heard so far (waiting until ``quiet`` seconds pass without one),
        each checked."""
        got = []
        while (frame := recv_frame(self.sock, timeout=quiet)) is not None:
            if frame[6:12] == self.mac:
                check_answer(frame, self.mac)
                got.append(frame)
        self.answers += len(got)
        return got

    def check_alive_and_quiet(self) -> None:
        """Still serving, and nothing swallowed: the engine logs "failed to answer a frame" (and
        its traceback) when a handler raised, and keeps serving."""
        log = self.target.stderr()
        assert self.target.alive(), log
        assert "failed to answer" not in log and "Traceback" not in log, log

    def flood(self, frames: list[bytes]) -> None:
        for i, frame in enumerate(frames):
            if self.shadow.verdict(frame).write is None:
                self.send(frame)
            if i % 32 == 31:
                self.drain()
        self.drain()


def check_answer(raw: bytes, mac: bytes) -> None:
    """What every frame a target sends must be."""
    assert 60 <= len(raw) <= MTU + 14, f"answer of {len(raw)} bytes"
    dst, src, ethertype, verflags, error, shelf, slot, command, _tag = _HEAD.unpack_from(raw)
    assert (src, ethertype) == (mac, 0x88A2) and verflags & 0x08 and verflags >> 4 == 1, raw[:24].hex()
    assert (shelf, slot) in ADDRESSES
    if (shelf, slot) == (2, 2):
        assert dst in (HOST_A, HOST_B), "answered a host outside the mask list"
    if verflags & 0x04:
        assert error in set(AoeError)
        return
    reply = decode_frame(raw)
    if command == 0:
        assert isinstance(reply.arg, AtaArg)
        assert reply.arg.cmd_status in (_DRDY, _DRDY | 1) and reply.arg.err_feature in (0, 0x04, 0x10, 0x40)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz-service")
    path = tmp / "disk.img"
    path.write_bytes(initial_content(0))
    with Lab() as lab:
        attacker_ns, target_ns = lab.netns("fza"), lab.netns("fzt")
        here, there = lab.veth(attacker_ns, target_ns, mtu=MTU)
        config = tmp / "exports.toml"
        config.write_text(export_table(LOCKED_LAYOUT, str(path), there.ifname))
        with start_target(
            lab, there, ["--config", str(config)], listen=here, command=PYAOE_TARGET, exports=3
        ) as target:
            assert target.listener is not None
            target.listener.close()
            target.listener = None
            with in_netns(attacker_ns):
                sock = PacketSocket(here.ifname, rcvbuf=32 << 20)
            shadow = TargetHarness(MTU, mac=there.mac, layout=LOCKED_LAYOUT)
            try:
                yield Served(target, sock, there.mac, path, shadow)
            finally:
                shadow.close()
                sock.close()
            assert target.alive(), target.stderr()
            assert "Traceback" not in target.stderr(), target.stderr()


@settings(
    max_examples=examples(8),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
        HealthCheck.large_base_example,
    ],
)
@given(frames=st.lists(request_frames(b"\0" * 6, FLOOD_SOURCES, ADDRESSES), min_size=50, max_size=250))
def test_hostile_frames_over_the_wire(served: Served, frames: list[bytes]) -> None:
    """Hypothesis' frames (to the real target's MAC) through the real socket and serving loop."""
    mac = served.mac
    frames = [f[:0] + mac + f[6:] if f[:6] == b"\0" * 6 else f for f in frames]
    served.flood(frames)
    served.check_alive_and_quiet()


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    out = bytearray(frame)
    for _ in range(rng.randrange(4)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    if rng.random() < 0.2:
        out = out[: rng.randrange(14, len(out) + 1)]
    elif rng.random() < 0.1:
        out += rng.randbytes(rng.randrange(1, 400))
    return bytes(out)


def _request(mac: bytes, src: bytes, shelf: int, slot: int, command: int, arg: object, tag: int) -> bytes:
    header = Header(dst=mac, src=src, shelf=shelf, slot=slot, command=command, tag=tag)
    return encode_frame(Frame(header, arg))  # type: ignore[arg-type]


def _io(served: Served, frame: bytes, tag: int, timeout: float = 5.0) -> bytes:
    """Send one request and wait for the answer with its tag."""
    served.send(frame)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for answer in served.drain(quiet=0.05):
            if _HEAD.unpack_from(answer)[8] == tag:
                return answer
    raise AssertionError(f"no answer to tag {tag:#x} within {timeout} s:\n{served.target.stderr()}")


def test_a_flood_of_mutated_frames_leaves_the_process_small_and_the_file_intact(served: Served) -> None:
    mac = served.mac
    templates = []
    for src in FLOOD_SOURCES:
        templates += [
            _request(
                mac,
                src,
                1,
                2,
                0,
                AtaArg(aflags=1, sector_count=2, cmd_status=0x34, lba=3, data=bytes(1024)),
                5,
            ),
            _request(
                mac,
                src,
                1,
                3,
                0,
                AtaArg(aflags=1, sector_count=1, cmd_status=0x30, lba=1, data=bytes(512)),
                6,
            ),
            _request(
                mac,
                src,
                2,
                2,
                0,
                AtaArg(aflags=1, sector_count=1, cmd_status=0x30, lba=0, data=bytes(512)),
                7,
            ),
            _request(mac, src, 1, 2, 0, AtaArg(sector_count=2, cmd_status=0x24, lba=62), 8),
            _request(b"\xff" * 6, src, 0xFFFF, 0xFF, 0, AtaArg(sector_count=1, cmd_status=0xEC), 9),
            _request(mac, src, 1, 2, 1, ConfigArg(ccmd=3, config_string=b"x" * 1024), 10),
            _request(
                mac, src, 2, 2, 2, MaskArg(mcmd=1, directives=(Directive(1, src), Directive(2, HOST_A))), 11
            ),
            _request(mac, src, 2, 2, 3, ReserveArg(rcmd=2, macs=(src,)), 12),
            _request(mac, src, 1, 2, 0xF3, b"vendor" * 20, 13),
        ]
    rng = random.Random(7)
    served.flood([_mutate(rng, rng.choice(templates)) for _ in range(500)])  # warm up
    rss_before = vm_rss_kib(served.target.pid)
    served.flood([_mutate(rng, rng.choice(templates)) for _ in range(flood_frames())])
    served.drain(quiet=0.3)
    rss_after = vm_rss_kib(served.target.pid)
    served.check_alive_and_quiet()
    assert rss_after - rss_before < 8 * 1024, f"VmRSS grew from {rss_before} to {rss_after} KiB"
    assert served.answers > 0
    assert served.path.read_bytes() == initial_content(0), "the flood changed the file"

    # Still serving, and valid writes land where they should and nowhere else.
    model = initial_content(0)
    for i, (lba, count) in enumerate([(0, 1), (30, 2), (62, 2)]):
        data = bytes((i * 37 + j) % 256 for j in range(count * 512))
        frame = _request(
            mac,
            HOST_A,
            1,
            2,
            0,
            AtaArg(aflags=0x41, sector_count=count, cmd_status=0x34, lba=lba, data=data),
            0x100 + i,
        )
        answer = decode_frame(_io(served, frame, 0x100 + i))
        assert not answer.header.is_error and answer.arg.cmd_status == _DRDY  # type: ignore[union-attr]
        start = (16 + lba) * 512
        model[start : start + len(data)] = data
        read = _request(
            mac, HOST_B, 1, 2, 0, AtaArg(aflags=0x40, sector_count=count, cmd_status=0x24, lba=lba), 0x200 + i
        )
        got = decode_frame(_io(served, read, 0x200 + i))
        assert got.arg.data[: len(data)] == data  # type: ignore[union-attr]
    # The read-only window refuses, the masked window ignores the attacker.
    refused = decode_frame(
        _io(
            served,
            _request(
                mac,
                HOST_A,
                1,
                3,
                0,
                AtaArg(aflags=1, sector_count=1, cmd_status=0x30, data=bytes(512)),
                0x300,
            ),
            0x300,
        )
    )
    assert refused.arg.cmd_status == _DRDY | 1  # type: ignore[union-attr]
    served.send(
        _request(
            mac, ATTACKER, 2, 2, 0, AtaArg(aflags=1, sector_count=1, cmd_status=0x30, data=bytes(512)), 0x301
        )
    )
    assert all(_HEAD.unpack_from(a)[8] != 0x301 for a in served.drain(quiet=0.3))
    assert served.path.read_bytes() == model
    served.check_alive_and_quiet()
