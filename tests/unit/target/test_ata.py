"""The ATA device the target simulates: IDENTIFY, READ/WRITE (LBA28 and LBA48), FLUSH, CHECK
POWER MODE, aborts, range and read-only errors, storage failures, and the export's window.

Engine-level (handle_frame with codec-built frames); storage is MemoryBackend, a failing fake,
or a FileBackend over a temporary file for the window and fsync checks.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyaoe.protocol import (
    ATA_HLEN,
    ETH_ZLEN,
    LBA28_MAX,
    SECTOR_SIZE,
    AoeError,
    AtaArg,
    AtaCommand,
    AtaErrorBit,
    AtaFlag,
    AtaStatus,
    Header,
    decode_frame,
    is_ata_failure,
    parse_identify,
)
from pyaoe.storage.file import FileBackend
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target import ExportState, TargetEngine
from pyaoe.target.fastpath import NOT_HANDLED, FastPath

from .frames import HOST_A, ata, ata_reply, make_engine, make_export, one_reply, pattern

DRDY = int(AtaStatus.DRDY)
FAILED = int(AtaStatus.DRDY | AtaStatus.ERR)
ABRT = int(AtaErrorBit.ABRT)
IDNF = int(AtaErrorBit.IDNF)
UNC = int(AtaErrorBit.UNC)


def no_data(arg: AtaArg) -> bool:
    """A reply without sectors: only the zero padding that takes it to 60 bytes follows the
    argument (the decoder hands padding over as data)."""
    return len(arg.data) == ETH_ZLEN - ATA_HLEN and not any(arg.data)


# -- IDENTIFY ---------------------------------------------------------------------------------
def test_identify_describes_the_export():
    export = make_export(3, 4, sectors=2048, serial="3.4:host", model="pyaoe test", firmware="t1")
    _h, arg = ata_reply(make_engine(export), ata(AtaCommand.IDENTIFY_DEVICE, shelf=3, slot=4))
    assert arg.cmd_status == DRDY and arg.err_feature == 0
    assert len(arg.data) == SECTOR_SIZE
    info = parse_identify(arg.data)
    assert (info.sectors, info.serial, info.model, info.firmware) == (2048, "3.4:host", "pyaoe test", "t1")
    assert info.lba48 and info.flush_cache and info.flush_cache_ext
    assert not info.smart, "aoeping -S must report that SMART is not supported"


def test_identify_of_a_large_export_clamps_the_lba28_capacity():
    sectors = LBA28_MAX + 100
    export = make_export(backend=_SizedBackend(sectors * SECTOR_SIZE))
    _h, arg = ata_reply(make_engine(export), ata(AtaCommand.IDENTIFY_DEVICE))
    info = parse_identify(arg.data)
    assert info.sectors == sectors
    words = info.words
    assert words[60] | (words[61] << 16) == LBA28_MAX


@pytest.mark.parametrize("count", [0, 2, 255])
def test_identify_wants_a_sector_count_of_1(count):
    reply = one_reply(make_engine(), ata(AtaCommand.IDENTIFY_DEVICE, count=count))
    assert reply.header.is_error and reply.header.error == AoeError.BAD_ARGUMENT


# -- READ and WRITE ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("write", "read"),
    [
        (AtaCommand.WRITE_SECTORS, AtaCommand.READ_SECTORS),
        (AtaCommand.WRITE_SECTORS_EXT, AtaCommand.READ_SECTORS_EXT),
        (AtaCommand.WRITE_SECTORS, AtaCommand.READ_SECTORS_EXT),
        (AtaCommand.WRITE_SECTORS_EXT, AtaCommand.READ_SECTORS),
    ],
)
def test_write_then_read_round_trip(write, read):
    export = make_export(sectors=64)
    engine = make_engine(export)
    data = pattern(2, seed=7)
    _h, arg = ata_reply(engine, ata(write, 10, 2, data))
    assert (arg.cmd_status, arg.err_feature, arg.sector_count) == (DRDY, 0, 0)
    _h, arg = ata_reply(engine, ata(read, 10, 2))
    assert (arg.cmd_status, arg.err_feature, arg.sector_count) == (DRDY, 0, 0)
    assert arg.data == data
    # Exactly those bytes changed.
    buffer = export.backend.buffer  # type: ignore[attr-defined]
    assert buffer[10 * SECTOR_SIZE : 12 * SECTOR_SIZE] == data
    assert buffer.count(0) == len(buffer) - len(data) + data.count(0)
    assert export.counters.writes == 1 and export.counters.sectors_written == 2


def test_a_read_reply_is_36_bytes_plus_the_data():
    raw = make_engine().handle_frame(ata(AtaCommand.READ_SECTORS, 0, 2))
    assert len(raw) == 1 and len(raw[0]) == 36 + 2 * SECTOR_SIZE


def test_reads_and_writes_at_the_last_sector_work():
    engine = make_engine(make_export(sectors=64))
    _h, arg = ata_reply(engine, ata(AtaCommand.WRITE_SECTORS, 62, 2, pattern(2)))
    assert arg.cmd_status == DRDY
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS_EXT, 63, 1))
    assert arg.data == pattern(2)[SECTOR_SIZE:]


def test_the_command_decides_lba28_or_lba48_not_the_e_flag():
    """vblade and the ATA standard: 0x20/0x30 use 28 bits of LBA, 0x24/0x34 use 48."""
    export = make_export(sectors=64)
    export.backend.buffer[5 * SECTOR_SIZE : 6 * SECTOR_SIZE] = pattern(1, seed=3)  # type: ignore[attr-defined]
    engine = make_engine(export)
    # LBA28 command: LBA3's high nibble (device bits) and LBA4-5 are not address bits.
    high = 5 | (0xE0 << 24) | (0x1234 << 32)
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, registers=high))
    assert arg.cmd_status == DRDY and arg.data == pattern(1, seed=3)
    # ... even with the E flag set.
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, registers=high, aflags=int(AtaFlag.EXTENDED)))
    assert arg.cmd_status == DRDY and arg.data == pattern(1, seed=3)
    # LBA48 command: the same registers are a huge LBA, past the end, with or without E.
    for aflags in (0, int(AtaFlag.EXTENDED)):
        _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS_EXT, registers=high, aflags=aflags))
        assert (arg.cmd_status, arg.err_feature) == (FAILED, IDNF)
    # LBA48 read of sector 5 without the E flag still works.
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS_EXT, registers=5, aflags=0))
    assert arg.data == pattern(1, seed=3)


def test_lba48_reaches_beyond_28_bits():
    sectors = (1 << 28) + 16
    backend = _SizedBackend(sectors * SECTOR_SIZE)
    engine = make_engine(make_export(backend=backend))
    lba = (1 << 28) + 3
    _h, arg = ata_reply(engine, ata(AtaCommand.WRITE_SECTORS_EXT, lba, 1, pattern(1)))
    assert arg.cmd_status == DRDY
    assert backend.writes == [(lba * SECTOR_SIZE, pattern(1))]


@pytest.mark.parametrize("command", [AtaCommand.READ_SECTORS, AtaCommand.READ_SECTORS_EXT])
@pytest.mark.parametrize(("lba", "count"), [(64, 1), (63, 2), (1000, 1), (LBA28_MAX, 2)])
def test_a_read_past_the_end_is_idnf(command, lba, count):
    export = make_export(sectors=64)
    _h, arg = ata_reply(make_engine(export), ata(command, lba, count))
    assert (arg.cmd_status, arg.err_feature) == (FAILED, IDNF)
    assert is_ata_failure(arg.cmd_status)
    assert no_data(arg)
    assert export.counters.ata_errors == 1


@pytest.mark.parametrize("command", [AtaCommand.WRITE_SECTORS, AtaCommand.WRITE_SECTORS_EXT])
@pytest.mark.parametrize(("lba", "count"), [(64, 1), (63, 2), (1000, 2)])
def test_a_write_past_the_end_is_idnf_and_writes_nothing(command, lba, count):
    export = make_export(sectors=64)
    _h, arg = ata_reply(make_engine(export), ata(command, lba, count, pattern(count)))
    assert (arg.cmd_status, arg.err_feature) == (FAILED, IDNF)
    assert export.backend.buffer == bytes(64 * SECTOR_SIZE)  # type: ignore[attr-defined]


def test_a_write_to_a_read_only_export_is_aborted():
    export = make_export(sectors=64, readonly=True)
    engine = make_engine(export)
    for command in (AtaCommand.WRITE_SECTORS, AtaCommand.WRITE_SECTORS_EXT):
        _h, arg = ata_reply(engine, ata(command, 0, 1, pattern(1)))
        assert (arg.cmd_status, arg.err_feature) == (FAILED, ABRT)
    assert export.backend.buffer == bytes(64 * SECTOR_SIZE)  # type: ignore[attr-defined]
    # Reads still work.
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 1))
    assert arg.cmd_status == DRDY


@pytest.mark.parametrize(("mtu", "allowed"), [(1500, 2), (9000, 17)])
@pytest.mark.parametrize("command", [AtaCommand.READ_SECTORS, AtaCommand.READ_SECTORS_EXT])
def test_more_sectors_than_a_frame_carries_is_aoe_error_2(mtu, allowed, command):
    engine = make_engine(make_export(sectors=64), mtu=mtu)
    _h, arg = ata_reply(engine, ata(command, 0, allowed))
    assert arg.cmd_status == DRDY and len(arg.data) == allowed * SECTOR_SIZE
    reply = one_reply(engine, ata(command, 0, allowed + 1))
    assert reply.header.is_error and reply.header.error == AoeError.BAD_ARGUMENT


def test_a_write_of_more_sectors_than_a_frame_carries_is_aoe_error_2_and_writes_nothing():
    export = make_export(sectors=64)
    reply = one_reply(make_engine(export, mtu=1500), ata(AtaCommand.WRITE_SECTORS, 0, 3, pattern(3)))
    assert reply.header.error == AoeError.BAD_ARGUMENT
    assert export.backend.buffer == bytes(64 * SECTOR_SIZE)  # type: ignore[attr-defined]


def test_a_write_with_less_data_than_its_sector_count_is_aoe_error_2():
    export = make_export(sectors=64)
    reply = one_reply(make_engine(export), ata(AtaCommand.WRITE_SECTORS, 0, 2, pattern(1)))
    assert reply.header.error == AoeError.BAD_ARGUMENT
    assert export.backend.buffer == bytes(64 * SECTOR_SIZE)  # type: ignore[attr-defined]


def test_a_zero_sector_read_touches_nothing():
    _h, arg = ata_reply(make_engine(), ata(AtaCommand.READ_SECTORS, 0, 0))
    assert arg.cmd_status == DRDY and no_data(arg)


# -- other commands -----------------------------------------------------------------------------
def test_check_power_mode_reports_active():
    _h, arg = ata_reply(make_engine(), ata(AtaCommand.CHECK_POWER_MODE, count=0))
    assert (arg.cmd_status, arg.err_feature, arg.sector_count) == (DRDY, 0, 0xFF)


@pytest.mark.parametrize("command", [AtaCommand.FLUSH_CACHE, AtaCommand.FLUSH_CACHE_EXT])
def test_flush_flushes_the_backend_and_answers_drdy(command):
    export = make_export()
    engine = make_engine(export)
    ata_reply(engine, ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1)))
    _h, arg = ata_reply(engine, ata(command, count=0))
    assert (arg.cmd_status, arg.err_feature) == (DRDY, 0)
    assert export.backend.flushes == 1  # type: ignore[attr-defined]
    assert export.counters.flushes == 1


@pytest.mark.parametrize("command", [AtaCommand.FLUSH_CACHE, AtaCommand.FLUSH_CACHE_EXT])
def test_flush_on_a_file_export_calls_fsync_on_its_file(tmp_path, monkeypatch, command):
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(16 * SECTOR_SIZE))
    backend = FileBackend(str(path))
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    try:
        engine = make_engine(make_export(backend=backend))
        ata_reply(engine, ata(AtaCommand.WRITE_SECTORS, 1, 1, pattern(1)))
        assert synced == []
        _h, arg = ata_reply(engine, ata(command, count=0))
        assert arg.cmd_status == DRDY
        assert synced == [backend.fd]
    finally:
        backend.close()
    assert path.read_bytes()[SECTOR_SIZE : 2 * SECTOR_SIZE] == pattern(1)


@pytest.mark.parametrize("command", [AtaCommand.SMART, AtaCommand.SET_FEATURES, 0x00, 0x25, 0x35, 0xC8, 0xFF])
def test_unimplemented_ata_commands_are_aborted(command):
    _h, arg = ata_reply(make_engine(), ata(command, count=1))
    assert (arg.cmd_status, arg.err_feature) == (FAILED, ABRT)


# -- storage failures -------------------------------------------------------------------------
class _SizedBackend:
    """A large export that stores nothing: records writes, reads zeros."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.readonly = False
        self.writes: list[tuple[int, bytes]] = []

    def read_into(self, buf: memoryview, offset: int) -> int:
        buf[:] = bytes(len(buf))
        return len(buf)

    def write(self, data: memoryview, offset: int) -> int:
        self.writes.append((offset, bytes(data)))
        return len(data)

    def flush(self) -> None:
        pass


class FailingBackend(MemoryBackend):
    """A MemoryBackend whose reads, writes or flushes raise the OSError it is given."""

    def __init__(
        self, size: int, *, read: int = 0, write: int = 0, flush: int = 0, short: bool = False
    ) -> None:
        super().__init__(size)
        self.errors = {"read": read, "write": write, "flush": flush}
        self.short = short

    def _fail(self, what: str) -> None:
        code = self.errors[what]
        if code:
            raise OSError(code, os.strerror(code))

    def read_into(self, buf: memoryview, offset: int) -> int:
        self._fail("read")
        n = super().read_into(buf, offset)
        return n // 2 if self.short else n

    def write(self, data: memoryview, offset: int) -> int:
        self._fail("write")
        return super().write(data[: len(data) // 2] if self.short else data, offset)

    def flush(self) -> None:
        self._fail("flush")
        super().flush()


@pytest.mark.parametrize(("code", "error"), [(errno.ENOSPC, ABRT), (errno.EIO, ABRT), (errno.EDQUOT, ABRT)])
def test_a_failing_write_is_an_ata_error(code, error):
    export = make_export(backend=FailingBackend(64 * SECTOR_SIZE, write=code))
    engine = make_engine(export)
    _h, arg = ata_reply(engine, ata(AtaCommand.WRITE_SECTORS, 0, 2, pattern(2)))
    assert (arg.cmd_status, arg.err_feature) == (FAILED, error)
    assert is_ata_failure(arg.cmd_status)
    assert export.counters.io_errors == 1
    # Still serving.
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 1))
    assert arg.cmd_status == DRDY


@pytest.mark.parametrize(("code", "error"), [(errno.EIO, UNC), (errno.EBADF, ABRT)])
def test_a_failing_read_is_an_ata_error(code, error):
    engine = make_engine(make_export(backend=FailingBackend(64 * SECTOR_SIZE, read=code)))
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 2))
    assert (arg.cmd_status, arg.err_feature) == (FAILED, error)
    assert no_data(arg)


@pytest.mark.parametrize("command", [AtaCommand.FLUSH_CACHE, AtaCommand.FLUSH_CACHE_EXT])
def test_a_failing_flush_is_an_ata_error(command):
    engine = make_engine(make_export(backend=FailingBackend(64 * SECTOR_SIZE, flush=errno.EIO)))
    _h, arg = ata_reply(engine, ata(command, count=0))
    assert (arg.cmd_status, arg.err_feature) == (FAILED, ABRT)


def test_short_reads_and_writes_are_aborted_with_the_sectors_left():
    engine = make_engine(make_export(backend=FailingBackend(64 * SECTOR_SIZE, short=True)))
    _h, arg = ata_reply(engine, ata(AtaCommand.WRITE_SECTORS, 0, 2, pattern(2)))
    assert (arg.cmd_status, arg.err_feature, arg.sector_count) == (FAILED, ABRT, 1)
    _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 2))
    assert (arg.cmd_status, arg.err_feature, arg.sector_count) == (FAILED, ABRT, 1)
    assert len(arg.data) == SECTOR_SIZE


def test_an_unexpected_backend_exception_drops_the_frame_and_serving_goes_on():
    class Broken(MemoryBackend):
        def read_into(self, buf: memoryview, offset: int) -> int:
            raise RuntimeError("bug in a backend")

    engine = make_engine(make_export(backend=Broken(64 * SECTOR_SIZE)))
    assert engine.handle_frame(ata(AtaCommand.READ_SECTORS, 0, 1)) == []
    _h, arg = ata_reply(engine, ata(AtaCommand.IDENTIFY_DEVICE))
    assert arg.cmd_status == DRDY


# -- the window: nothing outside [offset, offset+length) is ever touched -----------------------
WINDOW_OFFSET = 8  # sectors
WINDOW_LENGTH = 24
FILE_SECTORS = 40
SENTINEL = b"\xa5"


def _window_file(path: Path) -> bytes:
    """A file whose bytes outside the window are sentinels, and inside a pattern."""
    before = SENTINEL * (WINDOW_OFFSET * SECTOR_SIZE)
    inside = pattern(WINDOW_LENGTH, seed=11)
    after = SENTINEL * ((FILE_SECTORS - WINDOW_OFFSET - WINDOW_LENGTH) * SECTOR_SIZE)
    path.write_bytes(before + inside + after)
    return before + inside + after


io_ops = st.tuples(
    st.sampled_from(
        [
            AtaCommand.READ_SECTORS,
            AtaCommand.READ_SECTORS_EXT,
            AtaCommand.WRITE_SECTORS,
            AtaCommand.WRITE_SECTORS_EXT,
        ]
    ),
    # In range, at the edges, and far out (LBA28 and LBA48 sized).
    st.one_of(
        st.integers(0, WINDOW_LENGTH + 4),
        st.integers(0, LBA28_MAX),
        st.integers(0, 2**48 - 1),
        st.just(2**48 - 1),
    ),
    st.integers(0, 4),
    st.integers(0, 250),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(io_ops, min_size=1, max_size=30), direct=st.booleans(), fast=st.booleans())
def test_io_never_touches_bytes_outside_the_window(tmp_path_factory, ops, direct, fast):
    """Through the engine alone, or as the service does it: the fast path first, then the engine."""
    path = tmp_path_factory.mktemp("window") / "disk.img"
    original = _window_file(path)
    backend = FileBackend(str(path), offset=WINDOW_OFFSET, length=WINDOW_LENGTH, direct=direct)
    model = bytearray(original[WINDOW_OFFSET * SECTOR_SIZE : (WINDOW_OFFSET + WINDOW_LENGTH) * SECTOR_SIZE])
    try:
        export = make_export(backend=backend)
        assert export.sectors == WINDOW_LENGTH
        engine = make_engine(export, mtu=9000)
        for command, lba, count, seed in ops:
            writing = command in (AtaCommand.WRITE_SECTORS, AtaCommand.WRITE_SECTORS_EXT)
            ext = command in (AtaCommand.READ_SECTORS_EXT, AtaCommand.WRITE_SECTORS_EXT)
            if not ext:
                lba &= LBA28_MAX
            data = pattern(count, seed) if writing else b""
            frame = ata(command, lba, count, data, aflags=int(AtaFlag.WRITE) if writing else 0, registers=lba)
            _h, arg = ata_reply(engine, frame) if not fast else _served(engine, frame)
            in_range = lba + count <= WINDOW_LENGTH
            if in_range:
                assert arg.cmd_status == DRDY
                start, end = lba * SECTOR_SIZE, (lba + count) * SECTOR_SIZE
                if writing:
                    model[start:end] = data
                else:
                    assert arg.data[: end - start] == model[start:end]
            else:
                assert (arg.cmd_status, arg.err_feature) == (FAILED, IDNF)
                assert no_data(arg)
    finally:
        backend.close()
    now = path.read_bytes()
    assert len(now) == len(original)
    window = slice(WINDOW_OFFSET * SECTOR_SIZE, (WINDOW_OFFSET + WINDOW_LENGTH) * SECTOR_SIZE)
    assert now[: window.start] == original[: window.start]
    assert now[window.stop :] == original[window.stop :]
    assert now[window] == model


def _served(engine: TargetEngine, frame: bytes) -> tuple[Header, AtaArg]:
    """Answer as pyaoe.service.target does: in place when the fast path takes it, else the engine."""
    buf = bytearray(9000 + 64)
    buf[: len(frame)] = frame
    n = FastPath(engine).answer_batch((memoryview(buf),), (len(frame),))[0]
    if n == NOT_HANDLED:
        return ata_reply(engine, frame)
    reply = decode_frame(bytes(buf[:n]))
    assert isinstance(reply.arg, AtaArg)
    return reply.header, reply.arg


def test_the_window_maps_lba_0_to_the_offset(tmp_path):
    path = tmp_path / "disk.img"
    original = _window_file(path)
    backend = FileBackend(str(path), offset=WINDOW_OFFSET, length=WINDOW_LENGTH)
    try:
        engine = make_engine(make_export(backend=backend))
        _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, 0, 1))
        assert arg.data == original[WINDOW_OFFSET * SECTOR_SIZE : (WINDOW_OFFSET + 1) * SECTOR_SIZE]
        _h, arg = ata_reply(engine, ata(AtaCommand.READ_SECTORS, WINDOW_LENGTH, 1))
        assert arg.err_feature == IDNF
        info = parse_identify(ata_reply(engine, ata(AtaCommand.IDENTIFY_DEVICE))[1].data)
        assert info.sectors == WINDOW_LENGTH
    finally:
        backend.close()


def test_the_file_backend_refuses_io_outside_the_window_even_if_asked_directly(tmp_path):
    """The last line of defence below the engine's range check."""
    path = tmp_path / "disk.img"
    original = _window_file(path)
    backend = FileBackend(str(path), offset=WINDOW_OFFSET, length=WINDOW_LENGTH)
    try:
        for offset in (-SECTOR_SIZE, WINDOW_LENGTH * SECTOR_SIZE, (WINDOW_LENGTH - 1) * SECTOR_SIZE + 1):
            with pytest.raises(OSError):
                backend.write(memoryview(bytes(SECTOR_SIZE)), offset)
            with pytest.raises(OSError):
                backend.read_into(memoryview(bytearray(SECTOR_SIZE)), offset)
    finally:
        backend.close()
    assert path.read_bytes() == original


def test_every_ata_reply_is_at_least_60_bytes():
    engine = make_engine(make_export(state=ExportState(reserve_list=[HOST_A])))
    for frame in (
        ata(AtaCommand.READ_SECTORS, 1000, 1),
        ata(AtaCommand.WRITE_SECTORS, 0, 1, pattern(1)),
        ata(AtaCommand.FLUSH_CACHE, count=0),
        ata(AtaCommand.CHECK_POWER_MODE, count=0),
        ata(AtaCommand.SMART),
        ata(AtaCommand.READ_SECTORS, 0, 9),
    ):
        raw = engine.handle_frame(frame)
        assert len(raw) == 1 and len(raw[0]) >= ETH_ZLEN
