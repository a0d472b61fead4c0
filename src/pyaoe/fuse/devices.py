"""pyaoe.fuse.devices: the device side of the file system: keeping etherd/eX.Y[pN] and
sys/block/etherd!eX.Y in step with the initiator's events, and the device files' I/O.

A device appears once it has come up (as the driver makes its disk at the first IDENTIFY) and
stays, up or down, until it is flushed. Its partitions are read again whenever it comes up,
changes size or is revalidated. Opens reach the service (open_device/close_device), so a device
that goes down while open reads ``down,closewait``.
"""

from __future__ import annotations

import errno
import logging
import os
from collections import Counter
from concurrent.futures import Future
from typing import TypeVar

import pyfuse3
import trio

from pyaoe.fuse.errlog import ErrLog
from pyaoe.fuse.futures import FutureWaiter, Stopped
from pyaoe.fuse.partitions import SECTOR_SIZE, scan_partitions
from pyaoe.fuse.tree import Kind, Node, Removed, Tree
from pyaoe.initiator import DeviceChanged, DeviceInfo, DeviceRemoved, DeviceUp, Diagnostic, InitiatorEvent
from pyaoe.service.initiator.operations import InitiatorLike

__all__ = ["DeviceHandle", "DeviceTracker", "RESCAN_TIMEOUT"]

log = logging.getLogger("pyaoe.fuse")
T = TypeVar("T")

#: Longest wait for a partition table read (a device that stops answering mid-scan).
RESCAN_TIMEOUT = 30.0


class DeviceHandle:
    """An open device or partition file: the device, where the file starts on it, and its
    length (None: the whole device, whose size can change)."""

    __slots__ = ("base", "device", "length")

    def __init__(self, device: str, base: int, length: int | None) -> None:
        self.device = device
        self.base = base
        self.length = length


class DeviceTracker:
    """Devices in the tree, their sizes, open counts and partition scans."""

    def __init__(self, service: InitiatorLike, tree: Tree, waiter: FutureWaiter) -> None:
        self.service = service
        self.tree = tree
        self.waiter = waiter
        self._sectors: dict[str, int] = {}
        self._opens: Counter[str] = Counter()
        self._scan_locks: dict[str, trio.Lock] = {}
        self._forgetting: dict[str, trio.Event] = {}
        self._nursery: trio.Nursery | None = None
        self._errlog: ErrLog | None = None

    def subscribe(self, errlog: ErrLog) -> None:
        """Hear the service's events from now on (before it starts: none is missed; they wait
        for trio)."""
        self._errlog = errlog
        self.service.add_listener(self._from_io_thread)

    async def start(self, nursery: trio.Nursery) -> None:
        """Inside trio: take the devices already up, then handle events as they come."""
        self._nursery = nursery
        try:
            infos = await trio.to_thread.run_sync(self.service.devices)
        except OSError as exc:  # the service already failed; the daemon's watch unmounts
            log.error("cannot list the devices: %s", exc)
            infos = []
        for info in infos:
            if info.up or info.sectors:
                self._appear(info.name, info.sectors)

    # -- events (the listener runs on the service's I/O thread; the rest on trio's) -------------
    def _from_io_thread(self, event: InitiatorEvent) -> None:
        if isinstance(event, Diagnostic | DeviceUp | DeviceChanged | DeviceRemoved):
            self.waiter.call_soon(self._on_event, event)

    def _on_event(self, event: InitiatorEvent) -> None:
        if isinstance(event, Diagnostic):
            if self._errlog is not None:
                self._errlog.append(event.text)
        elif isinstance(event, DeviceUp):
            self._appear(event.device.name, event.sectors)
        elif isinstance(event, DeviceChanged):
            if event.device.name in self.tree.devices and event.sectors != self._sectors.get(
                event.device.name
            ):
                self._appear(event.device.name, event.sectors)
        elif isinstance(event, DeviceRemoved):
            self._start(self.forget, event.device.name)

    def _appear(self, name: str, sectors: int) -> None:
        known = name in self.tree.devices
        node = self.tree.add_device(name)
        old = self._sectors.get(name)
        self._sectors[name] = sectors
        if not known:
            log.info("%s: %d sectors (%s)", name, sectors, _human(sectors * SECTOR_SIZE))
        elif old != sectors:
            log.info("%s: now %d sectors", name, sectors)
            self._start(self._invalidate_attributes, node.inode)
        self._start(self.rescan, name)

    def refresh(self, info: DeviceInfo) -> None:
        """Take a device's size from a fresh snapshot (revalidate), if it is in the tree."""
        if info.name in self.tree.devices and info.sectors != self._sectors.get(info.name):
            self._appear(info.name, info.sectors)

    async def forget(self, name: str) -> None:
        """Take the device and everything of it out of the tree; returns once the kernel has
        dropped the entries it had cached (also when another call is already doing it: a flush
        write and the service's DeviceRemoved event both come here)."""
        busy = self._forgetting.get(name)
        if busy is not None:
            await busy.wait()
            return
        self._sectors.pop(name, None)
        removed = self.tree.remove_device(name)
        if not removed:
            return
        log.info("%s: flushed", name)
        done = self._forgetting[name] = trio.Event()
        try:
            await self._invalidate_entries(removed)
        finally:
            del self._forgetting[name]
            done.set()

    def start_soon(self, fn: object, *args: object) -> None:
        """Run ``fn(*args)`` as a task of the tree's (on trio's thread, once it started)."""
        self._start(fn, *args)

    def _start(self, fn: object, *args: object) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(fn, *args)  # type: ignore[arg-type]

    # -- kernel caches ---------------------------------------------------------------------------
    @staticmethod
    async def _invalidate_entries(removed: list[Removed]) -> None:
        # In a worker thread: the kernel makes the notification wait while a lookup in the
        # same directory is in progress, and that lookup needs the trio thread.
        for entry in removed:
            try:
                await trio.to_thread.run_sync(
                    pyfuse3.invalidate_entry, entry.parent, os.fsencode(entry.name), entry.inode
                )
            except Exception as exc:  # the kernel had no such entry cached (ENOENT)
                log.debug("cannot invalidate %s: %s", entry.name, exc)

    @staticmethod
    async def _invalidate_attributes(inode: int) -> None:
        # In a worker thread: the kernel may make the notification wait on a request of ours.
        try:
            await trio.to_thread.run_sync(pyfuse3.invalidate_inode, inode, True)
        except Exception as exc:  # the kernel never looked it up (ENOENT), or not mounted
            log.debug("cannot invalidate inode %d: %s", inode, exc)

    # -- partitions ------------------------------------------------------------------------------
    async def rescan(self, name: str) -> None:
        """Read the device's partition table again and make eX.YpN match it. A read that fails
        leaves the partitions as they were."""
        lock = self._scan_locks.setdefault(name, trio.Lock())
        async with lock:
            sectors = self._sectors.get(name, 0)
            if name not in self.tree.devices:
                return
            table = None
            with trio.move_on_after(RESCAN_TIMEOUT):
                try:
                    scan = scan_partitions(sectors)
                    request = next(scan)
                    while True:
                        count = max(0, min(request.sectors, sectors - request.lba))
                        data = b""
                        if count:
                            future = self.service.read(name, request.lba * SECTOR_SIZE, count * SECTOR_SIZE)
                            data = await self.waiter.wait(future)
                        request = scan.send(data)
                except StopIteration as done:
                    table = done.value
                except (OSError, ValueError, Stopped) as exc:
                    log.info("%s: cannot read the partition table: %s", name, exc)
            if table is None or name not in self.tree.devices:
                return
            added, removed = self.tree.set_partitions(name, table)
            await self._invalidate_entries(removed)
            for node in added:
                assert node.partition is not None
                log.info("%s: %d sectors from %d", node.name, node.partition.sectors, node.partition.start)

    # -- files -----------------------------------------------------------------------------------
    def size(self, name: str) -> int:
        return self._sectors.get(name, 0) * SECTOR_SIZE

    def is_open(self, name: str) -> bool:
        return self._opens[name] > 0

    async def open(self, node: Node) -> DeviceHandle:
        try:
            await trio.to_thread.run_sync(self.service.open_device, node.device)
        except (OSError, ValueError) as exc:
            # The driver's open of a disk that is not up: ENODEV.
            log.debug("open %s: %s", node.name, exc)
            raise pyfuse3.FUSEError(errno.ENODEV) from None
        self._opens[node.device] += 1
        if node.kind is Kind.PARTITION and node.partition is not None:
            return DeviceHandle(node.device, node.partition.offset, node.partition.size)
        return DeviceHandle(node.device, 0, None)

    async def close(self, handle: DeviceHandle) -> None:
        self._opens[handle.device] -= 1
        if self._opens[handle.device] <= 0:
            del self._opens[handle.device]
        try:
            await trio.to_thread.run_sync(self.service.close_device, handle.device)
        except Exception as exc:  # flushed meanwhile, or the service stopped
            log.debug("close %s: %s", handle.device, exc)

    def _length(self, handle: DeviceHandle) -> int:
        return self.size(handle.device) if handle.length is None else handle.length

    async def read(self, handle: DeviceHandle, off: int, size: int) -> bytes | memoryview:
        length = self._length(handle)
        if off >= length or size <= 0:
            return b""
        n = min(size, length - off)
        read_into = getattr(self.service, "read_into", None)
        if read_into is None:
            return await self._io(handle, self.service.read(handle.device, handle.base + off, n))
        # The answer lands in our buffer once, and pyfuse3 replies from it: one copy fewer.
        buffer = bytearray(n)
        got = await self._io(handle, read_into(handle.device, handle.base + off, buffer))
        return memoryview(buffer)[:got]

    async def write(self, handle: DeviceHandle, off: int, buf: bytes) -> int:
        length = self._length(handle)
        if not buf:
            return 0
        if off >= length:
            raise pyfuse3.FUSEError(errno.ENOSPC)
        n = min(len(buf), length - off)
        data = buf if n == len(buf) else buf[:n]
        await self._io(handle, self.service.write(handle.device, handle.base + off, data))
        return n

    async def flush_cache(self, handle: DeviceHandle) -> None:
        await self._io(handle, self.service.flush_cache(handle.device))

    async def _io(self, handle: DeviceHandle, future: Future[T]) -> T:
        try:
            return await self.waiter.wait(future)
        except (OSError, ValueError, Stopped) as exc:
            # As the block device: any failure is EIO (the err file and the log say why).
            log.debug("%s: %s", handle.device, exc)
            raise pyfuse3.FUSEError(errno.EIO) from None


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
