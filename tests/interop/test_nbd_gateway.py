"""`pyaoe nbd` in front of Debian's vblade: the NBD tools see the AoE device (and its partitions) as
exports, copy images in and out, compare them, and a flush reaches vblade as FLUSH CACHE (EXT
when the IDENTIFY page offers it; vblade's does not), seen on the wire by tshark. A device that
goes down fails requests with EIO, and the same connection works again once it is back.
"""

from __future__ import annotations

import errno
import json
import os
import select
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pyaoe.lab.netns import Lab, Link
from pyaoe.nbd.client import NbdConnection, Op
from pyaoe.protocol.nbd.uri import parse_nbd_uri
from pyaoe.protocol.nbd.wire import Cmd
from support.nbd import pyaoe_nbd, unix_uri
from support.wait import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.interop, pytest.mark.timeout(300)]

MiB = 1 << 20
DEBIAN_VBLADE = "/usr/sbin/vblade"


def run(*argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture
def link(lab: Lab) -> tuple[Link, Link]:
    return lab.veth(None, lab.netns("nbdgw"))


def vblade(lab: Lab, there: Link, disk: Path) -> subprocess.Popen[bytes]:
    return lab.popen(
        there.netns,
        [DEBIAN_VBLADE, "1", "2", there.ifname, str(disk)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class Capture:
    """tshark's one-line summaries of the AoE frames on a link, as they arrive."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._partial = b""

    def read(self) -> list[str]:
        """Every line so far (waits up to 0.2 s for more)."""
        out = self.proc.stdout
        assert out is not None
        ready, _w, _x = select.select([out], [], [], 0.2)
        if ready:
            data = self._partial + (out.read() or b"")
            *complete, self._partial = data.split(b"\n")
            self.lines += [line.decode(errors="replace") for line in complete]
        return self.lines


@contextmanager
def capture(lab: Lab, link: Link, poke: Callable[[], object]) -> Iterator[Capture]:
    """tshark on ``link`` until the block ends. It only returns once a frame that ``poke()``
    caused was seen: tshark says "Capture started" a moment before frames really arrive."""
    proc = lab.popen(
        link.netns,
        ["tshark", "-n", "-l", "-i", link.ifname, "-f", "ether proto 0x88a2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    seen = Capture(proc)

    def captured() -> bool:
        poke()
        return bool(seen.read())

    try:
        wait_until(captured, 30, "tshark capturing")
        yield seen
    finally:
        proc.terminate()
        proc.wait(30)


def exports(uri: str) -> dict[str, dict[str, object]]:
    listed = json.loads(run("nbdinfo", "--list", "--json", uri).stdout)
    return {e["export-name"]: e for e in listed["exports"]}


def test_nbd_tools_through_pyaoe_nbd(lab: Lab, link: tuple[Link, Link], tmp_path: Path) -> None:
    here, there = link
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(32 * MiB))
    # A partition table: e1.2p1 from sector 2048, 8 MiB.
    subprocess.run(["sfdisk", str(disk)], input="2048,16384,83\n", text=True, capture_output=True, check=True)
    vblade(lab, there, disk)
    sock = tmp_path / "nbd.sock"
    with pyaoe_nbd(lab, here.ifname, sock) as server:
        wait_until(lambda: "e1.2" in exports(unix_uri(sock)), 30, "e1.2 as an export")
        listed = exports(unix_uri(sock))
        assert listed["e1.2"]["export-size"] == 32 * MiB
        assert listed["e1.2p1"]["export-size"] == 16384 * 512
        uri = unix_uri(sock, "e1.2")
        assert run("nbdinfo", "--size", uri).stdout.strip() == str(32 * MiB)
        assert run("nbdinfo", "--size", unix_uri(sock, "e1.2p1")).stdout.strip() == str(16384 * 512)
        for missing in ("e1.2p", "e1.2p2", "e9.9", "x"):
            done = run("nbdinfo", unix_uri(sock, missing), check=False)
            assert done.returncode != 0 and missing in done.stderr, (missing, done.stderr)

        image = tmp_path / "random.img"
        image.write_bytes(os.urandom(32 * MiB))
        run("nbdcopy", str(image), uri)
        back = tmp_path / "back.img"
        run("nbdcopy", uri, str(back))
        assert back.read_bytes() == image.read_bytes()
        run("qemu-img", "compare", "-f", "raw", "-F", "raw", str(disk), uri)
        assert disk.read_bytes() == image.read_bytes()

        poke = lambda: run("qemu-io", "-r", "-f", "raw", "-c", "read 0 512", uri)  # noqa: E731
        with capture(lab, there, poke) as wire:
            out = run(
                "qemu-io", "-f", "raw", uri,
                "-c", "write -P 0x5a 1048576 65536", "-c", "flush", "-c", "read -P 0x5a 1048576 65536",
            ).stdout  # fmt: skip
            assert "verification failed" not in out
            # The initiator sends FLUSH CACHE EXT (0xea) to a target whose IDENTIFY page offers
            # it, else FLUSH CACHE (0xe7): vblade's page does not (and it aborts 0xea).
            wait_until(lambda: any(_is_flush(line) for line in wire.read()), 30, "FLUSH CACHE on the wire")
        assert disk.read_bytes()[MiB : MiB + 65536] == b"\x5a" * 65536
        assert server.proc.poll() is None


def _is_flush(line: str) -> bool:
    return "Request" in line and ("<0xe7>" in line or "<0xea>" in line or "Flush" in line)


def test_device_down_gives_eio_then_works_again(lab: Lab, link: tuple[Link, Link], tmp_path: Path) -> None:
    here, there = link
    disk = tmp_path / "disk.img"
    disk.write_bytes(os.urandom(4 * MiB))
    target = vblade(lab, there, disk)
    sock = tmp_path / "nbd.sock"
    with pyaoe_nbd(lab, here.ifname, sock, "--deadsecs", "2"):
        uri = unix_uri(sock, "e1.2")
        wait_until(lambda: run("nbdinfo", "--size", uri, check=False).returncode == 0, 30, "e1.2")
        conn = NbdConnection(parse_nbd_uri(uri), timeout=60)
        try:
            buf = memoryview(bytearray(4096))
            assert conn.run([Op(Cmd.READ, 0, [buf])]) == [0]
            assert bytes(buf) == disk.read_bytes()[:4096]
            target.kill()
            target.wait()
            # Reads fail with EIO once the initiator gives the device up (deadsecs).
            assert conn.run([Op(Cmd.READ, 8192, [buf])]) == [errno.EIO]
            vblade(lab, there, disk)
            # vblade announces itself at start: the device comes back and the same connection works.
            wait_until(lambda: conn.run([Op(Cmd.READ, 8192, [buf])]) == [0], 60, "reads working again")
            assert bytes(buf) == disk.read_bytes()[8192 : 8192 + 4096]
        finally:
            conn.close()
