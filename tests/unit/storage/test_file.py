"""FileBackend's vectored reads and writes: a run of buffers lands at consecutive offsets, inside
the window only, the same with O_DIRECT (through its aligned bounce buffer)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyaoe.storage.file import FileBackend

SECTOR = 512


def disk(tmp_path: Path, sectors: int = 64) -> Path:
    path = tmp_path / "disk.img"
    path.write_bytes(bytes((i // SECTOR) % 251 for i in range(sectors * SECTOR)))
    return path


@pytest.fixture(params=[False, True], ids=["cached", "direct"])
def direct(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_readv_and_writev_move_a_run_of_buffers(tmp_path: Path, direct: bool) -> None:
    path = disk(tmp_path)
    try:
        backend = FileBackend(str(path), offset=4, length=32, direct=direct)
    except OSError as exc:  # O_DIRECT is refused by some file systems (tmpfs)
        pytest.fail(f"O_DIRECT not available where the test keeps its files: {exc}")
    with open(path, "rb") as f:
        original = f.read()
    parts = [memoryview(bytearray(SECTOR * n)) for n in (1, 2, 3)]
    assert backend.readv(parts, 2 * SECTOR) == 6 * SECTOR
    assert b"".join(bytes(p) for p in parts) == original[(4 + 2) * SECTOR : (4 + 8) * SECTOR]
    new = [memoryview(bytes([0xA0 + k]) * SECTOR * n) for k, n in enumerate((2, 1))]
    assert backend.writev(new, 10 * SECTOR) == 3 * SECTOR
    backend.flush()
    backend.close()
    after = path.read_bytes()
    assert after[(4 + 10) * SECTOR : (4 + 13) * SECTOR] == b"\xa0" * 1024 + b"\xa1" * 512
    # Nothing outside the written range moved.
    assert after[: (4 + 10) * SECTOR] == original[: (4 + 10) * SECTOR]
    assert after[(4 + 13) * SECTOR :] == original[(4 + 13) * SECTOR :]


def test_runs_past_the_window_are_refused(tmp_path: Path) -> None:
    backend = FileBackend(str(disk(tmp_path)), offset=4, length=8)
    with pytest.raises(OSError):
        backend.readv([memoryview(bytearray(SECTOR))] * 2, 7 * SECTOR)
    with pytest.raises(OSError):
        backend.writev([memoryview(bytes(SECTOR))], -SECTOR)
    backend.close()


def test_read_only_backend_refuses_writes(tmp_path: Path) -> None:
    backend = FileBackend(str(disk(tmp_path)), readonly=True)
    with pytest.raises(PermissionError):
        backend.writev([memoryview(bytes(SECTOR))], 0)
    backend.close()


def test_large_direct_run_goes_through_the_bounce_buffer_in_pieces(tmp_path: Path) -> None:
    path = disk(tmp_path, sectors=600)
    backend = FileBackend(str(path), direct=True)
    big = memoryview(bytearray(300 * SECTOR))  # larger than the 256-sector bounce buffer
    assert backend.readv([big], 0) == 300 * SECTOR
    assert bytes(big) == path.read_bytes()[: 300 * SECTOR]
    backend.close()
    assert os.path.getsize(path) == 600 * SECTOR
