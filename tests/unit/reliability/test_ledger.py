"""The ledger of acknowledged writes: what it accepts as intact, and what it counts as lost."""

from __future__ import annotations

from array import array

import pytest

from pyaoe.protocol import SECTOR_SIZE
from pyaoe.reliability.ledger import Ledger, scan_stamps, sector_bytes, write_bytes


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


def test_any_failed_version_since_the_last_acknowledged_one_may_be_found() -> None:
    disk, ledger = Disk(8), Ledger("e1.1", 0, 8)
    acked = ledger.plan(0, 8)
    disk.put(0, ledger.data(acked))
    ledger.acknowledged(acked)
    failures = [ledger.plan(0, 8) for _ in range(3)]
    for write in failures:
        ledger.failed(write)
    disk.put(2, ledger.data(failures[1])[2 * SECTOR_SIZE : 3 * SECTOR_SIZE])  # the middle one, in sector 2
    assert ledger.check(disk.read).lost == 0
    stray = ledger.plan(0, 8)  # planned, never sent: its version cannot be on the disk
    disk.put(3, ledger.data(stray)[3 * SECTOR_SIZE : 4 * SECTOR_SIZE])
    assert ledger.check(disk.read).lost == SECTOR_SIZE


def test_stamps_found_in_a_disk_image_show_what_reached_the_disk() -> None:
    ledger = Ledger("e1.1", 100, 16)
    first, second = ledger.plan(100, 8), ledger.plan(108, 8)
    for write in (first, second):
        ledger.acknowledged(write)
    # An image holding the first write (at some block far from its LBA) and half the second.
    image = (
        bytes(4096) + ledger.data(first) + b"\x00" * 7 + bytes(505) + ledger.data(second)[: 4 * SECTOR_SIZE]
    )
    stamps = scan_stamps(image)
    assert stamps == {(1, lba): 1 for lba in range(100, 108)} | {(1, lba): 2 for lba in range(108, 112)}
    verdict = ledger.check_stable(stamps)
    assert (verdict.verified, verdict.lost) == (12 * SECTOR_SIZE, 4 * SECTOR_SIZE)
    assert "not on the disk" in verdict.examples[0][2]
    # Against the ledger as it was before the second write, the image is complete.
    floor = array("Q", [1] * 8 + [0] * 8)
    assert ledger.check_stable(stamps, floor).lost == 0
