"""pyaoe.reliability.ledger: what was written and acknowledged, sector by sector, and the check
that the storage still holds it.

Every sector a load writes describes itself: a header (magic, writer, LBA, version) and a body
derived from the header. So a sector read back says which write it came from; the ledger says
which writes were acknowledged, and a sector older than its last acknowledged write is lost.
"""

from __future__ import annotations

import hashlib
import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from pyaoe.protocol import SECTOR_SIZE

__all__ = ["Ledger", "PlannedWrite", "Verdict", "sector_bytes", "write_bytes", "scan_stamps", "SECTOR_MAGIC"]

SECTOR_MAGIC = b"PyAo"
#: magic, writer, LBA, version: the self-description at the start of every written sector.
_HEADER = struct.Struct("<4sIQQ")
_BODY = SECTOR_SIZE - _HEADER.size
# The body is a slice of one fixed pool chosen by a hash of the header: cheap to make and to
# check, and different for every (LBA, version), so a stale or misplaced sector shows.
_POOL = b"".join(hashlib.blake2b(i.to_bytes(4, "little"), digest_size=64).digest() for i in range(1024))
_POOL_SPAN = len(_POOL) - _BODY
_ZERO = bytes(SECTOR_SIZE)


def _body(lba: int, version: int, writer: int) -> bytes:
    start = (lba * 2654435761 + version * 40503 + writer * 97) % _POOL_SPAN
    return _POOL[start : start + _BODY]


def sector_bytes(writer: int, lba: int, version: int) -> bytes:
    """The 512 bytes version ``version`` of ``writer`` puts at sector ``lba``."""
    return _HEADER.pack(SECTOR_MAGIC, writer, lba, version) + _body(lba, version, writer)


def write_bytes(writer: int, lba: int, count: int, version: int) -> bytes:
    """The data of one write: ``count`` sectors from ``lba``, each stamped with ``version``."""
    pack = _HEADER.pack
    return b"".join(
        pack(SECTOR_MAGIC, writer, s, version) + _body(s, version, writer) for s in range(lba, lba + count)
    )


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One write of the load: sectors [lba, lba + count) of ``device``, stamped ``version``."""

    device: str
    lba: int
    count: int
    version: int

    @property
    def end(self) -> int:
        return self.lba + self.count


@dataclass
class Verdict:
    """What a check of one ledger found."""

    #: Bytes of sectors written at least once and acknowledged, found holding the right write.
    verified: int = 0
    #: Bytes of sectors that hold an older write than the last acknowledged one, or garbage.
    lost: int = 0
    #: Sectors whose last write was never acknowledged (failed): found old or new, both fine.
    unsettled: int = 0
    #: The first few lost sectors, for the report: (device, lba, why).
    examples: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, other: Verdict) -> None:
        self.verified += other.verified
        self.lost += other.lost
        self.unsettled += other.unsettled
        self.examples += other.examples[: max(0, 5 - len(self.examples))]


class Ledger:
    """Sectors [first, first + count) of one device, written by one writer.

    plan() hands out a write with a new version; acknowledged() records it as landed;
    failed() records that it may or may not have landed (any part of it). The latest
    acknowledged version of each sector is what the storage must hold.
    """

    def __init__(self, device: str, first: int, count: int, writer: int = 1) -> None:
        if first < 0 or count < 1:
            raise ValueError(f"bad range {first}+{count}")
        self.device = device
        self.first = first
        self.count = count
        self.writer = writer
        self._version = 0
        #: Latest acknowledged version per sector (0: never written, the initial zeros).
        self.acked = array("Q", bytes(8 * count))
        #: Latest failed version per sector. Writes to one sector never overlap in flight, so
        #: every version between the acknowledged one and this one that carries the sector's
        #: LBA was a failed write to it, and may have landed.
        self.failed_max = array("Q", bytes(8 * count))
        self.acknowledged_bytes = 0

    def plan(self, lba: int, count: int) -> PlannedWrite:
        if lba < self.first or lba + count > self.first + self.count or count < 1:
            raise ValueError(f"write {lba}+{count} outside {self.first}+{self.count}")
        self._version += 1
        return PlannedWrite(self.device, lba, count, self._version)

    def data(self, write: PlannedWrite) -> bytes:
        return write_bytes(self.writer, write.lba, write.count, write.version)

    def acknowledged(self, write: PlannedWrite) -> None:
        base = write.lba - self.first
        acked = self.acked
        for i in range(base, base + write.count):
            acked[i] = write.version
        self.acknowledged_bytes += write.count * SECTOR_SIZE

    def failed(self, write: PlannedWrite) -> None:
        base = write.lba - self.first
        failed_max = self.failed_max
        for i in range(base, base + write.count):
            failed_max[i] = write.version

    def expected(self, lba: int, count: int) -> bytes | None:
        """What sectors [lba, lba + count) must hold now, or None when one is unsettled."""
        base = lba - self.first
        parts = []
        for i in range(base, base + count):
            version = self.acked[i]
            if self.failed_max[i] > version:
                return None
            parts.append(sector_bytes(self.writer, self.first + i, version) if version else _ZERO)
        return b"".join(parts)

    def written_runs(self) -> list[tuple[int, int]]:
        """(first index, count) of every run of sectors written at least once (acknowledged or not)."""
        runs: list[tuple[int, int]] = []
        acked, failed_max = self.acked, self.failed_max
        start = -1
        for i in range(self.count + 1):
            written = i < self.count and (acked[i] != 0 or failed_max[i] != 0)
            if written and start < 0:
                start = i
            elif not written and start >= 0:
                runs.append((start, i - start))
                start = -1
        return runs

    def check(
        self, read: Callable[[int, int], bytes], chunk_sectors: int = 2048, *, written_only: bool = False
    ) -> Verdict:
        """Check every sector (or only those ever written) against the ledger; ``read(lba,
        count)`` returns the sectors (from the backing file, or through an initiator)."""
        verdict = Verdict()
        runs = self.written_runs() if written_only else [(0, self.count)]
        for first, count in runs:
            for start in range(first, first + count, chunk_sectors):
                n = min(chunk_sectors, first + count - start)
                data = read(self.first + start, n)
                if len(data) != n * SECTOR_SIZE:
                    raise OSError(f"{self.device}: short read at {self.first + start}: {len(data)} bytes")
                self._check_chunk(start, memoryview(data), verdict)
        return verdict

    def _check_chunk(self, start: int, data: memoryview, verdict: Verdict) -> None:
        acked, failed_max = self.acked, self.failed_max
        zero = _ZERO
        for i in range(len(data) // SECTOR_SIZE):
            index = start + i
            sector = data[i * SECTOR_SIZE : (i + 1) * SECTOR_SIZE]
            want = acked[index]
            newest = failed_max[index]
            unsettled = newest > want
            lba = self.first + index
            if unsettled:
                verdict.unsettled += 1
            if want == 0 and not unsettled:
                if sector != zero:
                    self._lose(verdict, lba, "never written, not zeros")
                continue
            found = self._version_in(sector, lba)
            if found == want or (unsettled and found is not None and want < found <= newest):
                if want:
                    verdict.verified += SECTOR_SIZE
                continue
            if found is None:
                self._lose(verdict, lba, f"holds no valid write (acknowledged version {want})")
            else:
                self._lose(verdict, lba, f"holds version {found}, acknowledged {want}")

    def _version_in(self, sector: memoryview, lba: int) -> int | None:
        """The version a sector holds (0 for zeros), or None when it is no write of ours."""
        if sector[:4] != SECTOR_MAGIC:
            return 0 if sector == _ZERO else None
        _magic, writer, where, version = _HEADER.unpack_from(sector)
        if writer != self.writer or where != lba or sector[_HEADER.size :] != _body(lba, version, writer):
            return None
        return int(version)

    def _lose(self, verdict: Verdict, lba: int, why: str) -> None:
        verdict.lost += SECTOR_SIZE
        if len(verdict.examples) < 5:
            verdict.examples.append((self.device, lba, why))

    def check_stable(self, stamps: dict[tuple[int, int], int], floor: array[int] | None = None) -> Verdict:
        """Check what a disk image holds (``stamps`` from scan_stamps) against the ledger: each
        sector must be there at its acknowledged version, or at one written later. ``floor``
        (a copy of ``acked`` taken at a FLUSH CACHE) checks against that moment instead."""
        verdict = Verdict()
        wanted = self.acked if floor is None else floor
        for index, want in enumerate(wanted):
            if not want:
                continue
            lba = self.first + index
            found = stamps.get((self.writer, lba))
            if found is not None and found >= want:
                verdict.verified += SECTOR_SIZE
            else:
                why = "not on the disk" if found is None else f"version {found} on the disk"
                self._lose(verdict, lba, f"{why}, acknowledged {want}")
        return verdict


def scan_stamps(image: bytes, stamps: dict[tuple[int, int], int] | None = None) -> dict[tuple[int, int], int]:
    """Every intact written sector found at a 512-byte boundary of ``image`` (a whole disk: file
    data blocks are aligned there), as (writer, LBA) -> the highest version found."""
    found = {} if stamps is None else stamps
    view = memoryview(image)
    at = image.find(SECTOR_MAGIC)
    while at >= 0:
        if at % SECTOR_SIZE == 0 and at + SECTOR_SIZE <= len(image):
            _magic, writer, lba, version = _HEADER.unpack_from(image, at)
            if view[at + _HEADER.size : at + SECTOR_SIZE] == _body(lba, version, writer):
                key = (writer, lba)
                if version > found.get(key, 0):
                    found[key] = version
            at = image.find(SECTOR_MAGIC, at + SECTOR_SIZE)
        else:
            at = image.find(SECTOR_MAGIC, at - at % SECTOR_SIZE + SECTOR_SIZE)
    return found
