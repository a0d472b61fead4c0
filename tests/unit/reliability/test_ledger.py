"""The ledger of acknowledged writes: what it accepts as intact, and what it counts as lost."""

from __future__ import annotations

import pytest

from pyaoe.protocol import SECTOR_SIZE
from pyaoe.reliability.ledger import Ledger, sector_bytes, write_bytes


class Disk:
    """A bytearray standing for the storage, with the ledger's read(lba, count)."""

    def __init__(self, sectors: int) -> None:
        self.data = bytearray(sectors * SECTOR_SIZE)

    def put(self, lba: int, data: bytes) -> None:
        self.data[lba * SECTOR_SIZE : lba * SECTOR_SIZE + len(data)] = data

    def read(self, lba: int, count: int) -> bytes:
        return bytes(self.data[lba * SECTOR_SIZE : (lba + count) * SECTOR_SIZE])


def test_sectors_describe_themselves_and_differ() -> None:
    one, other = sector_bytes(1, 10, 3), sector_bytes(1, 10, 4)
    assert len(one) == SECTOR_SIZE and one != other
    assert write_bytes(1, 10, 2, 3) == one + sector_bytes(1, 11, 3)
    assert sector_bytes(2, 10, 3) != one  # another writer's sector is another sector


def test_acknowledged_writes_found_are_verified() -> None:
    disk, ledger = Disk(64), Ledger("e1.1", 16, 32)
    for lba, count in ((16, 4), (18, 8), (40, 8)):
        write = ledger.plan(lba, count)
        disk.put(lba, ledger.data(write))
        ledger.acknowledged(write)
    verdict = ledger.check(disk.read, chunk_sectors=5)
    assert (verdict.verified, verdict.lost, verdict.unsettled) == (18 * SECTOR_SIZE, 0, 0)
    assert ledger.written_runs() == [(0, 10), (24, 8)]
    assert ledger.check(disk.read, written_only=True).verified == 18 * SECTOR_SIZE


def test_a_stale_sector_a_garbled_one_and_a_stray_write_are_lost() -> None:
    disk, ledger = Disk(32), Ledger("e1.1", 0, 32)
    old = ledger.plan(0, 4)
    disk.put(0, ledger.data(old))
    ledger.acknowledged(old)
    new = ledger.plan(0, 4)
    ledger.acknowledged(new)
    disk.put(1, ledger.data(new)[SECTOR_SIZE : 2 * SECTOR_SIZE])  # only sector 1 got the new data
    disk.put(2, ledger.data(new)[2 * SECTOR_SIZE : 3 * SECTOR_SIZE])
    disk.data[2 * SECTOR_SIZE + 100] ^= 1  # one flipped bit
    disk.put(20, b"\x01")  # never written, yet not zero
    verdict = ledger.check(disk.read)
    assert verdict.lost == 4 * SECTOR_SIZE  # sectors 0, 2, 3 and 20
    assert verdict.verified == SECTOR_SIZE
    reasons = {lba: why for _device, lba, why in verdict.examples}
    assert "holds version 1, acknowledged 2" in reasons[0]
    assert "no valid write" in reasons[2]
    assert "never written" in reasons[20]


def test_a_failed_write_may_have_landed_or_not_until_a_later_one_is_acknowledged() -> None:
    disk, ledger = Disk(16), Ledger("e1.1", 0, 16)
    first = ledger.plan(0, 8)
    disk.put(0, ledger.data(first))
    ledger.acknowledged(first)
    failed = ledger.plan(4, 8)
    ledger.failed(failed)
    disk.put(4, ledger.data(failed)[: 2 * SECTOR_SIZE])  # part of it landed
    verdict = ledger.check(disk.read)
    assert (verdict.lost, verdict.unsettled) == (0, 8)
    assert ledger.expected(4, 2) is None  # unsettled: a read cannot be predicted
    later = ledger.plan(4, 8)
    ledger.acknowledged(later)
    assert ledger.check(disk.read).lost == 8 * SECTOR_SIZE  # now the later write must be there
    disk.put(4, ledger.data(later))
    assert ledger.check(disk.read).lost == 0
    assert ledger.expected(0, 16) == disk.read(0, 16)


def test_plans_outside_the_ledger_are_refused() -> None:
    ledger = Ledger("e1.1", 8, 8)
    with pytest.raises(ValueError):
        ledger.plan(7, 2)
    with pytest.raises(ValueError):
        ledger.plan(15, 2)
    with pytest.raises(ValueError):
        Ledger("e1.1", 0, 0)
