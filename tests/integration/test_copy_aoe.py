"""`pyaoe copy` with an AoE end: Debian's vblade serves a file from a network namespace, pyaoe's
initiator reaches it over a veth pair. Push an image with --verify, pull it back sparse, copy
AoE to an NBD export, and a device that does not answer is one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, Link
from support.nbd import qemu_nbd

pytestmark = [pytest.mark.netns, pytest.mark.timeout(300)]

MiB = 1 << 20
PYAOE = (sys.executable, "-m", "pyaoe")


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


def vblade_side(lab: Lab, disk: Path) -> Link:
    ns = lab.netns("cpyaoe")
    here, there = lab.veth(None, ns)
    lab.popen(ns, ["/usr/sbin/vblade", "1", "2", there.ifname, str(disk)], stdout=subprocess.DEVNULL)
    return here


def copy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PYAOE, "copy", *args], capture_output=True, text=True, timeout=240)


def test_push_and_pull_an_image(lab: Lab, tmp_path: Path) -> None:
    disk = tmp_path / "vblade.img"
    disk.write_bytes(b"\xff" * (16 * MiB))  # stale bytes: the zeroes of the image must replace them
    here = vblade_side(lab, disk)
    image = tmp_path / "vm.img"
    data = os.urandom(2 * MiB) + bytes(12 * MiB) + os.urandom(2 * MiB)
    image.write_bytes(data)

    pushed = copy("--iflist", here.ifname, "--verify", str(image), "aoe:e1.2")
    assert pushed.returncode == 0, pushed.stderr
    assert "12 MiB of zeroes written" in pushed.stdout
    assert "verified: sha256" in pushed.stdout
    assert disk.read_bytes() == data

    pulled_path = tmp_path / "pulled.img"
    pulled = copy("--iflist", here.ifname, "--verify", "aoe:e1.2", str(pulled_path))
    assert pulled.returncode == 0, pulled.stderr
    assert pulled_path.read_bytes() == data
    assert pulled_path.stat().st_blocks * 512 <= 5 * MiB  # the zeroes are a hole


def test_aoe_to_nbd(lab: Lab, tmp_path: Path) -> None:
    disk = tmp_path / "vblade.img"
    data = os.urandom(8 * MiB)
    disk.write_bytes(data)
    here = vblade_side(lab, disk)
    out = tmp_path / "out.raw"
    out.write_bytes(bytes(8 * MiB))
    with qemu_nbd(lab, tmp_path / "q.sock", out) as served:
        done = copy("--iflist", here.ifname, "-q", "--verify", "aoe:e1.2", served.uri)
        assert done.returncode == 0, done.stderr
    assert out.read_bytes() == data


def test_a_device_that_never_answers(lab: Lab, tmp_path: Path) -> None:
    disk = tmp_path / "vblade.img"
    disk.write_bytes(bytes(MiB))
    here = vblade_side(lab, disk)
    done = copy("--iflist", here.ifname, "--timeout", "3", "aoe:e7.7", str(tmp_path / "x.img"))
    assert done.returncode == 1
    assert done.stderr == "pyaoe copy: cannot open aoe:e7.7: no such AoE device answered within 3 s\n"
    assert not (tmp_path / "x.img").exists()
    done = copy("--iflist", "nosuchif0", "aoe:e1.2", str(tmp_path / "x.img"))
    assert (done.returncode, done.stderr) == (1, "pyaoe copy: --iflist: there is no interface nosuchif0\n")
