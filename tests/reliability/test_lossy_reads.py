"""Reads and writes through the initiator over a wire where nftables drops 1 % and 10 % of the AoE
frames arriving at each end, served by Debian's vblade: every byte comes back as written, and
losses were found by later answers (fast retransmit), not only by timeouts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pyaoe.reliability.faults import DEADSECS, namespace_pair, wait_up
from pyaoe.reliability.peers import lossy_wire, nft_counters, start_initiator, start_target

pytestmark = pytest.mark.netns

MiB = 1 << 20
VBLADE = "/usr/sbin/vblade"


@pytest.mark.parametrize("drop", [1, 10])
def test_reads_and_writes_over_a_lossy_wire_lose_nothing(drop: int, tmp_path: Path) -> None:
    rng = random.Random(drop)
    size = 8 * MiB
    expected = bytearray(rng.randbytes(size))
    path = tmp_path / "lossy.img"
    path.write_bytes(expected)
    with namespace_pair() as (lab, target_ns, initiator_ns, here, there):
        lossy_wire(lab, target_ns, there.ifname, drop, 0)
        lossy_wire(lab, initiator_ns, here.ifname, drop, 0)
        argv = ["5", "1", there.ifname, str(path)]
        with start_target(lab, target_ns, argv, command=(VBLADE,), workdir=tmp_path):
            service = start_initiator(initiator_ns, [here.ifname], deadsecs=DEADSECS)
            try:
                wait_up(service, "e5.1")
                # Writes of any size and alignment, several at once, then the whole device
                # read back in 1 MiB requests, one after the other (dd's pattern).
                for _ in range(6):
                    pending = []
                    for quarter in range(4):  # apart: the order of overlapping writes is the caller's
                        offset = quarter * size // 4 + rng.randrange(size // 4 - 300_000)
                        data = rng.randbytes(rng.randrange(1, 300_000))
                        expected[offset : offset + len(data)] = data
                        pending.append(service.write("e5.1", offset, data))
                    for future in pending:
                        future.result(120)
                got = b"".join(service.read("e5.1", o, MiB).result(120) for o in range(0, size, MiB))
                counters = service.counters
            finally:
                service.stop()
            dropped = sum(nft_counters(lab, ns)[0] for ns in (target_ns, initiator_ns))
    assert got == expected, "read back over the lossy wire"
    assert path.read_bytes() == expected, "in vblade's file"
    assert dropped > 0
    assert counters.fast_retransmits > 0
    assert counters.retransmits >= counters.fast_retransmits
