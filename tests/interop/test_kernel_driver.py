"""The Linux aoe driver (Debian's kernel, booted in QEMU) against each vblade-compatible target.

The guest runs tests/support/guest/aoe-check.sh; the host then checks the backing file the target wrote.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, Link
from support.qemu import GuestImage, GuestResult, boot_guest, guest_script

# Each test boots a guest under TCG (and the first builds its image): longer than the default.
pytestmark = [
    pytest.mark.interop,
    pytest.mark.qemu,
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]

# Each is started with vblade's own command line: [-r] shelf slot netif file.
TARGETS = {
    "debian-vblade": ["/usr/sbin/vblade"],
    "pyaoe": [sys.executable, "-m", "pyaoe.cli.vblade"],
}
SHELF, SLOT = 5, 2
DISK_MIB = 64
RAW_MIB = 56  # where the guest writes raw data: past the 48 MiB file system
FS_MIB = 48
ETH_P_AOE = "88a2"
BOOT_TIMEOUT = 120.0
# The driver retransmits unanswered (or AoE-error-answered) requests until aoe_deadsecs (180 s by
# default). With 30 s, and the guest's own 30 s limit on every I/O step, a broken target fails
# the guest script (with the kernel log) well within the boot timeout instead of hanging it.
AOE_ARGS = "aoe_deadsecs=30"


def _packet_socket_ready(pid: int) -> bool:
    """True once process ``pid`` holds a packet socket bound to the AoE EtherType."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}
        rows = Path(f"/proc/{pid}/net/packet").read_text().splitlines()[1:]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return any(row.split()[3].lower() == ETH_P_AOE and f"socket:[{row.split()[8]}]" in inodes for row in rows)


class Target:
    """One target process serving ``disk`` on ``tap`` in the tap's namespace."""

    def __init__(self, lab: Lab, impl: str, tap: Link, disk: Path, readonly: bool = False) -> None:
        self.log = disk.with_suffix(".log")
        argv = [*TARGETS[impl], *(["-r"] if readonly else []), str(SHELF), str(SLOT), tap.ifname, str(disk)]
        with open(self.log, "wb") as log:
            self.proc = lab.popen(tap.netns, argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not _packet_socket_ready(self.proc.pid):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"{impl} did not start listening ({argv}):\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def assert_running(self) -> None:
        assert self.proc.poll() is None, f"target exited with {self.proc.returncode}:\n{self.output()}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _disk(tmp_path: Path) -> Path:
    disk = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", f"{DISK_MIB}M", str(disk)], check=True)
    return disk


def _boot_check(lab: Lab, image: GuestImage, tap: Link, mtu: int, payload: int, mode: str) -> GuestResult:
    env = {
        "AOE_SHELF": SHELF, "AOE_SLOT": SLOT, "AOE_MODE": mode, "AOE_PAYLOAD": payload,
        "AOE_RAW_MIB": RAW_MIB, "AOE_FS_MIB": FS_MIB, "AOE_ARGS": AOE_ARGS,
    }  # fmt: skip
    result = boot_guest(lab, image, tap, guest_script("aoe-check.sh"), env=env, mtu=mtu, timeout=BOOT_TIMEOUT)
    print(f"guest boot took {result.elapsed:.1f}s (device up after {result.marks.get('up-cs')} cs)")
    return result


def _assert_device(result: GuestResult, tap: Link, payload: int) -> None:
    """What aoe-stat would show: the device is up, the right size, on eth0, at the target's MAC."""
    assert result.mark("state") == "up", result.describe()
    assert result.mark("payload") == str(payload), result.describe()
    assert result.mark("sectors") == str(DISK_MIB * 2048), result.describe()
    assert result.mark("netif") == "eth0", result.describe()
    assert result.mark("target-mac") == tap.mac.hex(), result.describe()


def _run_rw_scenario(lab: Lab, image: GuestImage, impl: str, tmp_path: Path, mtu: int, payload: int) -> None:
    ns = lab.netns("aoeqm")
    tap = lab.tap(ns, mtu=mtu)
    disk = _disk(tmp_path)
    target = Target(lab, impl, tap, disk)
    result = _boot_check(lab, image, tap, mtu, payload, "rw")
    assert result.mark("mtu") == str(mtu), result.describe()
    _assert_device(result, tap, payload)
    assert result.mark("raw-readback-sha256") == result.mark("raw-sha256"), result.describe()
    assert result.mark("fsck") == "clean", result.describe()
    assert result.mark("verified") == result.mark("files") == "42", result.describe()
    assert result.ok, result.describe()
    target.assert_running()

    # The target stored what the guest wrote, where the guest wrote it.
    with open(disk, "rb") as f:
        f.seek(RAW_MIB << 20)
        assert _sha256(f.read(1 << 20)) == result.mark("raw-sha256")
    fsck = subprocess.run(["e2fsck", "-fn", str(disk)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    for name in ("data.bin", "hello.txt"):
        dumped = tmp_path / name
        dump = ["debugfs", "-R", f"dump /{name} {dumped}", str(disk)]
        subprocess.run(dump, check=True, capture_output=True)
        assert _sha256(dumped.read_bytes()) == result.mark(f"file-{name}")


@pytest.fixture(params=sorted(TARGETS))
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_mtu1500_mkfs_mount_fsck(lab: Lab, guest_image: GuestImage, impl: str, tmp_path: Path) -> None:
    _run_rw_scenario(lab, guest_image, impl, tmp_path, mtu=1500, payload=1024)


def test_mtu9000_jumbo_frames(lab: Lab, guest_image: GuestImage, impl: str, tmp_path: Path) -> None:
    # (9000 - 36) // 512 = 17 sectors a frame.
    _run_rw_scenario(lab, guest_image, impl, tmp_path, mtu=9000, payload=17 * 512)


def test_read_only_export(lab: Lab, guest_image: GuestImage, impl: str, tmp_path: Path) -> None:
    ns = lab.netns("aoeqr")
    tap = lab.tap(ns)
    disk = _disk(tmp_path)
    tree = tmp_path / "tree"
    tree.mkdir()
    hello, data = b"served read-only\n", os.urandom(300_000)
    (tree / "hello.txt").write_bytes(hello)
    (tree / "data.bin").write_bytes(data)
    subprocess.run(
        ["mke2fs", "-q", "-F", "-t", "ext4", "-E", "nodiscard", "-d", str(tree), str(disk), f"{FS_MIB}M"],
        check=True, capture_output=True,
    )  # fmt: skip
    raw = os.urandom(1 << 20)
    with open(disk, "r+b") as f:
        f.seek(RAW_MIB << 20)
        f.write(raw)
    before = _sha256(disk.read_bytes())
    target = Target(lab, impl, tap, disk, readonly=True)

    result = _boot_check(lab, guest_image, tap, 1500, 1024, "ro")
    _assert_device(result, tap, 1024)
    assert result.mark("file-hello.txt") == _sha256(hello), result.describe()
    assert result.mark("file-data.bin") == _sha256(data), result.describe()
    assert result.mark("raw-sha256") == _sha256(raw), result.describe()
    # The write is refused with an I/O error, at once, and the device stays usable.
    assert result.mark("write-rc") != "0", result.describe()
    assert int(result.mark("write-cs")) < 500, result.describe()
    assert result.mark("state-after-write") == "up", result.describe()
    assert result.mark("raw-sha256-after") == _sha256(raw), result.describe()
    assert result.ok, result.describe()
    target.assert_running()
    assert _sha256(disk.read_bytes()) == before, "the read-only export's file changed"
