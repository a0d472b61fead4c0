"""The fast path over a batch: contiguous frames share one vectored call, frames run in order
(a read after a write in the same batch sees the write), and a call that fails part way answers
the frames it covered and leaves the rest intact for the engine."""

from __future__ import annotations

from collections.abc import Sequence

from pyaoe.protocol import ATA_HLEN, SECTOR_SIZE, AtaCommand, decode_frame
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target.fastpath import NOT_HANDLED, FastPath

from .frames import ata, make_engine, make_export, pattern

SECTORS = 64
READ, WRITE = AtaCommand.READ_SECTORS_EXT, AtaCommand.WRITE_SECTORS_EXT


class CountingBackend(MemoryBackend):
    """A memory backend with vectored calls that records them, and can fail after N bytes."""

    def __init__(self, size: int, data: bytes) -> None:
        super().__init__(size, data=data)
        self.calls: list[tuple[str, int, int]] = []
        self.fail_after: int | None = None

    def _vectored(self, kind: str, buffers: Sequence[memoryview], offset: int) -> int:
        self.calls.append((kind, offset, len(buffers)))
        done = 0
        for buf in buffers:
            if self.fail_after is not None and done + len(buf) > self.fail_after:
                if done == 0:
                    raise OSError(5, "injected I/O error")
                return done
            single = self.read_into if kind == "read" else self.write
            done += single(buf, offset + done)
        return done

    def readv(self, buffers: Sequence[memoryview], offset: int) -> int:
        return self._vectored("read", buffers, offset)

    def writev(self, buffers: Sequence[memoryview], offset: int) -> int:
        return self._vectored("write", buffers, offset)


def batch(frames: list[bytes]) -> tuple[list[memoryview], list[int]]:
    buffers = []
    for frame in frames:
        buf = memoryview(bytearray(2048))
        buf[: len(frame)] = frame
        buffers.append(buf)
    return buffers, [len(f) for f in frames]


def setup() -> tuple[FastPath, CountingBackend]:
    backend = CountingBackend(SECTORS * SECTOR_SIZE, pattern(SECTORS, seed=3))
    engine = make_engine(make_export(1, 2, backend=backend))
    return FastPath(engine), backend


def test_contiguous_reads_share_one_call_and_each_gets_its_sectors() -> None:
    fast, backend = setup()
    buffers, lengths = batch([ata(READ, lba, 2) for lba in (0, 2, 4, 6)])
    replies = fast.answer_batch(buffers, lengths)
    assert replies == [ATA_HLEN + 1024] * 4
    assert backend.calls == [("read", 0, 4)]
    for k, buf in enumerate(buffers):
        reply = decode_frame(bytes(buf[: replies[k]]))
        assert reply.header.is_response and reply.arg.cmd_status == 0x40  # type: ignore[union-attr]
        assert reply.arg.data == backend.buffer[k * 1024 : (k + 1) * 1024]  # type: ignore[union-attr]


def test_a_gap_or_a_change_of_direction_starts_a_new_call() -> None:
    fast, backend = setup()
    frames = [ata(READ, 0, 2), ata(READ, 4, 2), ata(WRITE, 6, 2, b"w" * 1024), ata(WRITE, 8, 2, b"v" * 1024)]
    buffers, lengths = batch(frames)
    assert NOT_HANDLED not in fast.answer_batch(buffers, lengths)
    assert backend.calls == [("read", 0, 1), ("read", 4 * 512, 1), ("write", 6 * 512, 2)]


def test_frames_run_in_order_so_a_read_sees_the_write_before_it() -> None:
    fast, _backend = setup()
    new = b"n" * 1024
    buffers, lengths = batch([ata(READ, 10, 2), ata(WRITE, 10, 2, new), ata(READ, 10, 2)])
    replies = fast.answer_batch(buffers, lengths)
    first = decode_frame(bytes(buffers[0][: replies[0]])).arg.data  # type: ignore[union-attr]
    last = decode_frame(bytes(buffers[2][: replies[2]])).arg.data  # type: ignore[union-attr]
    assert first == pattern(SECTORS, seed=3)[10 * 512 : 12 * 512]
    assert last == new


def test_a_call_failing_part_way_answers_what_it_covered_and_leaves_the_rest() -> None:
    fast, backend = setup()
    backend.fail_after = 2048  # two frames of 1024 bytes, then an error
    frames = [ata(WRITE, lba, 2, bytes([lba]) * 1024) for lba in (0, 2, 4, 6)]
    buffers, lengths = batch(frames)
    replies = fast.answer_batch(buffers, lengths)
    assert replies[:2] == [60, 60]
    assert replies[2:] == [NOT_HANDLED, NOT_HANDLED]
    # The frames left for the engine are still the requests, byte for byte.
    for k in (2, 3):
        assert bytes(buffers[k][: lengths[k]]) == frames[k]
    backend.fail_after = 0
    buffers, lengths = batch([ata(READ, 0, 2)])
    assert fast.answer_batch(buffers, lengths) == [NOT_HANDLED]
