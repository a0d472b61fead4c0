"""pyaoe.copy.endpoints: the two ends of `pyaoe copy`: files, block devices, AoE devices, NBD exports.

Every end offers the same few calls, each returning a future, so the copy keeps requests in
flight whatever the ends are. A regular file takes holes for zeroes; a device gets them written.
"""

from __future__ import annotations

import errno
import os
import stat
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from pyaoe.protocol.nbd.uri import is_nbd_uri, parse_nbd_uri
from pyaoe.storage.file import device_size

__all__ = ["Endpoint", "FileEndpoint", "AoeEndpoint", "NbdEndpoint", "open_endpoint", "describe"]

#: Threads doing a file's preads and pwrites (the copy keeps this many requests in flight).
FILE_THREADS = 8


class Endpoint(Protocol):
    """One end of a copy."""

    name: str
    size: int
    #: True when zeroes may be left as holes (a regular file we made or emptied).
    sparse: bool

    def read_into(self, offset: int, buffer: memoryview) -> Future[None]: ...

    def write(self, offset: int, data: memoryview) -> Future[None]: ...

    def write_zeroes(self, offset: int, length: int) -> Future[None]: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def _done() -> Future[None]:
    future: Future[None] = Future()
    future.set_result(None)
    return future


class FileEndpoint:
    """A regular file or a block device, through a small pool of threads."""

    def __init__(self, path: str, *, writing: bool, size: int | None = None) -> None:
        self.name = path
        if writing:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                st = None
            regular = st is None or stat.S_ISREG(st.st_mode)
            # Read and write: --verify reads the destination back.
            flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if st is None else 0)
            self.fd = os.open(path, flags, 0o644)
            if regular:
                # Emptied, then grown to the copy's size: every byte not written reads as zero
                # and stays a hole, and nothing of the old contents survives.
                os.ftruncate(self.fd, 0)
                os.ftruncate(self.fd, size or 0)
        else:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            regular = stat.S_ISREG(os.fstat(self.fd).st_mode)
        try:
            self.size = device_size(self.fd)
        except OSError:
            os.close(self.fd)
            raise
        self.sparse = writing and regular
        self._pool = ThreadPoolExecutor(FILE_THREADS, thread_name_prefix="copy-file")

    def read_into(self, offset: int, buffer: memoryview) -> Future[None]:
        return self._pool.submit(self._read, offset, buffer)

    def _read(self, offset: int, buffer: memoryview) -> None:
        done = 0
        while done < len(buffer):
            n = os.preadv(self.fd, [buffer[done:]], offset + done)
            if n == 0:
                raise OSError(errno.EIO, f"{self.name}: ends at {offset + done} bytes")
            done += n

    def write(self, offset: int, data: memoryview) -> Future[None]:
        return self._pool.submit(self._write, offset, data)

    def _write(self, offset: int, data: memoryview) -> None:
        done = 0
        while done < len(data):
            done += os.pwrite(self.fd, data[done:], offset + done)

    def write_zeroes(self, offset: int, length: int) -> Future[None]:
        if self.sparse:
            return _done()  # a hole already
        return self._pool.submit(self._write, offset, memoryview(bytes(length)))

    def flush(self) -> None:
        os.fsync(self.fd)
        # Out of the page cache: a verify after the copy reads what the disk holds.
        os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        os.close(self.fd)


class AoeEndpoint:
    """An AoE device (aoe:eX.Y) through the initiator library."""

    def __init__(self, spec: str, iflist: str, timeout: float) -> None:
        from pyaoe import open_block_client
        from pyaoe.initiator import parse_device_name

        self.name = spec
        try:
            address = parse_device_name(spec.removeprefix("aoe:"))
        except ValueError:
            raise ValueError("not an AoE device (write aoe:eSHELF.SLOT, e.g. aoe:e1.2)") from None
        try:
            self.client = open_block_client(iflist, address.shelf, address.slot, timeout=timeout)
        except TimeoutError:
            raise OSError(errno.ENODEV, f"no such AoE device answered within {timeout:g} s") from None
        self.size = self.client.size
        self.sparse = False

    def read_into(self, offset: int, buffer: memoryview) -> Future[None]:
        future: Future[None] = Future()

        def landed(read: Future[bytes]) -> None:
            exc = read.exception()
            if exc is not None:
                future.set_exception(exc)
                return
            # BlockClient has no submit_read_into: one copy of the bytes, cheap beside the wire.
            buffer[:] = read.result()
            future.set_result(None)

        self.client.submit_read(offset, len(buffer)).add_done_callback(landed)
        return future

    def write(self, offset: int, data: memoryview) -> Future[None]:
        return self.client.submit_write(offset, data)

    def write_zeroes(self, offset: int, length: int) -> Future[None]:
        return self.client.submit_write(offset, bytes(length))

    def flush(self) -> None:
        self.client.flush()

    def close(self) -> None:
        self.client.close()


class NbdEndpoint:
    """An NBD export, one connection with requests pipelined."""

    def __init__(self, uri: str, timeout: float) -> None:
        from pyaoe.nbd.futures import NbdFutures

        self.name = uri
        self.nbd = NbdFutures(parse_nbd_uri(uri), timeout)
        self.size = self.nbd.size
        self.sparse = False

    def read_into(self, offset: int, buffer: memoryview) -> Future[None]:
        return self.nbd.submit_read(offset, buffer)

    def write(self, offset: int, data: memoryview) -> Future[None]:
        return self.nbd.submit_write(offset, data)

    def write_zeroes(self, offset: int, length: int) -> Future[None]:
        if self.nbd.conn.can_zero:
            return self.nbd.submit_zero(offset, length)
        return self.nbd.submit_write(offset, memoryview(bytes(length)))

    def flush(self) -> None:
        if self.nbd.conn.can_flush:
            self.nbd.submit_flush().result()

    def close(self) -> None:
        self.nbd.close()


def describe(spec: str) -> str:
    if spec.startswith("aoe:"):
        return "aoe"
    return "nbd" if is_nbd_uri(spec) else "file"


def open_endpoint(
    spec: str, *, writing: bool, iflist: str = "", timeout: float = 10.0, size: int | None = None
) -> Endpoint:
    """The end named ``spec`` (a path, aoe:eX.Y or an NBD URI). OSError when it cannot be
    opened, ValueError when ``spec`` is malformed; ``size`` is a new file's length."""
    if spec.startswith("aoe:"):
        return AoeEndpoint(spec, iflist, timeout)
    if is_nbd_uri(spec):
        return NbdEndpoint(spec, timeout)
    return FileEndpoint(spec, writing=writing, size=size)
