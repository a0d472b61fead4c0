"""pyaoe.storage.file: an export backed by a regular file (sparse or not) or a block device.

A window of the file (vblade -o/-l, in sectors), read-only, O_DIRECT (-d) and O_SYNC (-s) modes.
Reads may go through a read-only shared mapping; writes always use pwrite, so a full disk is an
error code (ENOSPC), never a SIGBUS. A file on tmpfs is never mapped: there even reading a hole
through the mapping needs space, and a full tmpfs answers that with SIGBUS.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import stat
import struct

from pyaoe.protocol import SECTOR_SIZE

__all__ = ["FileBackend", "device_size"]

_BLKGETSIZE64 = 0x80081272
#: O_DIRECT needs 512-byte aligned memory; an mmap is page aligned. Large enough for any frame.
_BOUNCE_SIZE = 256 * SECTOR_SIZE
#: statfs f_type of tmpfs: its page cache is its storage (see the module docstring).
_TMPFS_MAGIC = 0x01021994
_libc = ctypes.CDLL(None, use_errno=True)


def _on_tmpfs(fd: int) -> bool:
    """True when the open regular file ``fd`` lives on a tmpfs."""
    buf = ctypes.create_string_buffer(256)  # struct statfs, f_type first
    if _libc.fstatfs(fd, buf) != 0:
        return False
    return bool(struct.unpack_from("@l", buf)[0] == _TMPFS_MAGIC)


def device_size(fd: int) -> int:
    """Size in bytes of an open regular file or block device."""
    st = os.fstat(fd)
    if stat.S_ISBLK(st.st_mode):
        buf = fcntl.ioctl(fd, _BLKGETSIZE64, b"\0" * 8)
        return int(struct.unpack("Q", buf)[0])
    if stat.S_ISREG(st.st_mode):
        return st.st_size
    # A directory opens fine read-only (vblade -r); say what it is, with an errno, so callers
    # can report it as they report a failed open.
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory")
    raise OSError(errno.ENOTBLK, "not a regular file or block device")


class FileBackend:
    """Sectors [offset, offset+length) of a file or block device.

    ``offset`` and ``length`` count 512-byte sectors, as vblade's -o and -l do; a length of
    None exports everything after the offset. Raises OSError for a file it cannot open and
    ValueError for a window that does not fit.
    """

    def __init__(
        self,
        path: str,
        *,
        offset: int = 0,
        length: int | None = None,
        readonly: bool = False,
        direct: bool = False,
        sync: bool = False,
    ) -> None:
        flags = (os.O_RDONLY if readonly else os.O_RDWR) | os.O_CLOEXEC
        if direct:
            flags |= os.O_DIRECT
        if sync:
            flags |= os.O_SYNC
        self.path = path
        self.fd = os.open(path, flags)
        try:
            total = device_size(self.fd) // SECTOR_SIZE
            if offset < 0:
                raise ValueError(f"offset {offset} is negative")
            if total == 0:
                raise ValueError(f"{path} is smaller than one {SECTOR_SIZE}-byte sector")
            if total <= offset:
                raise ValueError(f"offset {offset} too large for {total}-sector file {path}")
            available = total - offset
            if length is None:
                length = available
            elif length < 1:
                raise ValueError(f"length {length} must be at least 1 sector")
            elif length > available:
                raise ValueError(
                    f"length {length} too big: {path} has {available} sectors after offset {offset}"
                )
        except BaseException:
            os.close(self.fd)
            raise
        self._base = offset * SECTOR_SIZE
        self._size = length * SECTOR_SIZE
        self._readonly = readonly
        self.direct = direct
        self.sync = sync
        self._bounce = mmap.mmap(-1, _BOUNCE_SIZE) if direct else None
        self._map: mmap.mmap | None = None
        #: The export window mapped into memory, for reads without a system call (the target's
        #: fast path copies straight from it); None with O_DIRECT, which must bypass the cache.
        self.read_view: memoryview | None = None
        if not direct:
            self._map_window()

    def _map_window(self) -> None:
        if stat.S_ISREG(os.fstat(self.fd).st_mode) and _on_tmpfs(self.fd):
            return  # reads of holes through a mapping could SIGBUS once the tmpfs is full
        # mmap offsets must be page aligned: map from the page holding the window's start.
        start = self._base - self._base % mmap.ALLOCATIONGRANULARITY
        try:
            self._map = mmap.mmap(
                self.fd, self._base + self._size - start, mmap.MAP_SHARED, mmap.PROT_READ, offset=start
            )
        except (OSError, ValueError, OverflowError):
            return  # not mappable (some character devices, huge windows on 32-bit): use pread
        self.read_view = memoryview(self._map)[self._base - start : self._base - start + self._size]

    @property
    def size(self) -> int:
        return self._size

    @property
    def readonly(self) -> bool:
        return self._readonly

    def _check(self, offset: int, length: int) -> None:
        # The engine checks ranges; this is the last line that keeps I/O inside the window.
        if offset < 0 or offset + length > self._size:
            raise OSError(22, f"{length} bytes at {offset} fall outside the {self._size}-byte export")

    def read_into(self, buf: memoryview, offset: int) -> int:
        self._check(offset, len(buf))
        if self._bounce is not None and len(buf) <= _BOUNCE_SIZE:
            n = os.preadv(self.fd, [memoryview(self._bounce)[: len(buf)]], self._base + offset)
            buf[:n] = self._bounce[:n]
            return n
        done = 0
        while done < len(buf):
            n = os.preadv(self.fd, [buf[done:]], self._base + offset + done)
            if n == 0:
                break
            done += n
        return done

    def write(self, data: memoryview, offset: int) -> int:
        if self._readonly:
            raise PermissionError(1, "export is read-only")
        length = len(data)
        if offset < 0 or offset + length > self._size:
            self._check(offset, length)
        if self._bounce is not None and length <= _BOUNCE_SIZE:
            self._bounce[:length] = data
            return os.pwrite(self.fd, memoryview(self._bounce)[:length], self._base + offset)
        done = os.pwrite(self.fd, data, self._base + offset)
        while done < length:
            done += os.pwrite(self.fd, data[done:], self._base + offset + done)
        return done

    def flush(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.read_view is not None:
            self.read_view.release()
            self.read_view = None
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._bounce is not None:
            self._bounce.close()
            self._bounce = None
