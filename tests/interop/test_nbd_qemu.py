"""Virtual machines and images over AoE through NBD, with the real kernel in QEMU:

- a guest whose own disk is `pyaoe nbd`'s export of a Debian vblade device (-drive nbd:unix:...):
  mkfs, mount, files, fsck in the guest, and the files are in vblade's backing file afterwards,
  with no aoe or nbd module on the host;
- a qcow2 image served by qemu-nbd and exported by `pyaoe target` through its NBD URI: the guest's
  aoe driver makes ext4 on it, qemu-img check is clean and a qemu-img convert of it holds the files.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab
from support.nbd import pyaoe_nbd, qemu_nbd, unix_uri
from support.qemu import GuestImage, boot_guest, guest_script
from support.target import start_target
from support.wait import wait_until

pytestmark = [
    pytest.mark.interop,
    pytest.mark.qemu,
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

MiB = 1 << 20
BOOT_TIMEOUT = 240.0
PYAOE_TARGET = (sys.executable, "-m", "pyaoe", "target")


def debugfs_cat(image: Path, path: str) -> bytes:
    """A file's bytes from the ext4 file system in ``image`` (read-only, nothing mounted)."""
    done = subprocess.run(["debugfs", "-R", f"cat {path}", str(image)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _answers(uri: str) -> bool:
    return subprocess.run(["nbdinfo", "--size", uri], capture_output=True, timeout=30).returncode == 0


def test_vm_disk_on_aoe_through_pyaoe_nbd(lab: Lab, guest_image: GuestImage, tmp_path: Path) -> None:
    ns = lab.netns("nbdvm")
    here, there = lab.veth(None, ns)
    disk = tmp_path / "vblade.img"
    subprocess.run(["truncate", "-s", f"{64 * MiB}", str(disk)], check=True)
    lab.popen(ns, ["/usr/sbin/vblade", "3", "4", there.ifname, str(disk)], stdout=subprocess.DEVNULL)
    sock = tmp_path / "nbd.sock"
    with pyaoe_nbd(lab, here.ifname, sock) as server:
        uri = unix_uri(sock, "e3.4")
        wait_until(lambda: _answers(uri), 30, "e3.4 as an export")
        # The guest needs no network for its disk: its NIC sits alone in a namespace of its own.
        tap = lab.tap(lab.netns("nbdvmg"))
        drive = f"file=nbd:unix:{sock}:exportname=e3.4,format=raw,if=virtio,cache=none"
        result = boot_guest(
            lab, guest_image, tap, (Path(__file__).parent / "guest" / "nbd-disk.sh").read_text(),
            timeout=BOOT_TIMEOUT, extra_args=["-drive", drive],
        )  # fmt: skip
        assert result.ok, result.describe()
        assert result.mark("vda-sectors") == str(64 * MiB // 512)
        assert result.mark("fsck") == "clean"
        assert server.stop() == 0
    # What the guest wrote is in vblade's backing file, a clean ext4 file system.
    check = subprocess.run(["e2fsck", "-fn", str(disk)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert debugfs_cat(disk, "/hello.txt") == b"hello from a VM on an AoE disk\n"
    assert hashlib.sha256(debugfs_cat(disk, "/data.bin")).hexdigest() == result.mark("file-data.bin")


def test_qcow2_over_aoe_through_its_nbd_uri(lab: Lab, guest_image: GuestImage, tmp_path: Path) -> None:
    image = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
    ns = lab.netns("nbdqc")
    tap = lab.tap(ns)
    with qemu_nbd(lab, tmp_path / "q.sock", image, "qcow2") as served:
        args = ["5", "2", tap.ifname, served.uri]
        with start_target(lab, tap, args, command=PYAOE_TARGET) as target:
            assert target.sectors == 64 * MiB // 512
            env = {"AOE_SHELF": 5, "AOE_SLOT": 2, "AOE_MODE": "rw", "AOE_ARGS": "aoe_deadsecs=30"}
            result = boot_guest(
                lab, guest_image, tap, guest_script("aoe-check.sh"), env=env, timeout=BOOT_TIMEOUT
            )
            assert result.ok, result.describe()
            assert result.mark("fsck") == "clean"
            assert target.stop() == 0
    check = subprocess.run(["qemu-img", "check", str(image)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "No errors were found" in check.stdout, check.stdout + check.stderr
    raw = tmp_path / "converted.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(image), str(raw)], check=True)
    assert debugfs_cat(raw, "/hello.txt") == b"hello from the aoe guest\n"
    assert hashlib.sha256(debugfs_cat(raw, "/data.bin")).hexdigest() == result.mark("file-data.bin")
    assert len(debugfs_cat(raw, "/many/f40")) > 0
