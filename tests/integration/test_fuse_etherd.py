"""`pyaoe initiator` against real targets (pyaoe's and Debian's vblade) over a veth pair: the
target alone in a test namespace, the daemon and its FUSE mount in the root namespace where the
test (and losetup, mkfs, mount, aoe-stat) see it. Needs root.

Every daemon, mount and loop device made here is removed at the end, even when a test fails.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyaoe.initiator import InitiatorConfig
from pyaoe.lab.netns import Lab
from support.initiator_daemon import (
    DISK_SIZE,
    TARGETS,
    Net,
    RunningDaemon,
    announcements_dropped,
    device_up,
    net_with_target,
    running_initiator,
)
from support.target import Listener, start_target
from support.wait import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.interop]

MiB = 1 << 20
ATA_FLUSH_CACHE_EXT = 0xEA
ATA_FLUSH_CACHE = 0xE7


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """One of pyaoe's aoetools, as a user runs it."""
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)


@pytest.fixture(params=sorted(TARGETS))
def net(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Net]:
    with net_with_target(request.param, tmp_path) as n:
        yield n


@pytest.fixture
def pyaoe_net(tmp_path: Path) -> Iterator[Net]:
    with net_with_target("pyaoe", tmp_path) as n:
        yield n


@contextlib.contextmanager
def loop_device(path: Path) -> Iterator[str]:
    dev = subprocess.run(
        ["losetup", "-f", "--show", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


@contextlib.contextmanager
def mounted(dev: str, where: Path) -> Iterator[Path]:
    where.mkdir(exist_ok=True)
    subprocess.run(["mount", dev, str(where)], check=True, capture_output=True)
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def aoe_stat_rows(daemon: RunningDaemon) -> tuple[str, str]:
    debian = subprocess.run(
        ["/usr/sbin/aoe-stat"],
        env={**os.environ, "sysfs_dir": str(daemon.sys)},
        capture_output=True,
        text=True,
    )
    ours = cli("pyaoe.cli.aoe_stat", "--root", str(daemon.root))
    assert debian.returncode == ours.returncode, (debian, ours)
    return debian.stdout, ours.stdout


# -- the tree -----------------------------------------------------------------------------------


def test_device_in_etherd_and_sys_and_both_aoe_stats_agree(net: Net) -> None:
    with running_initiator(net.lab, net.here.ifname) as daemon:
        path = device_up(daemon)
        assert os.stat(path).st_size == DISK_SIZE
        assert daemon.attr("e1.2", "size") == f"{DISK_SIZE // 512}\n"
        assert daemon.attr("e1.2", "mac") == net.there.mac.hex() + "\n"
        assert daemon.attr("e1.2", "netif") == net.here.ifname + "\n"
        assert daemon.attr("e1.2", "payload") == "1024\n"
        assert daemon.attr("e1.2", "dev") == "152:0\n"
        firmware = daemon.attr("e1.2", "firmware-version")
        assert firmware == "0x4019\n" if net.kind == "vblade" else firmware.startswith("0x")
        params = daemon.sys / "module" / "aoe" / "parameters"
        assert (params / "aoe_iflist").read_text() == net.here.ifname + "\n"
        assert (params / "aoe_deadsecs").read_text() == "180\n"
        assert (params / "aoe_maxout").read_text() == "128\n"
        assert (params / "aoe_dyndevs").read_text() == "1\n"
        debian, ours = aoe_stat_rows(daemon)
        assert debian == ours
        assert [line.split() for line in ours.splitlines()] == [
            ["e1.2", "0.067GB", net.here.ifname, "1024", "up"]
        ]
        # The data is the target's file.
        with net.disk.open("r+b") as f:
            f.seek(5 * MiB)
            f.write(b"written at the target")
        with path.open("rb") as f:
            f.seek(5 * MiB)
            assert f.read(21) == b"written at the target"
    assert not os.path.ismount(daemon.root)


def test_ext4_on_a_loop_device_over_the_device_file(net: Net, tmp_path: Path) -> None:
    files = {f"f{i}": os.urandom(size) for i, size in enumerate([1, 4096, 100_000, 3 * MiB + 17])}
    with running_initiator(net.lab, net.here.ifname) as daemon:
        path = device_up(daemon)
        with loop_device(path) as dev:
            assert int(subprocess.check_output(["blockdev", "--getsize64", dev])) == DISK_SIZE
            subprocess.run(["mkfs.ext4", "-q", "-F", dev], check=True, capture_output=True)
            with mounted(dev, tmp_path / "mnt") as mnt:
                for name, data in files.items():
                    (mnt / name).write_bytes(data)
                (mnt / "dir").mkdir()
                (mnt / "dir" / "note").write_text("hello")
            fsck = subprocess.run(["e2fsck", "-fn", dev], capture_output=True, text=True)
            assert fsck.returncode == 0, fsck.stdout + fsck.stderr
            with mounted(dev, tmp_path / "mnt") as mnt:
                for name, data in files.items():
                    assert hashlib.sha256((mnt / name).read_bytes()).digest() == hashlib.sha256(data).digest()
                assert (mnt / "dir" / "note").read_text() == "hello"
    # What the file system wrote is in the target's file: e2fsck reads it without any initiator.
    fsck = subprocess.run(["e2fsck", "-fn", str(net.disk)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_partitions_appear_after_revalidate(pyaoe_net: Net) -> None:
    net = pyaoe_net
    with running_initiator(net.lab, net.here.ifname) as daemon:
        path = device_up(daemon)
        table = (
            "label: dos\nx1 : start=2048,size=8192,type=83\nx2 : start=16384,type=5\n"
            "x5 : start=18432,size=4096,type=83\nx6 : start=24576,size=2048,type=82\n"
        )
        subprocess.run(["sfdisk", "-q", "--no-reread", str(path)], input=table, text=True, check=True)
        revalidate = cli("pyaoe.cli.aoe_revalidate", "--root", str(daemon.root), "e1.2")
        assert revalidate.returncode == 0, revalidate.stderr
        sizes = {n: os.stat(daemon.etherd / n).st_size for n in os.listdir(daemon.etherd) if "p" in n}
        assert sizes == {"e1.2p1": 8192 * 512, "e1.2p2": 1024, "e1.2p5": 4096 * 512, "e1.2p6": 2048 * 512}
        with (daemon.etherd / "e1.2p6").open("r+b") as f:
            f.write(b"partition six")
        assert net.disk.read_bytes()[24576 * 512 :][:13] == b"partition six"
        gpt = "label: gpt\nx3 : start=2048,size=40960,type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n"
        subprocess.run(["sfdisk", "-q", "--no-reread", str(path)], input=gpt, text=True, check=True)
        (daemon.etherd / "revalidate").write_bytes(b"e1.2\n")
        assert sorted(n for n in os.listdir(daemon.etherd) if "p" in n) == ["e1.2p3"]
        assert os.stat(daemon.etherd / "e1.2p3").st_size == 40960 * 512
        # aoe-stat lists disks only.
        _debian, ours = aoe_stat_rows(daemon)
        assert [line.split()[0] for line in ours.splitlines()] == ["e1.2"]


def test_revalidate_rereads_the_size_of_an_open_device(pyaoe_net: Net) -> None:
    net = pyaoe_net
    with running_initiator(net.lab, net.here.ifname) as daemon:
        path = device_up(daemon)
        held = os.open(path, os.O_RDONLY)  # open: a config answer alone does not re-identify
        try:
            net.target.stop()
            with net.disk.open("r+b") as f:
                f.truncate(DISK_SIZE + 32 * MiB)
            args = ["1", "2", net.there.ifname, str(net.disk)]
            with start_target(net.lab, net.there, args, listen=net.here):
                assert os.stat(path).st_size == DISK_SIZE
                result = cli("pyaoe.cli.aoe_revalidate", "--root", str(daemon.root), "e1.2")
                assert result.returncode == 0, result.stderr
                assert os.stat(path).st_size == DISK_SIZE + 32 * MiB
                assert daemon.attr("e1.2", "size") == f"{(DISK_SIZE + 32 * MiB) // 512}\n"
                assert os.pread(held, 4, DISK_SIZE + 32 * MiB - 4) == bytes(4)
        finally:
            os.close(held)


# -- control files ------------------------------------------------------------------------------


def test_discover_finds_a_target_started_after_the_daemon(tmp_path: Path) -> None:
    with Lab() as lab:
        ns = lab.netns("fuse")
        here, there = lab.veth(None, ns)
        disk = tmp_path / "disk.img"
        with disk.open("wb") as f:
            f.truncate(8 * MiB)
        with (
            announcements_dropped(here.ifname) as (dropped, discoveries),
            running_initiator(lab, here.ifname) as daemon,
        ):
            # The start-up discovery and its repeats (1 s and 3 s later) are over.
            starts = 1 + len(InitiatorConfig().discover_again)
            wait_until(lambda: discoveries() >= starts, 10, "the start-up discoveries")
            with start_target(lab, there, ["3", "4", there.ifname, str(disk)]) as target:
                wait_until(lambda: dropped() >= 1, 10, "the announcement")
                # Nothing makes the daemon look again by itself within a minute.
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    assert not (daemon.etherd / "e3.4").exists()
                    time.sleep(0.05)
                assert discoveries() == starts

                def discovered() -> bool:
                    result = cli("pyaoe.cli.aoe_discover", "--root", str(daemon.root))
                    assert result.returncode == 0, result.stderr
                    return (daemon.etherd / "e3.4").exists()

                wait_until(discovered, 10, "e3.4 after aoe-discover")
                assert os.stat(daemon.etherd / "e3.4").st_size == 8 * MiB
                assert target.alive()


def read_err_until(fd: int, needle: str, timeout: float) -> str:
    """Lines from err (opened O_NONBLOCK) until one contains ``needle``."""
    seen = ""
    deadline = time.monotonic() + timeout
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} in err; it said:\n{seen}")
        if poller.poll(left * 1000):
            with contextlib.suppress(BlockingIOError):
                seen += os.read(fd, 65536).decode()
    return seen


def test_err_closewait_and_flush_when_the_target_goes_away(net: Net) -> None:
    with running_initiator(net.lab, net.here.ifname, "--deadsecs", "2") as daemon:
        path = device_up(daemon)
        err = os.open(daemon.etherd / "err", os.O_RDONLY | os.O_NONBLOCK)
        held = os.open(path, os.O_RDONLY)
        try:
            read_err_until(err, "e1.2", 5)  # the lines of its discovery
            net.target.stop()
            failed: list[int] = []

            def reader() -> None:
                try:
                    os.pread(held, 4096, 0)
                except OSError as exc:
                    failed.append(exc.errno or 0)

            thread = threading.Thread(target=reader)
            thread.start()
            said = read_err_until(err, "e1.2 is down", 20)
            assert "retransmit" in said
            thread.join(10)
            assert failed == [errno.EIO]
            assert daemon.attr("e1.2", "state") == "down,closewait\n"
            _debian, ours = aoe_stat_rows(daemon)
            assert ours.split()[-1] == "down,closewait"
        finally:
            os.close(held)
            os.close(err)
        wait_until(lambda: daemon.attr("e1.2", "state") == "down\n", 5, "down once closed")
        flush = cli("pyaoe.cli.aoe_flush", "--root", str(daemon.root))
        assert flush.returncode == 0, flush.stderr
        assert not path.exists()
        assert os.listdir(daemon.sys / "block") == []


def test_interfaces_reads_and_sets_the_iflist(pyaoe_net: Net) -> None:
    net = pyaoe_net
    with running_initiator(net.lab, net.here.ifname) as daemon:
        device_up(daemon)
        shown = cli("pyaoe.cli.aoe_interfaces", "--root", str(daemon.root))
        assert shown.stdout == net.here.ifname + "\n"
        (daemon.etherd / "interfaces").write_bytes(b"lo\0")
        assert (daemon.etherd / "interfaces").read_text() == "lo\n"
        assert (daemon.sys / "module" / "aoe" / "parameters" / "aoe_iflist").read_text() == "lo\n"
        # Back to the veth: pyaoe's aoe-interfaces writes the parameter file.
        result = cli("pyaoe.cli.aoe_interfaces", "--root", str(daemon.root), net.here.ifname)
        assert result.returncode == 0, result.stderr
        assert (daemon.etherd / "interfaces").read_text() == net.here.ifname + "\n"
        (daemon.etherd / "discover").write_bytes(b"\n")
        wait_until(lambda: daemon.attr("e1.2", "netif") == net.here.ifname + "\n", 10, "the netif back")


def test_fsync_on_the_device_file_sends_a_cache_flush_and_waits_for_it(net: Net) -> None:
    listener = Listener(net.there)  # frames arriving at the target
    try:
        with running_initiator(net.lab, net.here.ifname) as daemon:
            path = device_up(daemon)
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, b"must be durable", 0)
                listener.collect()
                assert not any(is_flush(f) for f in listener.frames)
                os.fsync(fd)
            finally:
                os.close(fd)
            flush = listener.wait_for(is_flush, 5)
            # Our target lists FLUSH CACHE EXT in IDENTIFY; vblade only FLUSH CACHE (0xE7).
            assert flush[27] == (ATA_FLUSH_CACHE_EXT if net.kind == "pyaoe" else ATA_FLUSH_CACHE)
            assert net.disk.read_bytes()[:15] == b"must be durable"
    finally:
        listener.close()


def opened_by(pid: int) -> list[str]:
    fds = Path(f"/proc/{pid}/fd")
    return [os.readlink(fds / fd) for fd in os.listdir(fds)]


def is_flush(frame: bytes) -> bool:
    """An AoE ATA request (not a response) carrying FLUSH CACHE or FLUSH CACHE EXT."""
    return (
        len(frame) >= 36
        and frame[12:14] == b"\x88\xa2"
        and not frame[14] & 0x08
        and frame[19] == 0
        and frame[27] in (ATA_FLUSH_CACHE, ATA_FLUSH_CACHE_EXT)
    )


def test_a_busy_or_missing_mount_point_is_refused(pyaoe_net: Net, tmp_path: Path) -> None:
    net = pyaoe_net
    with running_initiator(net.lab, net.here.ifname) as daemon:
        busy = subprocess.run(
            [sys.executable, "-m", "pyaoe", "initiator", "--root", str(daemon.root)],
            capture_output=True,
            text=True,
        )
        assert busy.returncode == 1
        assert busy.stderr.splitlines() == [
            f"pyaoe initiator: mount point {daemon.root} is busy: something is mounted there already"
        ]
    missing = tmp_path / "no" / "aoe"
    result = subprocess.run(
        [sys.executable, "-m", "pyaoe", "initiator", "--root", str(missing)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert (
        result.stderr
        == f"pyaoe initiator: mount point {missing}: its parent {missing.parent} does not exist\n"
    )


def test_sigint_unmounts_even_with_a_reader_blocked_on_err(pyaoe_net: Net) -> None:
    net = pyaoe_net
    with running_initiator(net.lab, net.here.ifname) as daemon:
        device_up(daemon)
        cat = subprocess.Popen(["cat", str(daemon.etherd / "err")], stdout=subprocess.DEVNULL)
        try:
            err = str(daemon.etherd / "err")
            wait_until(lambda: err in opened_by(cat.pid), 5, "cat to open err")
            daemon.proc.send_signal(signal.SIGINT)
            assert daemon.proc.wait(15) == 0
            cat.wait(5)
        finally:
            cat.kill()
            cat.wait()
        assert not os.path.ismount(daemon.root)
        # The daemon made the mount point, so it removed it too.
        assert not daemon.root.exists()
        assert "stopped by SIGINT" in daemon.stderr()
