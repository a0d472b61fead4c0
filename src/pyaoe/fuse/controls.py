"""pyaoe.fuse.controls: what a write to a control file does (discover, interfaces, revalidate,
flush, and the writable aoe_iflist parameter), each write(2) being one request as in the driver.

Errors are the write's errno: EINVAL for a bad name or interface list, ENODEV for a device
nobody knows, EBUSY for flushing a device that is open (the driver would drop it anyway).
"""

from __future__ import annotations

import errno
import logging

import pyfuse3
import trio

from pyaoe.fuse.devices import DeviceTracker
from pyaoe.initiator import DeviceInfo, parse_device_name
from pyaoe.service.initiator.operations import InitiatorLike

__all__ = ["Controls", "TextHandle", "REVALIDATE_SCAN_TIMEOUT"]

log = logging.getLogger("pyaoe.fuse")

#: How long a revalidate write waits for the device's new IDENTIFY answer, and how often it looks.
REVALIDATE_WAIT = 3.0
REVALIDATE_POLL = 0.01
#: How long a revalidate write waits for the partition table to be read again.
REVALIDATE_SCAN_TIMEOUT = 10.0


class TextHandle:
    """An open attribute, parameter or control file: the text read (taken at open, as sysfs
    does) and the key that says what a write means."""

    __slots__ = ("data", "key")

    def __init__(self, key: str, data: bytes) -> None:
        self.key = key
        self.data = data


def _text(buf: bytes) -> str:
    # aoe-interfaces ends its list with a NUL; echo adds a newline.
    return buf.replace(b"\0", b" ").decode("utf-8", "surrogateescape")


class Controls:
    def __init__(self, service: InitiatorLike, devices: DeviceTracker) -> None:
        self.service = service
        self.devices = devices

    async def write(self, key: str, buf: bytes) -> int:
        if key == "discover":
            await trio.to_thread.run_sync(self.service.discover)
        elif key in ("interfaces", "aoe_iflist"):
            await self._set_iflist(_text(buf))
        elif key == "revalidate":
            await self._revalidate(_text(buf).strip())
        elif key == "flush":
            await self._flush(_text(buf).strip())
        else:
            raise pyfuse3.FUSEError(errno.EACCES)
        return len(buf)

    async def _set_iflist(self, text: str) -> None:
        try:
            await trio.to_thread.run_sync(self.service.set_iflist, text)
        except ValueError as exc:
            log.warning("could not set interface list: %s", exc)
            raise pyfuse3.FUSEError(errno.EINVAL) from None
        log.info("interfaces: %s", " ".join(self.service.iflist) or "all")

    async def _revalidate(self, text: str) -> None:
        # The driver reads the first name (sscanf "e%d.%d"): `aoe-revalidate e1.0 e1.1` writes both.
        words = text.split()
        try:
            name = parse_device_name(words[0] if words else "").name
        except ValueError:
            raise pyfuse3.FUSEError(errno.EINVAL) from None
        try:
            before = await trio.to_thread.run_sync(self.service.device_info, name)
            await trio.to_thread.run_sync(self.service.revalidate, name)
        except (OSError, ValueError) as exc:
            log.debug("revalidate %s: %s", name, exc)
            raise pyfuse3.FUSEError(errno.EINVAL) from None
        await self._settle(name, before)

    def revalidated(self, name: str, before: DeviceInfo) -> None:
        """``name`` was revalidated elsewhere (`pyaoe ctl --initiator revalidate`): read its size
        and partitions anew, as after a write to the revalidate file. Safe from any thread."""
        self.devices.waiter.call_soon(self.devices.start_soon, self._settle, name, before)

    async def _settle(self, name: str, before: DeviceInfo) -> None:
        # Unlike the driver's, this write returns once the device answered its new IDENTIFY
        # (or after REVALIDATE_WAIT): the new size is there for the next command. Each answer
        # gives the device a new identify object, so identity tells a new answer from the old.
        with trio.move_on_after(REVALIDATE_WAIT):
            while True:
                try:
                    info = await trio.to_thread.run_sync(self.service.device_info, name)
                except OSError as exc:  # flushed meanwhile, or the initiator stopped
                    log.info("revalidate %s: %s", name, exc)
                    return
                if info.up and info.identify is not before.identify:
                    self.devices.refresh(info)
                    break
                await trio.sleep(REVALIDATE_POLL)
        # Ours also reads the partition table again (the driver leaves that to BLKRRPART).
        with trio.move_on_after(REVALIDATE_SCAN_TIMEOUT):
            await self.devices.rescan(name)

    async def _flush(self, text: str) -> None:
        if text not in ("", "all"):
            try:
                text = parse_device_name(text).name
            except ValueError:
                raise pyfuse3.FUSEError(errno.EINVAL) from None
            if self.devices.is_open(text):
                raise pyfuse3.FUSEError(errno.EBUSY)
        try:
            dropped = await trio.to_thread.run_sync(self.service.flush_devices, text)
        except (OSError, ValueError) as exc:
            log.debug("flush %r: %s", text, exc)
            raise pyfuse3.FUSEError(errno.ENODEV) from None
        for name in dropped:
            await self.devices.forget(name)
