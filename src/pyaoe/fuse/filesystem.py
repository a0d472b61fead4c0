"""pyaoe.fuse.filesystem: EtherdFileSystem, the pyfuse3 Operations serving the tree: lookups,
attributes, directory listings, and open/read/write/fsync/release/poll of every kind of file.

Device files are served with direct_io: a write() returns only once the target acknowledged
every frame, fsync sends FLUSH CACHE (EXT). What the control files do is in fuse.controls;
keeping the tree in step with the initiator's devices is in fuse.devices.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import select
from typing import Any

import pyfuse3
import trio

from pyaoe.fuse.attributes import device_attribute, parameter, version_text
from pyaoe.fuse.controls import Controls, TextHandle
from pyaoe.fuse.devices import DeviceHandle, DeviceTracker
from pyaoe.fuse.errlog import WAKE_INTERVAL, ErrCursor, ErrLog, signal_pending
from pyaoe.fuse.futures import FutureWaiter
from pyaoe.fuse.tree import Kind, Node, Tree
from pyaoe.service.initiator.operations import InitiatorLike

__all__ = ["EtherdFileSystem"]

log = logging.getLogger("pyaoe.fuse")

FileName = pyfuse3.FileNameT
Inode = pyfuse3.InodeT
FH = pyfuse3.FileHandleT

#: Cache lifetimes (s): the fixed skeleton for long, devices and what hangs off them briefly
#: (changes are also pushed to the kernel with invalidations).
STATIC_TIMEOUT = 60.0
DYNAMIC_TIMEOUT = 1.0
#: What stat says of a sysfs attribute (sysfs files claim one page).
ATTRIBUTE_SIZE = 4096
BLOCK_SIZE = 4096


def _disk_gid() -> int:
    try:
        return grp.getgrnam("disk").gr_gid
    except KeyError:
        return os.getegid()


class ErrHandle:
    """One open of err: its cursor, whether it may block, and who opened it."""

    __slots__ = ("cursor", "nonblock", "tid")

    def __init__(self, cursor: ErrCursor, nonblock: bool, tid: int) -> None:
        self.cursor = cursor
        self.nonblock = nonblock
        self.tid = tid


class DirHandle:
    __slots__ = ("entries",)

    def __init__(self, entries: list[Node]) -> None:
        self.entries = entries


Handle = DeviceHandle | TextHandle | ErrHandle | DirHandle


class EtherdFileSystem(pyfuse3.Operations):
    """The initiator's tree over an InitiatorService (or anything that keeps its contract)."""

    def __init__(self, service: InitiatorLike) -> None:
        super().__init__()
        self.service = service
        self.tree = Tree()
        self.errlog = ErrLog()
        self.waiter = FutureWaiter()
        self.devices = DeviceTracker(service, self.tree, self.waiter)
        self.controls = Controls(service, self.devices)
        self.devices.subscribe(self.errlog)
        self._handles: dict[int, Handle] = {}
        self._next_fh = 1
        self._uid = os.geteuid()
        self._disk_gid = _disk_gid()

    # -- life ----------------------------------------------------------------------------------
    async def start(self, nursery: trio.Nursery) -> None:
        """Show the devices already up and handle the service's events (inside trio)."""
        await self.devices.start(nursery)
        self.waiter.attach()

    def stop(self) -> None:
        """Let every waiting request go (the daemon calls this before ending the FUSE loop)."""
        # Blocked err readers notice within WAKE_INTERVAL and get end of file.
        self.waiter.stop()

    def _new_handle(self, handle: Handle) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self._handles[fh] = handle
        return fh

    def _handle(self, fh: int) -> Handle:
        handle = self._handles.get(fh)
        if handle is None:
            raise pyfuse3.FUSEError(errno.EBADF)
        return handle

    # -- attributes ----------------------------------------------------------------------------
    def _node(self, inode: int) -> Node:
        node = self.tree.get(inode)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return node

    def _attributes(self, node: Node) -> pyfuse3.EntryAttributes:
        attr = pyfuse3.EntryAttributes()
        attr.st_ino = node.inode
        attr.st_mode = node.mode
        kind = node.kind
        if kind is Kind.DIR:
            attr.st_nlink = 2 + sum(1 for c in (node.children or {}).values() if c.kind is Kind.DIR)
        else:
            attr.st_nlink = 1
        attr.st_uid = self._uid
        in_etherd = kind in (Kind.DEVICE, Kind.PARTITION, Kind.CONTROL, Kind.ERR)
        attr.st_gid = self._disk_gid if in_etherd else os.getegid()
        size = 0
        if kind is Kind.DEVICE:
            size = self.devices.size(node.device)
        elif kind is Kind.PARTITION and node.partition is not None:
            size = node.partition.size
        elif kind in (Kind.ATTRIBUTE, Kind.PARAMETER, Kind.VERSION):
            size = ATTRIBUTE_SIZE
        attr.st_size = size
        attr.st_blksize = BLOCK_SIZE
        attr.st_blocks = -(-size // 512) if kind in (Kind.DEVICE, Kind.PARTITION) else 0
        attr.st_atime_ns = attr.st_mtime_ns = attr.st_ctime_ns = node.created_ns
        timeout = DYNAMIC_TIMEOUT if node.device else STATIC_TIMEOUT
        attr.entry_timeout = attr.attr_timeout = timeout
        return attr

    async def lookup(
        self, parent_inode: Inode, name: FileName, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        text = os.fsdecode(name)
        if text == ".":
            return self._attributes(self._node(parent_inode))
        if text == "..":
            return self._attributes(self._node(self._node(parent_inode).parent))
        node = self.tree.lookup(parent_inode, text)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return self._attributes(node)

    async def getattr(self, inode: Inode, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        return self._attributes(self._node(inode))

    async def setattr(
        self,
        inode: Inode,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: FH | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        # O_TRUNC (a shell's ">") and touch are accepted and ignored, as a device node ignores
        # them; ownership and modes are fixed.
        if fields.update_mode or fields.update_uid or fields.update_gid:
            raise pyfuse3.FUSEError(errno.EPERM)
        return self._attributes(self._node(inode))

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = BLOCK_SIZE
        data.f_files = len(self.tree.nodes)
        data.f_namemax = 255
        return data

    # -- directories ---------------------------------------------------------------------------
    async def opendir(self, inode: Inode, ctx: pyfuse3.RequestContext) -> FH:
        node = self._node(inode)
        if node.kind is not Kind.DIR:
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        return self._new_handle(DirHandle(self.tree.children(inode)))

    async def readdir(self, fh: FH, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        handle = self._handle(fh)
        if not isinstance(handle, DirHandle):
            raise pyfuse3.FUSEError(errno.ENOTDIR)
        for index in range(start_id, len(handle.entries)):
            node = handle.entries[index]
            if not pyfuse3.readdir_reply(token, os.fsencode(node.name), self._attributes(node), index + 1):
                break

    async def releasedir(self, fh: FH) -> None:
        self._handles.pop(fh, None)

    # -- open and close ------------------------------------------------------------------------
    async def open(self, inode: Inode, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        node = self._node(inode)
        access = flags & os.O_ACCMODE
        reads = access in (os.O_RDONLY, os.O_RDWR)
        writes = access in (os.O_WRONLY, os.O_RDWR)
        kind = node.kind
        handle: Handle
        if kind is Kind.DIR:
            raise pyfuse3.FUSEError(errno.EISDIR)
        if kind in (Kind.DEVICE, Kind.PARTITION):
            handle = await self.devices.open(node)
        elif kind is Kind.ERR:
            if writes:
                raise pyfuse3.FUSEError(errno.EACCES)
            handle = ErrHandle(self.errlog.cursor(), bool(flags & os.O_NONBLOCK), ctx.pid)
        elif kind is Kind.CONTROL:
            if reads and node.key != "interfaces":
                raise pyfuse3.FUSEError(errno.EACCES)
            text = parameter(self.service.config, self.service.iflist, "aoe_iflist") if reads else ""
            handle = TextHandle(node.key, text.encode())
        else:
            if writes and node.key != "aoe_iflist":
                raise pyfuse3.FUSEError(errno.EACCES)
            handle = TextHandle(node.key, (await self._text(node)).encode())
        return pyfuse3.FileInfo(fh=self._new_handle(handle), direct_io=True, keep_cache=False)

    async def _text(self, node: Node) -> str:
        if node.kind is Kind.VERSION:
            return version_text()
        if node.kind is Kind.PARAMETER:
            return parameter(self.service.config, self.service.iflist, node.key)
        try:
            info = await trio.to_thread.run_sync(self.service.device_info, node.device)
        except (OSError, ValueError):
            raise pyfuse3.FUSEError(errno.ENOENT) from None
        return device_attribute(info, node.key)

    async def flush(self, fh: FH) -> None:
        pass  # nothing is held back: writes were acknowledged before write() returned

    async def release(self, fh: FH) -> None:
        handle = self._handles.pop(fh, None)
        if isinstance(handle, DeviceHandle):
            await self.devices.close(handle)

    # -- data ----------------------------------------------------------------------------------
    async def read(self, fh: FH, off: int, size: int) -> bytes:
        handle = self._handle(fh)
        if isinstance(handle, DeviceHandle):
            # pyfuse3 takes any buffer (it replies from the buffer protocol).
            return await self.devices.read(handle, off, size)  # type: ignore[return-value]
        if isinstance(handle, TextHandle):
            return handle.data[off : off + size]
        if isinstance(handle, ErrHandle):
            return await self._read_err(handle, size)
        raise pyfuse3.FUSEError(errno.EISDIR)

    async def _read_err(self, handle: ErrHandle, size: int) -> bytes:
        """The next lines; blocks until one comes (EAGAIN if opened O_NONBLOCK)."""
        while True:
            data = self.errlog.take(handle.cursor, size)
            if data:
                return data
            if handle.nonblock:
                raise pyfuse3.FUSEError(errno.EAGAIN)
            if self.waiter.stopping:
                return b""
            await self.errlog.wait(WAKE_INTERVAL)
            if not self.errlog.ready(handle.cursor) and signal_pending(handle.tid):
                raise pyfuse3.FUSEError(errno.EINTR)

    async def write(self, fh: FH, off: int, buf: bytes) -> int:
        handle = self._handle(fh)
        if isinstance(handle, DeviceHandle):
            return await self.devices.write(handle, off, buf)
        if isinstance(handle, TextHandle):
            return await self.controls.write(handle.key, buf)
        raise pyfuse3.FUSEError(errno.EBADF)

    async def fsync(self, fh: FH, datasync: bool) -> None:
        handle = self._handle(fh)
        if isinstance(handle, DeviceHandle):
            await self.devices.flush_cache(handle)

    async def poll(self, inode: Inode, fh: FH, poll_handle: Any, ctx: pyfuse3.RequestContext) -> int:
        handle = self._handle(fh)
        if not isinstance(handle, ErrHandle):
            return select.POLLIN | select.POLLOUT | select.POLLRDNORM | select.POLLWRNORM
        if self.errlog.ready(handle.cursor):
            return select.POLLIN | select.POLLRDNORM
        if poll_handle is not None:
            self.errlog.watch(poll_handle.notify)
        return 0

    # -- nothing can be made or removed by hand ------------------------------------------------
    async def create(self, *args: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EPERM)

    async def mknod(self, *args: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EPERM)

    async def mkdir(self, *args: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EPERM)

    async def unlink(self, *args: Any) -> None:
        raise pyfuse3.FUSEError(errno.EPERM)

    async def rmdir(self, *args: Any) -> None:
        raise pyfuse3.FUSEError(errno.EPERM)

    async def rename(self, *args: Any) -> None:
        raise pyfuse3.FUSEError(errno.EPERM)

    async def symlink(self, *args: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EPERM)

    async def link(self, *args: Any) -> Any:
        raise pyfuse3.FUSEError(errno.EPERM)
