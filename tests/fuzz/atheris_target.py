"""atheris (libFuzzer) harness for the target: coverage-guided frames through the fast path and
TargetEngine over three windows of a real file, every answer and byte checked by the oracle of
tests/fuzz/harness.py (an AssertionError is a finding, saved by libFuzzer as crash-*).

    .venv/bin/python tests/fuzz/atheris_target.py -runs=200000            # a campaign
    .venv/bin/python tests/fuzz/atheris_target.py -max_total_time=600 corpus/

The first input byte picks the destination, source and address; the rest is the frame from
the EtherType on (or from the AoE header on, with the EtherType fixed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["pyaoe"]):
    import pyaoe.protocol
    import pyaoe.target
    import pyaoe.target.fastpath  # noqa: F401

from fuzz.harness import ADDRESSES, SOURCES, TargetHarness

_DESTINATIONS = (b"", b"\xff" * 6, b"\x02\x99\x99\x99\x99\x99")  # b"": the target's own MAC
HARNESS = TargetHarness(mtu=int(os.environ.get("PYAOE_FUZZ_MTU", 9000)))
# libFuzzer ends the process without Python's exit handlers: leave no file behind.
os.unlink(HARNESS.path)
_count = 0


def frame_from(data: bytes) -> bytes:
    if not data:
        return b""
    pick, rest = data[0], data[1:]
    dst = _DESTINATIONS[pick % 3] or HARNESS.mac
    src = SOURCES[(pick >> 2) % len(SOURCES)]
    if pick & 0x10:
        return dst + src + rest  # any EtherType
    frame = bytearray(dst + src + b"\x88\xa2" + rest)
    if pick & 0x20 and len(frame) >= 19:
        shelf, slot = ADDRESSES[(pick >> 6) % len(ADDRESSES)]
        frame[16:19] = shelf.to_bytes(2, "big") + bytes((slot,))
    return bytes(frame)


def test_one_input(data: bytes) -> None:
    global _count
    HARNESS.feed(frame_from(data))
    _count += 1
    if _count % 256 == 0:
        HARNESS.check_storage()


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
