"""A backing file on a full tmpfs: reading a hole returns zeros and a write needing space fails
with ENOSPC (never SIGBUS, which a read through a mapping of the file would raise: the backend
maps nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns  # needs root: a tmpfs in a private mount namespace

PROBE = """
import errno, sys
from pyaoe.storage.file import FileBackend
backend = FileBackend(sys.argv[1])
hole = bytearray(4096)
assert backend.read_into(memoryview(hole), 5 << 20) == 4096 and hole == bytes(4096)
try:
    backend.write(memoryview(b"x" * 4096), 6 << 20)
except OSError as exc:
    assert exc.errno == errno.ENOSPC, exc
    print("ENOSPC")
# As the target's fast path reads: a run of frames in one vectored call.
halves = [memoryview(hole)[:2048], memoryview(hole)[2048:]]
assert backend.readv(halves, 7 << 20) == 4096
try:
    backend.writev([memoryview(b"y" * 2048)] * 2, 6 << 20)
except OSError as exc:
    assert exc.errno == errno.ENOSPC, exc
print("read", hole == bytes(4096))
"""


def test_full_tmpfs_gives_enospc_and_zeros_for_holes(tmp_path: Path) -> None:
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = (
        'mount -t tmpfs -o size=1m pyaoe-test "$0" && truncate -s 8M "$0/disk.img" '
        '&& (head -c 2M /dev/zero > "$0/filler"; exec "$1" -c "$2" "$0/disk.img")'
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(mount), sys.executable, PROBE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout.split()) == (0, ["ENOSPC", "read", "True"]), done.stderr
