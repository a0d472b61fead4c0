"""pyaoe's target on an NBD URI: qemu-nbd and nbdkit serve the bytes, the target runs in a network
namespace, pyaoe's initiator library reads and writes through it from the root namespace.

The window and read-only options, FLUSH CACHE reaching the NBD server, an NBD error becoming an
ATA error with the target serving on, and the NBD server killed and restarted under a write load
with every acknowledged write in the file afterwards.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pyaoe import Initiator, InitiatorConfig
from pyaoe.lab.netns import Lab, Link
from support.nbd import nbdkit, qemu_nbd, unix_uri
from support.target import PYAOE_TARGET, VBLADE, RunningTarget, start_target
from support.wait import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.timeout(300)]

MiB = 1 << 20


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


@pytest.fixture
def link(lab: Lab) -> tuple[Link, Link]:
    ns = lab.netns("nbdbk")
    return lab.veth(None, ns)


@contextmanager
def target(
    lab: Lab, link: tuple[Link, Link], args: list[str], command: tuple[str, ...] = PYAOE_TARGET
) -> Iterator[RunningTarget]:
    """``command [options] 1 2 IF URI`` for ``args`` = [options..., URI]."""
    here, there = link
    argv = [*args[:-1], "1", "2", there.ifname, args[-1]]
    with start_target(lab, there, argv, listen=here, command=command) as running:
        if running.listener is not None:
            running.listener.close()
            running.listener = None
        yield running


@contextmanager
def initiator(here: Link, **options: object) -> Iterator[Initiator]:
    with Initiator(InitiatorConfig(iflist=(here.ifname,), **options)) as ini:  # type: ignore[arg-type]
        ini.wait_for_device("e1.2", 20)
        yield ini


@pytest.mark.parametrize("command", [PYAOE_TARGET, VBLADE], ids=["pyaoe-target", "vblade"])
def test_target_serves_a_qemu_nbd_export(
    lab: Lab, link: tuple[Link, Link], tmp_path: Path, command: tuple[str, ...]
) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(os.urandom(4 * MiB))
    with qemu_nbd(lab, tmp_path / "q.sock", image) as served:
        here = link[0]
        with target(lab, link, [served.uri], command=command) as t:
            assert t.sectors == 4 * MiB // 512 and t.mode == "O_RDWR"
            with initiator(here) as ini:
                assert ini.read("e1.2", 0, 4 * MiB) == image.read_bytes()
                data = os.urandom(MiB + 1536)
                ini.write("e1.2", 512 * 1000, data)
                ini.flush_cache("e1.2")
                assert ini.read("e1.2", 512 * 1000, len(data)) == data
    assert image.read_bytes()[512 * 1000 : 512 * 1000 + len(data)] == data


def test_window_read_only_and_sync(lab: Lab, link: tuple[Link, Link], tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    content = os.urandom(2 * MiB)
    image.write_bytes(content)
    here = link[0]
    with qemu_nbd(lab, tmp_path / "q.sock", image) as served:
        # -o 8 -l 1024: sectors 8..1031 of the export, read-only.
        with target(lab, link, ["-r", "-o", "8", "-l", "1024", served.uri]) as t:
            assert (t.sectors, t.mode) == (1024, "O_RDONLY")
            with initiator(here) as ini:
                assert ini.read("e1.2", 0, 1024 * 512) == content[8 * 512 : 1032 * 512]
                with pytest.raises(OSError):
                    ini.write("e1.2", 0, b"x" * 512)
                with pytest.raises((OSError, ValueError)):
                    ini.read("e1.2", 1024 * 512, 512)
        with target(lab, link, ["-s", served.uri]), initiator(here) as ini:
            ini.write("e1.2", 0, b"s" * 4096)
    assert image.read_bytes()[:4096] == b"s" * 4096
    assert image.read_bytes()[4096:] == content[4096:]


def test_nbd_errors_become_ata_errors_and_the_target_goes_on(
    lab: Lab, link: tuple[Link, Link], tmp_path: Path
) -> None:
    trigger = tmp_path / "fail-writes"
    sock = tmp_path / "k.sock"
    filters = ["--filter=error", "memory", "size=4M"]
    errors = ["error-pwrite=EIO", "error-pwrite-rate=100%", f"error-file={trigger}"]
    uri = unix_uri(sock)
    with nbdkit(lab, sock, *filters, *errors), target(lab, link, [uri]), initiator(link[0]) as ini:
        ini.write("e1.2", 0, b"a" * 4096)
        trigger.touch()
        with pytest.raises(OSError):
            ini.write("e1.2", 4096, b"b" * 4096)
        # Reads still work while writes fail, and writes work again once the server does.
        assert ini.read("e1.2", 0, 4096) == b"a" * 4096
        trigger.unlink()
        ini.write("e1.2", 4096, b"c" * 4096)
        assert ini.read("e1.2", 0, 8192) == b"a" * 4096 + b"c" * 4096


def test_nbd_server_killed_and_restarted_under_load(
    lab: Lab, link: tuple[Link, Link], tmp_path: Path
) -> None:
    """Writes go on while qemu-nbd is killed and started again: some fail (ATA errors), later ones
    succeed, and every write the initiator saw acknowledged is in the file."""
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(8 * MiB))
    sock = tmp_path / "q.sock"
    acknowledged: dict[int, bytes] = {}
    failures = 0
    stop = threading.Event()
    phase_done = threading.Event()

    def writer(ini: Initiator) -> None:
        nonlocal failures
        block = 0
        while not stop.is_set():
            offset = (block % 256) * 32768
            data = os.urandom(32768)
            try:
                ini.write("e1.2", offset, data)
                ini.flush_cache("e1.2")
                acknowledged[offset] = data
            except OSError:
                failures += 1
                acknowledged.pop(offset, None)  # its old acknowledged content may be overwritten in part
                phase_done.set()
            block += 1

    with qemu_nbd(lab, sock, image) as first:
        uri = first.uri
        with target(lab, link, [uri]), initiator(link[0], deadsecs=60.0) as ini:
            thread = threading.Thread(target=writer, args=(ini,), daemon=True)
            thread.start()
            try:
                wait_until(lambda: len(acknowledged) >= 8, 60, "writes before the kill")
                first.kill()
                wait_until(phase_done.is_set, 60, "a write failing while the NBD server is gone")
                failed_while_down = failures
                with qemu_nbd(lab, sock, image):
                    before = len(acknowledged)
                    wait_until(lambda: len(acknowledged) >= before + 8, 60, "writes after the restart")
                    stop.set()
                    thread.join(60)
            finally:
                stop.set()
                thread.join(60)
    assert failed_while_down >= 1
    content = image.read_bytes()
    for offset, data in acknowledged.items():
        assert content[offset : offset + len(data)] == data, f"acknowledged write at {offset} lost"


def test_sync_writes_are_fua_and_flush_cache_is_nbd_flush(
    lab: Lab, link: tuple[Link, Link], tmp_path: Path
) -> None:
    log = tmp_path / "nbdkit.log"
    with nbdkit(lab, tmp_path / "k.sock", "--filter=log", "memory", "size=4M", f"logfile={log}") as served:
        uri = unix_uri(served.socket)
        with target(lab, link, ["-s", uri]), initiator(link[0]) as ini:
            ini.write("e1.2", 0, b"s" * 1024)
        writes = [line for line in log.read_text().splitlines() if " Write " in line]
        assert writes and all("fua=1" in line for line in writes), writes
        with target(lab, link, [uri]), initiator(link[0]) as ini:
            ini.write("e1.2", 4096, b"w" * 1024)
            flushes_before = log.read_text().count(" Flush ")
            ini.flush_cache("e1.2")
        text = log.read_text()
        assert text.count(" Flush ") > flushes_before
        assert any("fua=0" in line for line in text.splitlines() if " Write " in line)
