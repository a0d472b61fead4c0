"""pyaoe.fuse.partitions: MBR (primary, extended, logical) and GPT partition tables, read with the
rules of the Linux kernel's block/partitions (msdos.c, efi.c, core.c), as pure functions over bytes.

scan_partitions() is a generator that asks for sectors and is sent their bytes, so the same code
runs over a file, a memory image or the initiator's asynchronous reads.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "SECTOR_SIZE",
    "MAX_PARTITIONS",
    "Partition",
    "MbrEntry",
    "GptHeader",
    "ReadSectors",
    "parse_mbr",
    "is_protective_mbr",
    "parse_gpt_header",
    "parse_gpt_entries",
    "scan_partitions",
    "read_partitions",
]

SECTOR_SIZE = 512
#: The kernel's DISK_MAX_PARTS: partition numbers stay below it.
MAX_PARTITIONS = 256
#: Links followed through extended boot records without finding a data partition (msdos.c).
_MAX_EMPTY_LINKS = 100

_MBR_TABLE = 0x1BE
_MBR_ENTRY = struct.Struct("<B3sB3sII")  # boot flag, CHS start, type, CHS end, first LBA, sectors
_SIGNATURE = b"\x55\xaa"
#: DOS, Windows (LBA) and Linux extended partition types.
_EXTENDED_TYPES = frozenset({0x05, 0x0F, 0x85})
_GPT_PROTECTIVE = 0xEE
#: The kernel guards mkfs off an extended partition by giving it two sectors (room for LILO).
_EXTENDED_STUB_SECTORS = 2

_GPT_SIGNATURE = b"EFI PART"
# signature, revision, header size, header CRC, reserved, my LBA, alternate LBA, first usable,
# last usable, disk GUID, entries LBA, entry count, entry size, entries CRC
_GPT_HEADER = struct.Struct("<8sIIII QQQQ 16s QIII")
_GPT_ENTRY_SIZE = 128
_GPT_ENTRY = struct.Struct("<16s16sQQQ72s")  # type GUID, unique GUID, first, last, attributes, name
#: Largest entry array the kernel will allocate for (it refuses beyond KMALLOC_MAX_SIZE); a
#: bound here keeps a corrupt header from asking for gigabytes.
_GPT_MAX_ENTRIES_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition as eX.YpN: its number, first sector and length in 512-byte sectors."""

    number: int
    start: int
    sectors: int
    #: "primary", "extended" (the two-sector stub), "logical" or "gpt".
    scheme: str
    #: MBR type byte as "0x83", or the GPT partition type GUID.
    type: str
    #: GPT partition name ("" for MBR).
    label: str = ""

    @property
    def offset(self) -> int:
        return self.start * SECTOR_SIZE

    @property
    def size(self) -> int:
        return self.sectors * SECTOR_SIZE


@dataclass(frozen=True, slots=True)
class MbrEntry:
    """One of the four 16-byte entries of an MBR or an extended boot record."""

    boot: int
    type: int
    start: int
    sectors: int

    @property
    def is_extended(self) -> bool:
        return self.type in _EXTENDED_TYPES


@dataclass(frozen=True, slots=True)
class GptHeader:
    """The fields of a GPT header that locating the partitions needs."""

    my_lba: int
    alternate_lba: int
    first_usable: int
    last_usable: int
    disk_guid: str
    entries_lba: int
    entry_count: int
    entry_size: int
    entries_crc: int

    @property
    def entries_sectors(self) -> int:
        return -(-self.entry_count * self.entry_size // SECTOR_SIZE)


class ReadSectors(NamedTuple):
    """What scan_partitions() wants next: ``sectors`` sectors from ``lba``."""

    lba: int
    sectors: int


def parse_mbr(sector: bytes) -> list[MbrEntry] | None:
    """The four entries of a boot record, or None when it is not a partition table.

    As the kernel: no 55AA signature, or a boot flag other than 0 and 0x80 (a FAT boot sector,
    or garbage), means no table.
    """
    if len(sector) < SECTOR_SIZE or sector[510:512] != _SIGNATURE:
        return None
    entries = []
    for i in range(4):
        boot, _chs1, ptype, _chs2, start, count = _MBR_ENTRY.unpack_from(sector, _MBR_TABLE + 16 * i)
        if boot not in (0, 0x80):
            return None
        entries.append(MbrEntry(boot, ptype, start, count))
    return entries


def is_protective_mbr(sector: bytes) -> bool:
    """A protective (or hybrid) MBR: a type 0xEE entry starting at LBA 1 (efi.c is_pmbr_valid)."""
    if len(sector) < SECTOR_SIZE or sector[510:512] != _SIGNATURE:
        return False
    for i in range(4):
        _boot, _c1, ptype, _c2, start, _n = _MBR_ENTRY.unpack_from(sector, _MBR_TABLE + 16 * i)
        if ptype == _GPT_PROTECTIVE and start == 1:
            return True
    return False


def _has_gpt_entry(entries: list[MbrEntry]) -> bool:
    return any(e.type == _GPT_PROTECTIVE for e in entries)


def parse_gpt_header(sector: bytes, lba: int, total_sectors: int) -> GptHeader | None:
    """The GPT header in ``sector`` (read from ``lba``), or None unless the kernel would trust it:
    signature, size, CRC, its own LBA, usable range inside the disk, 128-byte entries."""
    if len(sector) < _GPT_HEADER.size:
        return None
    (sig, _rev, hsize, hcrc, _res, my_lba, alt_lba, first, last, guid, ent_lba, count, esize,
     ecrc) = _GPT_HEADER.unpack_from(sector)  # fmt: skip
    if sig != _GPT_SIGNATURE or not _GPT_HEADER.size <= hsize <= min(len(sector), SECTOR_SIZE):
        return None
    blank = bytearray(sector[:hsize])
    blank[16:20] = bytes(4)
    if zlib.crc32(blank) != hcrc:
        return None
    last_lba = total_sectors - 1
    if my_lba != lba or first > last_lba or last > last_lba or last < first:
        return None
    if esize != _GPT_ENTRY_SIZE or count * esize > _GPT_MAX_ENTRIES_BYTES:
        return None
    if ent_lba < 1 or ent_lba + -(-count * esize // SECTOR_SIZE) > total_sectors:
        return None
    return GptHeader(my_lba, alt_lba, first, last, str(uuid.UUID(bytes_le=guid)), ent_lba, count, esize, ecrc)


def parse_gpt_entries(data: bytes, header: GptHeader, total_sectors: int) -> list[Partition] | None:
    """The used entries of a GPT entry array (None when its CRC is wrong), numbered by position."""
    length = header.entry_count * header.entry_size
    if len(data) < length or zlib.crc32(data[:length]) != header.entries_crc:
        return None
    last_lba = total_sectors - 1
    parts = []
    for i in range(min(header.entry_count, MAX_PARTITIONS - 1)):
        ptype, _unique, first, last, _attrs, name = _GPT_ENTRY.unpack_from(data, i * header.entry_size)
        # An all-zero type is an unused entry; entries reaching past the disk are ignored (efi.c).
        if ptype == bytes(16) or first > last_lba or last > last_lba or last < first:
            continue
        label = name.decode("utf-16-le", "replace").split("\0", 1)[0]
        parts.append(Partition(i + 1, first, last - first + 1, "gpt", str(uuid.UUID(bytes_le=ptype)), label))
    return parts


def _scan_gpt(mbr: bytes, total_sectors: int) -> Generator[ReadSectors, bytes, list[Partition] | None]:
    """GPT partitions, or None when the disk has no GPT the kernel would read.

    Without the kernel's gpt= boot option only the primary header counts (the backup is read
    only when the primary is valid, to compare), so a disk whose primary is damaged has none.
    """
    if total_sectors < 2 or not is_protective_mbr(mbr):
        return None
    header = parse_gpt_header((yield ReadSectors(1, 1)), 1, total_sectors)
    if header is None:
        return None
    entries = yield ReadSectors(header.entries_lba, header.entries_sectors)
    return parse_gpt_entries(entries, header, total_sectors)


def _scan_extended(
    first: int, size: int, total_sectors: int, next_number: int
) -> Generator[ReadSectors, bytes, list[Partition]]:
    """Logical partitions in the chain of extended boot records that starts at sector ``first``.

    Logical starts count from their own boot record; the link to the next record counts from
    the start of the outer extended partition. Entries 3 and 4 are used only if they lie
    inside the extended partition (they often hold garbage).
    """
    found: list[Partition] = []
    here, here_size = first, size
    empty_links = 0
    number = next_number
    while True:
        empty_links += 1
        if empty_links > _MAX_EMPTY_LINKS or number >= MAX_PARTITIONS or here >= total_sectors:
            return found
        entries = _parse_ebr((yield ReadSectors(here, 1)))
        if entries is None:
            return found
        for i, e in enumerate(entries):
            if not e.sectors or e.is_extended:
                continue
            start = here + e.start
            if i >= 2 and (
                e.start + e.sectors > here_size or start < first or start + e.sectors > first + size
            ):
                continue
            found.append(Partition(number, start, e.sectors, "logical", f"0x{e.type:02x}"))
            empty_links = 0
            number += 1
            if number >= MAX_PARTITIONS:
                return found
        link = next((e for e in entries if e.sectors and e.is_extended), None)
        if link is None:
            return found
        here, here_size = first + link.start, link.sectors


def _parse_ebr(sector: bytes) -> list[MbrEntry] | None:
    """The entries of an extended boot record: only the signature is checked (msdos.c does not
    look at the boot flags of extended boot records)."""
    if len(sector) < SECTOR_SIZE or sector[510:512] != _SIGNATURE:
        return None
    entries = []
    for i in range(4):
        boot, _c1, ptype, _c2, start, count = _MBR_ENTRY.unpack_from(sector, _MBR_TABLE + 16 * i)
        entries.append(MbrEntry(boot, ptype, start, count))
    return entries


def _scan_mbr(mbr: bytes, total_sectors: int) -> Generator[ReadSectors, bytes, list[Partition]]:
    entries = parse_mbr(mbr)
    # A GPT disk whose GPT was not valid: msdos.c leaves it alone rather than read its PMBR.
    if entries is None or _has_gpt_entry(entries):
        return []
    parts: list[Partition] = []
    next_number = 5
    for slot, e in enumerate(entries, start=1):
        if not e.sectors:
            continue
        if e.is_extended:
            stub = min(e.sectors, _EXTENDED_STUB_SECTORS)
            parts.append(Partition(slot, e.start, stub, "extended", f"0x{e.type:02x}"))
            logical = yield from _scan_extended(e.start, e.sectors, total_sectors, next_number)
            parts += logical
            next_number += len(logical)
            continue
        parts.append(Partition(slot, e.start, e.sectors, "primary", f"0x{e.type:02x}"))
    return parts


def _fit(parts: list[Partition], total_sectors: int) -> list[Partition]:
    """As core.c: partitions starting past the end are dropped, those crossing it cut short."""
    fitted = []
    for p in sorted(parts, key=lambda p: p.number):
        if p.sectors == 0 or p.start >= total_sectors:
            continue
        if p.start + p.sectors > total_sectors:
            p = Partition(p.number, p.start, total_sectors - p.start, p.scheme, p.type, p.label)
        fitted.append(p)
    return fitted


def scan_partitions(total_sectors: int) -> Generator[ReadSectors, bytes, list[Partition]]:
    """Read a disk's partition table: yields the sectors it needs, is sent their bytes (short
    bytes mean the read failed or ran past the end), returns the partitions by number.

    GPT is tried first, as the kernel does; then MBR with extended and logical partitions
    (numbered from 5). A disk with neither has none.
    """
    if total_sectors < 1:
        return []
    mbr = yield ReadSectors(0, 1)
    gpt = yield from _scan_gpt(mbr, total_sectors)
    if gpt is not None:
        return _fit(gpt, total_sectors)
    return _fit((yield from _scan_mbr(mbr, total_sectors)), total_sectors)


def read_partitions(read: Callable[[int, int], bytes], total_sectors: int) -> list[Partition]:
    """scan_partitions() driven by a blocking ``read(lba, count) -> bytes``.

    Sectors past the end of the disk are not asked for: they come back empty.
    """
    scan = scan_partitions(total_sectors)
    try:
        request = next(scan)
        while True:
            count = max(0, min(request.sectors, total_sectors - request.lba))
            data = read(request.lba, count) if count else b""
            request = scan.send(data)
    except StopIteration as done:
        result: list[Partition] = done.value
        return result
