"""pyaoe.storage.file: an export backed by a regular file (sparse or not) or a block device.

A window of the file (vblade -o/-l, in sectors), read-only, O_DIRECT (-d) and O_SYNC (-s) modes.
Reads and writes are vectored (preadv/pwritev): the target's fast path moves a whole run of
contiguous frames in one call. Nothing is memory-mapped: a full disk or a bad sector is an error
code (ENOSPC, EIO), never a SIGBUS, and the process's RSS does not grow with the export.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import stat
import struct
from collections.abc import Callable, Sequence

from pyaoe.protocol import SECTOR_SIZE
from pyaoe.storage.window import export_window

__all__ = ["FileBackend", "device_size"]

_Vectored = Callable[[int, Sequence[memoryview], int], int]
_BLKGETSIZE64 = 0x80081272
#: O_DIRECT needs 512-byte aligned memory; an mmap is page aligned. Large enough for any frame.
_BOUNCE_SIZE = 256 * SECTOR_SIZE


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
            self._base, self._size = export_window(device_size(self.fd), offset, length, f"file {path}")
        except BaseException:
            os.close(self.fd)
            raise
        self._readonly = readonly
        self.direct = direct
        self.sync = sync
        self._bounce = mmap.mmap(-1, _BOUNCE_SIZE) if direct else None

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
        return self.readv((buf,), offset)

    def write(self, data: memoryview, offset: int) -> int:
        return self.writev((data,), offset)

    def readv(self, buffers: Sequence[memoryview], offset: int) -> int:
        """Fill ``buffers`` in turn from ``offset`` (one preadv for a whole run of frames)."""
        length = sum(map(len, buffers))
        if offset < 0 or offset + length > self._size:
            self._check(offset, length)
        if self._bounce is not None:
            return self._bounced(self._bounce, buffers, offset, writing=False)
        done = os.preadv(self.fd, buffers, self._base + offset)
        if done < length:
            done += self._finish(buffers, offset, done, length, os.preadv)
        return done

    def writev(self, buffers: Sequence[memoryview], offset: int) -> int:
        """Write ``buffers`` in turn from ``offset``, all before returning (one pwritev)."""
        if self._readonly:
            raise PermissionError(1, "export is read-only")
        length = sum(map(len, buffers))
        if offset < 0 or offset + length > self._size:
            self._check(offset, length)
        if self._bounce is not None:
            return self._bounced(self._bounce, buffers, offset, writing=True)
        done = os.pwritev(self.fd, buffers, self._base + offset)
        if done < length:
            done += self._finish(buffers, offset, done, length, os.pwritev)
        return done

    def _finish(
        self, buffers: Sequence[memoryview], offset: int, done: int, length: int, call: _Vectored
    ) -> int:
        """Carry on after a short transfer; stop at end of file (0) and let errors raise."""
        more = 0
        while done + more < length:
            rest = _skip(buffers, done + more)
            n = call(self.fd, rest, self._base + offset + done + more)
            if n == 0:
                break
            more += n
        return more

    def _bounced(self, aligned: mmap.mmap, buffers: Sequence[memoryview], offset: int, writing: bool) -> int:
        """O_DIRECT wants aligned memory: go through the page-aligned bounce buffer."""
        bounce = memoryview(aligned)
        done = 0
        for buf in buffers:
            pos = 0
            while pos < len(buf):
                chunk = min(len(buf) - pos, _BOUNCE_SIZE)
                where = self._base + offset + done
                if writing:
                    bounce[:chunk] = buf[pos : pos + chunk]
                    n = os.pwrite(self.fd, bounce[:chunk], where)
                else:
                    n = os.preadv(self.fd, [bounce[:chunk]], where)
                    buf[pos : pos + n] = bounce[:n]
                done += n
                pos += n
                if n < chunk:
                    return done
        return done

    def flush(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self._bounce is not None:
            self._bounce.close()
            self._bounce = None


def _skip(buffers: Sequence[memoryview], count: int) -> list[memoryview]:
    """``buffers`` without their first ``count`` bytes."""
    rest = []
    for buf in buffers:
        if count >= len(buf):
            count -= len(buf)
            continue
        rest.append(buf[count:])
        count = 0
    return rest
