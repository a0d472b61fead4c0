"""pyaoe.nbd.gateway: the initiator's AoE devices as NBD exports (what `pyaoe nbd` serves).

Every device the initiator knows is export eX.Y; its partitions (read with the FUSE tree's
parser, so both name them alike) are eX.YpN. A device that goes down fails its requests with
EIO; the initiator brings it back and later requests work again.
"""

from __future__ import annotations

import logging
import re

from pyaoe import AsyncInitiator
from pyaoe.fuse.partitions import SECTOR_SIZE, Partition, scan_partitions
from pyaoe.initiator import DeviceInfo
from pyaoe.nbd.server import BASE_FLAGS, Disk
from pyaoe.protocol.nbd.options import ExportInfo
from pyaoe.protocol.nbd.wire import TransmissionFlag

__all__ = ["AoeExports", "AoeDisk", "PREFERRED_BLOCK", "MAXIMUM_BLOCK"]

log = logging.getLogger("pyaoe.nbd")

#: eX.Y or eX.YpN, as the FUSE tree names devices and partitions.
_EXPORT_NAME = re.compile(r"(e\d+\.\d+)(?:p(\d+))?")
#: What clients should send: whole 4 KiB pages, up to 32 MiB in one request.
PREFERRED_BLOCK = 4096
MAXIMUM_BLOCK = 32 << 20


def _describe(info: DeviceInfo) -> str:
    return f"AoE {info.name}, {info.state}"


class AoeDisk:
    """One export: a whole device or a partition of it (``base`` bytes into it)."""

    def __init__(self, initiator: AsyncInitiator, device: str, base: int, info: ExportInfo) -> None:
        self.initiator = initiator
        self.device = device
        self.base = base
        self.info = info

    async def read(self, offset: int, length: int) -> bytearray:
        buffer = bytearray(length)
        await self.initiator.read_into(self.device, self.base + offset, buffer)
        return buffer

    async def write(self, offset: int, data: bytes) -> None:
        await self.initiator.write(self.device, self.base + offset, data)

    async def flush(self) -> None:
        # FLUSH CACHE EXT to every target of the device, answered before we answer.
        await self.initiator.flush_cache(self.device)


class AoeExports:
    """The ExportProvider of `pyaoe nbd`: devices and partitions of ``initiator``."""

    def __init__(self, initiator: AsyncInitiator) -> None:
        self.initiator = initiator

    def _info(self, name: str, size: int, description: str) -> ExportInfo:
        # Several connections see one device through one initiator: no cache of ours sits
        # between them and the target, and FLUSH CACHE EXT makes every answered write stable,
        # whichever connection it came from. That is what NBD_FLAG_CAN_MULTI_CONN promises.
        return ExportInfo(
            name=name,
            size=size,
            flags=BASE_FLAGS | TransmissionFlag.CAN_MULTI_CONN,
            minimum_block=SECTOR_SIZE,
            preferred_block=PREFERRED_BLOCK,
            maximum_block=MAXIMUM_BLOCK,
            description=description,
        )

    async def list_exports(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for info in sorted(await self.initiator.devices(), key=lambda i: (i.address.shelf, i.address.slot)):
            if not info.sectors:
                continue
            out.append((info.name, _describe(info)))
            for part in await self._partitions(info.name, info.sectors):
                out.append((f"{info.name}p{part.number}", f"partition {part.number} of {info.name}"))
        return out

    async def open_export(self, name: str) -> Disk | None:
        match = _EXPORT_NAME.fullmatch(name)
        if match is None:
            return None
        device, number = match.group(1), match.group(2)
        try:
            info = await self.initiator.device_info(device)
        except (OSError, ValueError):
            return None
        if not info.sectors:
            return None
        if not number:
            return AoeDisk(
                self.initiator,
                info.name,
                0,
                self._info(info.name, info.sectors * SECTOR_SIZE, _describe(info)),
            )
        for part in await self._partitions(info.name, info.sectors):
            if part.number == int(number):
                described = self._info(name, part.size, f"partition {part.number} of {info.name}")
                return AoeDisk(self.initiator, info.name, part.offset, described)
        return None

    async def _partitions(self, device: str, sectors: int) -> list[Partition]:
        """The device's partitions, read now (a table written since the last look counts)."""
        scan = scan_partitions(sectors)
        try:
            request = next(scan)
            while True:
                count = max(0, min(request.sectors, sectors - request.lba))
                data = b""
                if count:
                    data = await self.initiator.read(device, request.lba * SECTOR_SIZE, count * SECTOR_SIZE)
                request = scan.send(data)
        except StopIteration as done:
            table: list[Partition] = done.value
            return table
        except (OSError, ValueError) as exc:
            log.info("%s: cannot read the partition table: %s", device, exc)
            return []
