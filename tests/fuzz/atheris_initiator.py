"""atheris (libFuzzer) harness for the initiator engine: for each input, a read is in flight to
a real target engine and the input becomes frames slipped in before the target's answers: junk
from an attacker's MAC, or the target's own answer arriving on an interface outside the iflist.
Neither may change anything: the read must return the target's bytes and nothing may fail.

    .venv/bin/python tests/fuzz/atheris_initiator.py -runs=100000
    .venv/bin/python tests/fuzz/atheris_initiator.py -max_total_time=600 corpus/

The first input byte picks the mode, the interface and where the read goes; the rest is cut
into frames at every b"\\xa2\\x88" (so the fuzzer can send several).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["pyaoe"]):
    import pyaoe.initiator
    import pyaoe.protocol  # noqa: F401

from fuzz.initiator_rig import ATTACKER, IMAC, SECTORS, SHELF, SLOT, Rig
from pyaoe.initiator import RequestDone

RIG = Rig.make()
_INTERFACES = ("eth0", "eth1", "eth9")
_OUR_ADDRESS = SHELF.to_bytes(2, "big") + bytes((SLOT,))


def test_one_input(data: bytes) -> None:
    if not data:
        return
    pick, rest = data[0], data[1:]
    pieces = rest.split(b"\xa2\x88")[:8]
    offset = (pick * 4096) % ((SECTORS - 8) * 512)
    engine = RIG.engine
    rid = engine.submit_read((SHELF, SLOT), offset, 3000)

    def spoofs(answers: list[bytes]) -> list[tuple[str, bytes]]:
        out = []
        for piece in pieces:
            if pick & 1 and answers:
                # The real answer, damaged as the input says, on an interface outside the iflist.
                frame = bytearray(answers[0])
                for i, byte in enumerate(piece[:64]):
                    frame[(i * 7) % len(frame)] ^= byte
                out.append(("eth1", bytes(frame)))
            else:
                junk = bytearray(IMAC + ATTACKER + piece)
                if junk[16:19] == _OUR_ADDRESS:
                    # An attacker announcing our device becomes one of its targets (AoE has no
                    # authentication) and may then answer its own frames: not a finding.
                    junk[18] ^= 0x80
                out.append((_INTERFACES[(pick >> 1) % 3], bytes(junk)))
        pieces.clear()  # only before the first answers
        return out

    RIG.pump(spoofs, until=rid)
    done = RIG.results.pop(rid)
    assert isinstance(done, RequestDone), done
    assert bytes(done.data or b"") == RIG.backend.buffer[offset : offset + 3000], "read wrong data"


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
