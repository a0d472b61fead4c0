"""NbdBackend against pyaoe's NBD server over memory (in this process): vectored reads and writes
land where they should, the read-ahead serves sequential reads without ever returning data older
than a write (its own, or another client's once MAX_AGE has passed), and errors are OSError."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pyaoe.nbd.client import NbdConnection, Op
from pyaoe.protocol.nbd.uri import parse_nbd_uri
from pyaoe.protocol.nbd.wire import Cmd
from pyaoe.storage import open_backend
from pyaoe.storage.nbd import NbdBackend
from pyaoe.storage.readahead import CHUNK, MAX_AGE
from support.nbd import memory_server

pytestmark = pytest.mark.timeout(60)

MiB = 1 << 20


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frames(count: int, size: int = 1024) -> list[memoryview]:
    return [memoryview(bytearray(size)) for _ in range(count)]


def test_vectored_io_and_the_window(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"disk": MiB}) as served:
        data = served.provider.disks["disk"].data
        data[:] = os.urandom(MiB)
        backend = open_backend(served.uri("disk"), offset=8, length=100)
        assert isinstance(backend, NbdBackend)
        try:
            assert backend.size == 100 * 512 and not backend.readonly
            bufs = frames(4)
            assert backend.readv(bufs, 1024) == 4096
            assert b"".join(bytes(b) for b in bufs) == bytes(data[8 * 512 + 1024 : 8 * 512 + 5120])
            assert backend.writev([memoryview(b"a" * 512), memoryview(b"b" * 512)], 0) == 1024
            assert bytes(data[8 * 512 : 9 * 512]) == b"a" * 512
            backend.flush()
            assert served.provider.disks["disk"].flushes
            with pytest.raises(OSError) as caught:
                backend.readv(frames(1), 100 * 512 - 512)
            assert caught.value.errno == errno.EINVAL
        finally:
            backend.close()


def test_sequential_reads_come_from_the_read_ahead_and_writes_drop_it(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"disk": MiB}) as served:
        data = served.provider.disks["disk"].data
        data[:] = os.urandom(MiB)
        backend = NbdBackend(parse_nbd_uri(served.uri("disk")))
        try:
            offset = 0
            for _ in range(3 * CHUNK // 8192):
                bufs = frames(8)
                backend.readv(bufs, offset)
                assert b"".join(bytes(b) for b in bufs) == bytes(data[offset : offset + 8192])
                offset += 8192
            assert backend._ahead.hits > 0
            # A write inside what was read ahead: the next read must see it.
            backend.writev([memoryview(b"w" * 1024)], offset + 1024)
            bufs = frames(8)
            backend.readv(bufs, offset)
            assert bytes(bufs[1]) == b"w" * 1024
            # Reads up to the export's end, where the read-ahead stops.
            backend.readv(frames(2), MiB - 4096)
            bufs = frames(2)
            backend.readv(bufs, MiB - 2048)
            assert b"".join(bytes(b) for b in bufs) == bytes(data[MiB - 2048 :])
        finally:
            backend.close()


def test_read_ahead_older_than_max_age_is_read_again(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"disk": MiB}) as served:
        clock = Clock()
        backend = NbdBackend(parse_nbd_uri(served.uri("disk")), clock=clock)
        other = NbdConnection(parse_nbd_uri(served.uri("disk")))
        try:
            backend.readv(frames(8), 0)
            backend.readv(frames(8), 8192)  # sequential: chunks from 16384 on are asked for
            conn = backend._conn
            assert conn is not None
            for chunk in backend._ahead.chunks:  # their replies are in before the other write
                (chunk.error,) = conn.wait([chunk.handle])
            # Another client writes there, then time passes.
            assert other.run([Op(Cmd.WRITE, 16384, [memoryview(b"o" * 1024)])]) == [0]
            clock.now += MAX_AGE + 0.01
            bufs = frames(8)
            backend.readv(bufs, 16384)
            assert bytes(bufs[0]) == b"o" * 1024
        finally:
            other.close()
            backend.close()


def test_read_only_export_and_refused_writes(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"ro": MiB}, readonly=["ro"]) as served:
        backend = NbdBackend(parse_nbd_uri(served.uri("ro")))
        try:
            assert backend.readonly  # the server's flag makes the AoE export read-only
            with pytest.raises(PermissionError):
                backend.writev([memoryview(b"x" * 512)], 0)
        finally:
            backend.close()


def test_open_backend_refuses_o_direct_and_bad_uris(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="O_DIRECT"):
        open_backend("nbd+unix:///x?socket=/nonexistent", direct=True)
    with pytest.raises(ValueError, match="needs \\?socket"):
        open_backend("nbd+unix:///x")
    with pytest.raises(FileNotFoundError):
        open_backend(f"nbd+unix:///x?socket={tmp_path}/none.sock")


def test_a_batch_of_runs_goes_out_at_once_and_each_lands_where_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """submit(): every request of the batch is sent before any reply is awaited (one round trip
    for a batch of random frames), and each run reads or writes its own range."""
    calls: list[int] = []
    run = NbdConnection.run

    def counted(self: NbdConnection, ops: list[Op]) -> list[int]:
        calls.append(len(ops))
        return run(self, ops)

    monkeypatch.setattr(NbdConnection, "run", counted)
    with memory_server(tmp_path / "s.sock", {"disk": MiB}) as served:
        data = served.provider.disks["disk"].data
        data[:] = os.urandom(MiB)
        backend = open_backend(served.uri("disk"))
        assert isinstance(backend, NbdBackend)
        try:
            first, second = frames(2), frames(1, 4096)
            written = [memoryview(b"w" * 1024)]
            done = backend.submit([(False, 512 * 1000, first), (True, 8192, written), (False, 65536, second)])
            assert done == [2048, 1024, 4096]
            assert calls == [3]
            assert b"".join(bytes(b) for b in first) == bytes(data[512 * 1000 : 512 * 1000 + 2048])
            assert bytes(second[0]) == bytes(data[65536 : 65536 + 4096])
            assert bytes(data[8192 : 8192 + 1024]) == b"w" * 1024
            # A single run takes the plain path (and its read-ahead for a sequential reader).
            assert backend.submit([(False, 0, frames(1))]) == [1024]
        finally:
            backend.close()


def test_a_batch_with_a_write_to_a_read_only_export_is_refused(tmp_path: Path) -> None:
    with memory_server(tmp_path / "s.sock", {"disk": MiB}) as served:
        backend = open_backend(served.uri("disk"), readonly=True)
        assert isinstance(backend, NbdBackend)
        try:
            with pytest.raises(PermissionError):
                backend.submit([(False, 0, frames(1)), (True, 4096, frames(1))])
        finally:
            backend.close()
