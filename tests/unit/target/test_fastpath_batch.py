"""The fast path over a batch: contiguous frames share one vectored call, frames run in order
(a read after a write in the same batch sees the write), and a call that fails part way answers
the frames it covered and leaves the rest intact for the engine."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.protocol import ATA_HLEN, SECTOR_SIZE, AtaCommand, decode_frame
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target.backend import IoRun
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


class SubmittingBackend(MemoryBackend):
    """A backend with submit() (as an NBD server's), which runs each batch's runs in REVERSE
    order: were two runs that must not be in flight together ever handed over at once, the
    bytes would differ from the engine's."""

    def __init__(self, size: int, data: bytes) -> None:
        super().__init__(size, data=data)
        self.batches: list[list[tuple[bool, int, int]]] = []

    def submit(self, runs: Sequence[IoRun]) -> list[int]:
        self.batches.append([(writing, offset, len(views)) for writing, offset, views in runs])
        done = [0] * len(runs)
        for k in reversed(range(len(runs))):
            writing, offset, views = runs[k]
            for view in views:
                done[k] += (self.write if writing else self.read_into)(view, offset + done[k])
        return done


def submitting() -> tuple[FastPath, SubmittingBackend]:
    backend = SubmittingBackend(SECTORS * SECTOR_SIZE, pattern(SECTORS, seed=3))
    return FastPath(make_engine(make_export(1, 2, backend=backend))), backend


def test_a_batch_of_random_reads_is_one_submit() -> None:
    fast, backend = submitting()
    buffers, lengths = batch([ata(READ, lba, 2) for lba in (40, 2, 30, 8)])
    replies = fast.answer_batch(buffers, lengths)
    assert replies == [ATA_HLEN + 1024] * 4
    assert backend.batches == [
        [(False, 40 * 512, 1), (False, 2 * 512, 1), (False, 30 * 512, 1), (False, 8 * 512, 1)]
    ]
    for k, lba in enumerate((40, 2, 30, 8)):
        data = decode_frame(bytes(buffers[k][: replies[k]])).arg.data  # type: ignore[union-attr]
        assert data == pattern(SECTORS, seed=3)[lba * 512 : (lba + 2) * 512]


def test_runs_that_overlap_a_write_go_in_a_later_submit() -> None:
    fast, backend = submitting()
    new = b"n" * 1024
    frames = [
        ata(READ, 10, 2),
        ata(WRITE, 20, 2, new),
        ata(READ, 0, 2),
        ata(READ, 21, 1),
        ata(WRITE, 40, 2, new),
    ]
    buffers, lengths = batch(frames)
    replies = fast.answer_batch(buffers, lengths)
    assert NOT_HANDLED not in replies
    # The read of sector 21 overlaps the write before it: that write's batch is handed over first.
    assert [[offset // 512 for _w, offset, _n in b] for b in backend.batches] == [[10, 20, 0], [21, 40]]
    assert decode_frame(bytes(buffers[3][: replies[3]])).arg.data == new[:512]  # type: ignore[union-attr]


def test_a_failed_submit_leaves_its_frames_to_the_engine() -> None:
    fast, backend = submitting()

    def refuse(runs: Sequence[IoRun]) -> list[int]:
        raise OSError(5, "the server went away")

    backend.submit = refuse  # type: ignore[method-assign]
    fast.refresh()
    frames = [ata(READ, 10, 2), ata(READ, 30, 2)]
    buffers, lengths = batch(frames)
    assert fast.answer_batch(buffers, lengths) == [NOT_HANDLED, NOT_HANDLED]
    assert [bytes(b[: len(f)]) for b, f in zip(buffers, frames, strict=True)] == frames


@settings(max_examples=200, deadline=None)
@given(
    requests=st.lists(
        st.tuples(st.booleans(), st.integers(0, 14), st.integers(1, 2), st.integers(0, 255)),
        min_size=1,
        max_size=24,
    )
)
def test_a_submitted_batch_gives_the_engines_bytes(requests: list[tuple[bool, int, int, int]]) -> None:
    """Random reads and writes over a few sectors (so they overlap often), one batch through a
    submitting backend that reverses each batch, against the engine one frame at a time."""
    fast, backend = submitting()
    twin = MemoryBackend(SECTORS * SECTOR_SIZE, data=pattern(SECTORS, seed=3))
    engine = make_engine(make_export(1, 2, backend=twin))
    frames = [
        ata(WRITE, lba, count, bytes([fill]) * count * 512) if writing else ata(READ, lba, count)
        for writing, lba, count, fill in requests
    ]
    buffers, lengths = batch(frames)
    replies = fast.answer_batch(buffers, lengths)
    assert NOT_HANDLED not in replies
    for k, frame in enumerate(frames):
        assert bytes(buffers[k][: replies[k]]) == engine.handle_frame(frame)[0]
    assert backend.buffer == twin.buffer
