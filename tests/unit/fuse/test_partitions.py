"""Partition tables read as the kernel reads them: images written by sfdisk (checked against
util-linux's partx) and by hand for the corner cases (EBR garbage, loops, damaged GPT, limits)."""

from __future__ import annotations

import struct
import subprocess
import uuid
import zlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.fuse.partitions import (
    SECTOR_SIZE,
    Partition,
    ReadSectors,
    parse_gpt_header,
    parse_mbr,
    read_partitions,
    scan_partitions,
)

MiB_SECTORS = 2048
LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
SWAP = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"


def image_reader(data: bytes | bytearray):
    def read(lba: int, count: int) -> bytes:
        return bytes(data[lba * SECTOR_SIZE : (lba + count) * SECTOR_SIZE])

    return read


def partitions_of(path: Path) -> list[Partition]:
    data = path.read_bytes()
    return read_partitions(image_reader(data), len(data) // SECTOR_SIZE)


def sfdisk(path: Path, size_mib: int, script: str) -> Path:
    with path.open("wb") as f:
        f.truncate(size_mib << 20)
    subprocess.run(["sfdisk", "-q", "--no-reread", str(path)], input=script, text=True, check=True)
    return path


def partx(path: Path) -> list[tuple[int, int, int]]:
    """(number, start, sectors) of each partition as util-linux's libblkid reads the table."""
    out = subprocess.run(
        ["partx", "-g", "-o", "NR,START,SECTORS", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [tuple(int(w) for w in line.split()) for line in out.splitlines()]  # type: ignore[misc]


def summary(parts: list[Partition]) -> list[tuple[int, int, int]]:
    return [(p.number, p.start, p.sectors) for p in parts]


# -- images from sfdisk ---------------------------------------------------------------------------


def test_mbr_primary_extended_and_logical_partitions_match_partx(tmp_path: Path) -> None:
    img = sfdisk(
        tmp_path / "dos.img",
        64,
        "label: dos\n"
        "start=2048,size=20480,type=83\n"
        "start=22528,size=8192,type=82\n"
        "start=30720,type=5\n"
        "size=4096,type=83\n"
        "size=4096,type=83\n"
        "size=2048,type=7\n",
    )
    parts = partitions_of(img)
    expected = partx(img)
    # The kernel shows the extended partition as a two-sector stub; partx shows its full size.
    assert [p.number for p in parts] == [n for n, _s, _c in expected] == [1, 2, 3, 5, 6, 7]
    by_number = {p.number: p for p in parts}
    for number, start, sectors in expected:
        assert by_number[number].start == start
        assert by_number[number].sectors == (2 if number == 3 else sectors)
    assert by_number[3].scheme == "extended"
    assert [p.scheme for p in parts if p.number >= 5] == ["logical"] * 3
    assert by_number[1].type == "0x83" and by_number[2].type == "0x82" and by_number[7].type == "0x07"


def test_mbr_logical_partitions_are_numbered_from_5_even_with_one_primary(tmp_path: Path) -> None:
    img = sfdisk(tmp_path / "ext.img", 16, "label: dos\nstart=2048,type=f\nsize=2048\nsize=2048\n")
    parts = partitions_of(img)
    assert [(p.number, p.scheme) for p in parts] == [(1, "extended"), (5, "logical"), (6, "logical")]
    assert summary(parts)[1:] == partx(img)[1:]


def test_gpt_partitions_keep_their_entry_numbers_and_names(tmp_path: Path) -> None:
    img = sfdisk(
        tmp_path / "gpt.img",
        16,
        "label: gpt\n"
        f'img1 : start=2048, size=4096, type={LINUX}, name="root"\n'
        f"img3 : start=8192, size=2048, type={SWAP}\n",
    )
    parts = partitions_of(img)
    assert summary(parts) == partx(img) == [(1, 2048, 4096), (3, 8192, 2048)]
    assert parts[0].scheme == "gpt" and parts[0].type == LINUX.lower() and parts[0].label == "root"
    assert parts[1].type == SWAP.lower()


def test_gpt_with_a_damaged_primary_header_is_not_read(tmp_path: Path) -> None:
    """The kernel (without the gpt= option) trusts the backup only next to a valid primary."""
    img = sfdisk(tmp_path / "gpt.img", 16, f"label: gpt\nstart=2048, size=4096, type={LINUX}\n")
    data = bytearray(img.read_bytes())
    data[SECTOR_SIZE + 40] ^= 0xFF  # first usable LBA: the CRC no longer matches
    assert read_partitions(image_reader(data), len(data) // SECTOR_SIZE) == []


def test_gpt_with_damaged_entries_is_not_read(tmp_path: Path) -> None:
    img = sfdisk(tmp_path / "gpt.img", 16, f"label: gpt\nstart=2048, size=4096, type={LINUX}\n")
    data = bytearray(img.read_bytes())
    data[2 * SECTOR_SIZE + 40] ^= 0x01  # the first entry's last LBA
    assert read_partitions(image_reader(data), len(data) // SECTOR_SIZE) == []


def test_gpt_needs_its_protective_mbr(tmp_path: Path) -> None:
    img = sfdisk(tmp_path / "gpt.img", 16, f"label: gpt\nstart=2048, size=4096, type={LINUX}\n")
    data = bytearray(img.read_bytes())
    data[510:512] = b"\0\0"
    assert read_partitions(image_reader(data), len(data) // SECTOR_SIZE) == []


def test_gpt_reads_only_the_sectors_it_needs(tmp_path: Path) -> None:
    img = sfdisk(tmp_path / "gpt.img", 16, f"label: gpt\nstart=2048, size=4096, type={LINUX}\n")
    data = img.read_bytes()
    scan = scan_partitions(len(data) // SECTOR_SIZE)
    asked = [next(scan)]
    try:
        while True:
            r = asked[-1]
            asked.append(scan.send(image_reader(data)(r.lba, r.sectors)))
    except StopIteration as done:
        assert len(done.value) == 1
    assert asked == [ReadSectors(0, 1), ReadSectors(1, 1), ReadSectors(2, 32)]


# -- hand-built MBRs for the corner cases -----------------------------------------------------------


def entry(ptype: int, start: int, sectors: int, boot: int = 0) -> bytes:
    return struct.pack("<B3sB3sII", boot, b"\0\0\0", ptype, b"\0\0\0", start, sectors)


def boot_record(*entries: bytes) -> bytes:
    table = b"".join(entries).ljust(64, b"\0")
    return bytes(0x1BE) + table + b"\x55\xaa"


def disk(total: int, records: dict[int, bytes]) -> bytearray:
    data = bytearray(total * SECTOR_SIZE)
    for lba, record in records.items():
        data[lba * SECTOR_SIZE : (lba + 1) * SECTOR_SIZE] = record
    return data


def scan(data: bytearray) -> list[Partition]:
    return read_partitions(image_reader(data), len(data) // SECTOR_SIZE)


def test_no_signature_no_partitions() -> None:
    data = disk(100, {0: bytes(SECTOR_SIZE)})
    assert scan(data) == []
    assert parse_mbr(bytes(SECTOR_SIZE)) is None


def test_a_bad_boot_flag_means_no_table() -> None:
    """A FAT boot sector also ends in 55AA; the kernel tells it apart by the boot flags."""
    data = disk(100, {0: boot_record(entry(0x83, 10, 20, boot=0x12))})
    assert scan(data) == []
    assert scan(disk(100, {0: boot_record(entry(0x83, 10, 20, boot=0x80))})) == [
        Partition(1, 10, 20, "primary", "0x83")
    ]


def test_empty_slots_keep_their_numbers() -> None:
    table = boot_record(entry(0, 0, 0), entry(0x83, 10, 20), entry(0, 0, 0), entry(0x0C, 40, 5))
    data = disk(100, {0: table})
    assert summary(scan(data)) == [(2, 10, 20), (4, 40, 5)]


def test_partitions_past_the_end_are_cut_or_dropped() -> None:
    data = disk(100, {0: boot_record(entry(0x83, 10, 500), entry(0x83, 150, 10))})
    assert summary(scan(data)) == [(1, 10, 90)]


def test_a_protective_mbr_without_a_valid_gpt_shows_nothing() -> None:
    data = disk(100, {0: boot_record(entry(0xEE, 1, 99))})
    assert scan(data) == []


def test_ebr_entries_3_and_4_outside_the_extended_partition_are_ignored() -> None:
    ebr = boot_record(entry(0x83, 1, 9), entry(0, 0, 0), entry(0x83, 500, 10), entry(0x83, 2, 3))
    data = disk(1000, {0: boot_record(entry(0x05, 100, 50)), 100: ebr})
    # Entry 3 lies outside the extended partition; entry 4 lies inside and is kept.
    assert summary(scan(data)) == [(1, 100, 2), (5, 101, 9), (6, 102, 3)]


def test_ebr_links_count_from_the_extended_start_and_logicals_from_their_ebr() -> None:
    first = boot_record(entry(0x83, 2, 10), entry(0x05, 20, 30))
    second = boot_record(entry(0x83, 2, 10))
    data = disk(1000, {0: boot_record(entry(0x0F, 100, 100)), 100: first, 120: second})
    assert summary(scan(data)) == [(1, 100, 2), (5, 102, 10), (6, 122, 10)]


def test_an_ebr_chain_that_loops_ends() -> None:
    looping = boot_record(entry(0x05, 0, 50))  # links back to itself, no data partition
    data = disk(1000, {0: boot_record(entry(0x05, 100, 50)), 100: looping})
    assert summary(scan(data)) == [(1, 100, 2)]


def test_a_looping_chain_with_data_partitions_stops_at_the_partition_limit() -> None:
    looping = boot_record(entry(0x83, 1, 5), entry(0x05, 0, 50))
    data = disk(1000, {0: boot_record(entry(0x05, 100, 50)), 100: looping})
    parts = scan(data)
    assert parts[-1].number == 255 and len(parts) == 1 + 251


def test_an_ebr_past_the_end_is_not_read() -> None:
    data = disk(200, {0: boot_record(entry(0x05, 150, 100))})
    data[150 * SECTOR_SIZE : 151 * SECTOR_SIZE] = boot_record(entry(0x83, 1, 10), entry(0x05, 100, 10))
    assert summary(scan(data)) == [(1, 150, 2), (5, 151, 10)]


# -- hand-built GPT ---------------------------------------------------------------------------------


def gpt_disk(total: int, entries: list[tuple[str, int, int]], count: int = 128) -> bytearray:
    table = bytearray(count * 128)
    for i, (ptype, first, last) in enumerate(entries):
        struct.pack_into("<16s16sQQQ", table, i * 128, uuid.UUID(ptype).bytes_le, bytes(16), first, last, 0)
    header = bytearray(struct.pack(
        "<8sIIII QQQQ 16s QIII", b"EFI PART", 0x10000, 92, 0, 0, 1, total - 1, 34, total - 34,
        bytes(16), 2, count, 128, zlib.crc32(table),
    ))  # fmt: skip
    struct.pack_into("<I", header, 16, zlib.crc32(header))
    data = disk(total, {0: boot_record(entry(0xEE, 1, total - 1))})
    data[SECTOR_SIZE : SECTOR_SIZE + len(header)] = header
    data[2 * SECTOR_SIZE : 2 * SECTOR_SIZE + len(table)] = table
    return data


def test_gpt_entries_reaching_past_the_disk_are_skipped() -> None:
    data = gpt_disk(1000, [(LINUX, 40, 99), (LINUX, 100, 5000), (LINUX, 200, 100)])
    assert summary(scan(data)) == [(1, 40, 60)]


def test_gpt_header_checks() -> None:
    data = gpt_disk(1000, [(LINUX, 40, 99)])
    header = bytes(data[SECTOR_SIZE : 2 * SECTOR_SIZE])
    assert parse_gpt_header(header, 1, 1000) is not None
    assert parse_gpt_header(header, 2, 1000) is None  # not where it says it is
    assert parse_gpt_header(header, 1, 500) is None  # usable range past the end


def test_hybrid_mbr_uses_the_gpt() -> None:
    data = gpt_disk(1000, [(LINUX, 40, 99)])
    data[0:SECTOR_SIZE] = boot_record(entry(0xEE, 1, 39), entry(0x83, 40, 60))
    assert [(p.number, p.scheme) for p in scan(data)] == [(1, "gpt")]


# -- robustness -------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=8 * SECTOR_SIZE), st.integers(min_value=0, max_value=64))
def test_any_bytes_give_partitions_inside_the_disk(raw: bytes, total: int) -> None:
    data = bytearray(raw)
    if len(data) >= SECTOR_SIZE:
        data[510:512] = b"\x55\xaa"
    parts = read_partitions(image_reader(data), total)
    numbers = [p.number for p in parts]
    assert numbers == sorted(set(numbers))
    for p in parts:
        assert 1 <= p.number < 256 and p.sectors > 0 and p.start + p.sectors <= total


def test_short_reads_end_the_scan() -> None:
    data = gpt_disk(1000, [(LINUX, 40, 99)])
    assert read_partitions(lambda lba, count: b"" if lba else image_reader(data)(lba, count), 1000) == []
