"""The initiator's FUSE tree over a fake initiator (no network): layout, sysfs attributes, device
file I/O, fsync, open counts, the err stream, partitions, flush, interfaces. Needs root (FUSE).

The mount points live under /run with no letter "p" in their path: Debian's aoe-stat skips
every path containing one.
"""

from __future__ import annotations

import errno
import itertools
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyaoe.initiator import InitiatorConfig
from support.fake_initiator import FakeInitiator
from support.fuse_mount import MountedTree, mounted_tree
from support.wait import wait_until

pytestmark = pytest.mark.netns
MiB = 1 << 20
_names = itertools.count()
AOE_STAT = [sys.executable, "-m", "pyaoe.cli.aoe_stat"]


@pytest.fixture
def ini() -> Iterator[FakeInitiator]:
    fake = FakeInitiator(InitiatorConfig(deadsecs=7, maxout=32, iflist=("veth0",)))
    yield fake
    fake.close()


@pytest.fixture
def tree(ini: FakeInitiator) -> Iterator[MountedTree]:
    root = Path(f"/run/aoe-t{os.getpid()}-{next(_names)}")
    try:
        with mounted_tree(ini, root) as mounted:
            yield mounted
    finally:
        if root.is_dir() and not os.path.ismount(root):
            root.rmdir()


def attr(tree: MountedTree, device: str, name: str) -> str:
    return (tree.sys / "block" / f"etherd!{device}" / name).read_text()


def test_layout_control_files_and_parameters(tree: MountedTree) -> None:
    assert sorted(os.listdir(tree.root)) == ["etherd", "sys"]
    assert sorted(os.listdir(tree.etherd)) == ["discover", "err", "flush", "interfaces", "revalidate"]
    modes = {n: os.stat(tree.etherd / n).st_mode & 0o777 for n in os.listdir(tree.etherd)}
    assert modes == {
        "discover": 0o220,
        "err": 0o440,
        "flush": 0o220,
        "interfaces": 0o660,
        "revalidate": 0o220,
    }
    params = tree.sys / "module" / "aoe" / "parameters"
    values = {n: (params / n).read_text() for n in os.listdir(params)}
    assert values == {
        "aoe_iflist": "veth0\n",
        "aoe_deadsecs": "7\n",
        "aoe_maxout": "32\n",
        "aoe_dyndevs": "1\n",
    }
    assert (tree.sys / "module" / "aoe" / "version").read_text().strip()
    assert os.listdir(tree.sys / "block") == []


def test_a_device_appears_with_its_attributes_and_both_aoe_stats_agree(
    tree: MountedTree, ini: FakeInitiator
) -> None:
    ini.add_device("e1.2", 8 * MiB)
    ini.add_device("e10.0", 3 * MiB)
    wait_until(lambda: (tree.etherd / "e10.0").exists(), what="the device files")
    assert os.stat(tree.etherd / "e1.2").st_size == 8 * MiB
    assert os.stat(tree.etherd / "e1.2").st_mode & 0o777 == 0o660
    assert attr(tree, "e1.2", "state") == "up\n"
    assert attr(tree, "e1.2", "size") == f"{8 * MiB // 512}\n"
    assert attr(tree, "e1.2", "mac") == "020000000001\n"
    assert attr(tree, "e1.2", "netif") == "veth0\n"
    assert attr(tree, "e1.2", "payload") == "1024\n"
    assert attr(tree, "e1.2", "firmware-version") == "0x4019\n"
    assert attr(tree, "e1.2", "dev") == "152:0\n"
    assert attr(tree, "e10.0", "dev") == "152:16\n"
    debian = subprocess.run(
        ["/usr/sbin/aoe-stat"], env={**os.environ, "sysfs_dir": str(tree.sys)}, capture_output=True, text=True
    )
    ours = subprocess.run([*AOE_STAT, "--root", str(tree.root)], capture_output=True, text=True)
    assert debian.returncode == ours.returncode == 0, (debian.stderr, ours.stderr)
    assert ours.stdout == debian.stdout
    assert [line.split() for line in ours.stdout.splitlines()] == [
        ["e1.2", "0.008GB", "veth0", "1024", "up"],
        ["e10.0", "0.003GB", "veth0", "1024", "up"],
    ]


def test_device_file_reads_and_writes_any_alignment(tree: MountedTree, ini: FakeInitiator) -> None:
    ini.add_device("e1.2", 1 * MiB)
    wait_until(lambda: (tree.etherd / "e1.2").exists())
    fd = os.open(tree.etherd / "e1.2", os.O_RDWR)
    try:
        assert os.pwrite(fd, b"hello, world", 1000) == 12
        assert bytes(ini.backend("e1.2").buffer[1000:1012]) == b"hello, world"
        assert os.pread(fd, 16, 998) == b"\0\0hello, world\0\0"
        big = os.urandom(3 * 65536 + 7)
        assert os.pwrite(fd, big, 4097) == len(big)
        assert os.pread(fd, len(big), 4097) == big
        # A device file ends where the device does: a short write at the end, then ENOSPC.
        assert os.pwrite(fd, b"x" * 10, MiB - 4) == 4
        with pytest.raises(OSError) as exc:
            os.pwrite(fd, b"x", MiB)
        assert exc.value.errno == errno.ENOSPC
        assert os.pread(fd, 100, MiB) == b""
        assert os.pread(fd, 100, MiB - 2) == b"xx"
    finally:
        os.close(fd)
    # O_TRUNC (dd without conv=notrunc) does not shrink a device.
    with open(tree.etherd / "e1.2", "wb") as f:
        f.write(b"head")
    assert os.stat(tree.etherd / "e1.2").st_size == MiB
    assert bytes(ini.backend("e1.2").buffer[1000:1012]) == b"hello, world"


def test_a_write_returns_only_when_the_target_has_it(tree: MountedTree, ini: FakeInitiator) -> None:
    ini.add_device("e1.2", 1 * MiB)
    wait_until(lambda: (tree.etherd / "e1.2").exists())
    fd = os.open(tree.etherd / "e1.2", os.O_RDWR)
    try:
        ini.gate.clear()  # the "target" holds every request
        done = threading.Event()
        writer = threading.Thread(target=lambda: (os.pwrite(fd, b"data", 0), done.set()))
        writer.start()
        assert not done.wait(0.3)
        assert bytes(ini.backend("e1.2").buffer[:4]) == bytes(4)
        ini.gate.set()
        assert done.wait(5)
        writer.join()
        assert bytes(ini.backend("e1.2").buffer[:4]) == b"data"
    finally:
        ini.gate.set()
        os.close(fd)


def test_fsync_flushes_the_targets_cache(tree: MountedTree, ini: FakeInitiator) -> None:
    ini.add_device("e1.2", 1 * MiB)
    wait_until(lambda: (tree.etherd / "e1.2").exists())
    fd = os.open(tree.etherd / "e1.2", os.O_WRONLY)
    try:
        os.write(fd, b"abc")
        assert ini.flushes("e1.2") == 0
        os.fsync(fd)
        assert ini.flushes("e1.2") == 1
        os.fdatasync(fd)
        assert ini.flushes("e1.2") == 2
    finally:
        os.close(fd)


def test_open_counts_reach_the_initiator_and_a_held_device_reads_closewait(
    tree: MountedTree, ini: FakeInitiator
) -> None:
    ini.add_device("e1.2", 1 * MiB)
    wait_until(lambda: (tree.etherd / "e1.2").exists())
    fd = os.open(tree.etherd / "e1.2", os.O_RDONLY)
    fd2 = os.open(tree.etherd / "e1.2", os.O_RDONLY)
    assert ini.open_count("e1.2") == 2
    os.close(fd2)
    wait_until(lambda: ini.open_count("e1.2") == 1, what="the close")
    ini.take_down("e1.2")
    assert attr(tree, "e1.2", "state") == "down,closewait\n"
    with pytest.raises(OSError) as exc:
        os.pread(fd, 512, 0)
    assert exc.value.errno == errno.EIO
    os.close(fd)
    wait_until(lambda: attr(tree, "e1.2", "state") == "down\n", what="down once closed")
    # The driver refuses to open a disk that is not up.
    with pytest.raises(OSError) as exc:
        os.open(tree.etherd / "e1.2", os.O_RDONLY)
    assert exc.value.errno == errno.ENODEV


def test_err_blocks_until_the_next_line(tree: MountedTree, ini: FakeInitiator) -> None:
    ini.add_device("e1.2", 1 * MiB)
    wait_until(lambda: (tree.etherd / "e1.2").exists())
    fd = os.open(tree.etherd / "err", os.O_RDONLY)
    try:
        # A new reader first gets the lines kept in the ring.
        assert os.read(fd, 4096) == b"aoe: e1.2 up\n"
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(os.read(fd, 4096)))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive(), "err returned without a line to give"
        ini.take_down("e1.2")
        reader.join(5)
        assert got == [b"aoe: e1.2 down: target gone\n"]
    finally:
        os.close(fd)


def test_err_nonblocking_and_poll(tree: MountedTree, ini: FakeInitiator) -> None:
    fd = os.open(tree.etherd / "err", os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(BlockingIOError):
            os.read(fd, 4096)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        assert poller.poll(100) == []
        ini.add_device("e3.1", 1 * MiB)
        assert poller.poll(5000) == [(fd, select.POLLIN)]
        assert os.read(fd, 4096) == b"aoe: e3.1 up\n"
    finally:
        os.close(fd)


def test_err_lines_longer_than_the_buffer_come_in_pieces(tree: MountedTree, ini: FakeInitiator) -> None:
    ini.add_device("e1.2", 1 * MiB)
    fd = os.open(tree.etherd / "err", os.O_RDONLY)
    try:
        assert os.read(fd, 5) == b"aoe: "
        assert os.read(fd, 100) == b"e1.2 up\n"
    finally:
        os.close(fd)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_reader_blocked_on_err_can_be_interrupted(tree: MountedTree, signum: int) -> None:
    # The signal's default action in cat, whatever this process inherited (a shell starting the
    # suite in the background without job control leaves SIGINT ignored in every child).
    cat = subprocess.Popen(
        ["cat", str(tree.etherd / "err")],
        stdout=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL),
    )
    try:
        # cat blocked in read(2) of the err file (fd 3), with no line to give it.
        syscall = Path(f"/proc/{cat.pid}/syscall")
        wait_until(lambda: syscall.read_text().startswith("0 0x3 "), what="cat blocked reading err")
        assert cat.poll() is None
        cat.send_signal(signum)
        assert cat.wait(10) == -signum
    finally:
        cat.kill()
        cat.wait()


def sfdisk(device: Path, script: str) -> None:
    subprocess.run(["sfdisk", "-q", "--no-reread", str(device)], input=script, text=True, check=True)


def test_partitions_appear_after_revalidate(tree: MountedTree, ini: FakeInitiator) -> None:
    ini.add_device("e1.2", 16 * MiB)
    device = tree.etherd / "e1.2"
    wait_until(device.exists)
    # Partition numbers from the names' digits: sfdisk's own choice of primary or logical varies.
    sfdisk(
        device,
        "label: dos\nx1 : start=2048,size=4096,type=83\nx2 : start=8192,type=5\n"
        "x5 : start=10240,size=2048,type=83\nx6 : start=14336,size=1024,type=83\n",
    )
    assert not (tree.etherd / "e1.2p1").exists()
    (tree.etherd / "revalidate").write_bytes(b"e1.2\n")
    sizes = {n: os.stat(tree.etherd / n).st_size for n in os.listdir(tree.etherd) if n.startswith("e1.2p")}
    assert sizes == {"e1.2p1": 4096 * 512, "e1.2p2": 1024, "e1.2p5": 2048 * 512, "e1.2p6": 1024 * 512}
    # A partition file is its window of the device.
    with open(tree.etherd / "e1.2p5", "r+b") as f:
        f.write(b"in p5")
    start = ini.backend("e1.2").buffer.find(b"in p5")
    assert start == 10240 * 512
    # Partition sysfs entries stay out of aoe-stat's way, and a new table replaces the old.
    sfdisk(device, "label: gpt\nstart=2048,size=8192,type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n")
    (tree.etherd / "revalidate").write_bytes(b"e1.2")
    names = sorted(n for n in os.listdir(tree.etherd) if n.startswith("e1.2p"))
    assert names == ["e1.2p1"]
    assert os.stat(tree.etherd / "e1.2p1").st_size == 8192 * 512
    assert not (tree.etherd / "e1.2p5").exists()


def test_partitions_are_read_when_a_device_comes_up(tree: MountedTree, ini: FakeInitiator) -> None:
    image = bytearray(4 * MiB)
    image[0x1BE : 0x1BE + 16] = (
        bytes([0, 0, 0, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + (1000).to_bytes(4, "little")
    )
    image[510:512] = b"\x55\xaa"
    ini.add_device("e2.0", 4 * MiB, data=bytes(image))
    wait_until(lambda: (tree.etherd / "e2.0p1").exists(), what="e2.0p1")
    assert os.stat(tree.etherd / "e2.0p1").st_size == 1000 * 512


def test_flush(tree: MountedTree, ini: FakeInitiator) -> None:
    for name in ("e1.1", "e1.2", "e1.3"):
        ini.add_device(name, MiB)
    wait_until(lambda: (tree.etherd / "e1.3").exists())
    fd = os.open(tree.etherd / "e1.3", os.O_RDONLY)
    try:
        ini.take_down("e1.1")
        ini.take_down("e1.3")
        (tree.etherd / "flush").write_bytes(b"\n")  # down and not open: e1.1 only
        assert not (tree.etherd / "e1.1").exists()
        assert not (tree.sys / "block" / "etherd!e1.1").exists()
        assert (tree.etherd / "e1.2").exists() and (tree.etherd / "e1.3").exists()
        with pytest.raises(OSError) as exc:
            (tree.etherd / "flush").write_bytes(b"e1.3")
        assert exc.value.errno == errno.EBUSY
        with pytest.raises(OSError) as exc:
            (tree.etherd / "flush").write_bytes(b"e9.9")
        assert exc.value.errno == errno.ENODEV
        (tree.etherd / "flush").write_bytes(b"all")  # every unused one, up or not
        assert not (tree.etherd / "e1.2").exists()
        assert (tree.etherd / "e1.3").exists()
    finally:
        os.close(fd)
    (tree.etherd / "flush").write_bytes(b"e1.3")
    assert sorted(os.listdir(tree.etherd)) == ["discover", "err", "flush", "interfaces", "revalidate"]
    assert os.listdir(tree.sys / "block") == []


def test_interfaces_and_discover(tree: MountedTree, ini: FakeInitiator) -> None:
    assert (tree.etherd / "interfaces").read_text() == "veth0\n"
    (tree.etherd / "interfaces").write_bytes(b"eth0,eth1 eth2\0")
    assert ini.iflist == ("eth0", "eth1", "eth2")
    assert (tree.sys / "module" / "aoe" / "parameters" / "aoe_iflist").read_text() == "eth0 eth1 eth2\n"
    (tree.sys / "module" / "aoe" / "parameters" / "aoe_iflist").write_bytes(b"\0")
    assert ini.iflist == ()
    assert (tree.etherd / "interfaces").read_text() == "\n"
    with pytest.raises(OSError) as exc:
        (tree.etherd / "interfaces").write_bytes(b"x" * 1100)
    assert exc.value.errno == errno.EINVAL
    (tree.etherd / "discover").write_bytes(b"\n")
    assert ("discover", None) in ini.calls


def test_a_new_size_shows(tree: MountedTree, ini: FakeInitiator) -> None:
    ini.add_device("e1.2", MiB)
    wait_until(lambda: (tree.etherd / "e1.2").exists())
    assert os.stat(tree.etherd / "e1.2").st_size == MiB
    ini.resize("e1.2", 2 * MiB)
    wait_until(lambda: os.stat(tree.etherd / "e1.2").st_size == 2 * MiB, what="the new size")
    assert attr(tree, "e1.2", "size") == f"{2 * MiB // 512}\n"


def test_mistakes(tree: MountedTree, ini: FakeInitiator) -> None:
    def errno_of(fn: Callable[[], object]) -> int:
        with pytest.raises(OSError) as exc:
            fn()
        return exc.value.errno or 0

    assert errno_of(lambda: (tree.etherd / "revalidate").write_bytes(b"e7.7")) == errno.EINVAL
    assert errno_of(lambda: (tree.etherd / "revalidate").write_bytes(b"bogus")) == errno.EINVAL
    assert errno_of(lambda: (tree.etherd / "discover").read_bytes()) == errno.EACCES
    assert errno_of(lambda: os.open(tree.etherd / "err", os.O_WRONLY)) == errno.EACCES
    assert errno_of(lambda: (tree.etherd / "new").write_bytes(b"")) == errno.EPERM
    assert (
        errno_of(lambda: (tree.sys / "module" / "aoe" / "parameters" / "aoe_maxout").write_text("5"))
        == errno.EACCES
    )
    assert errno_of(lambda: os.chmod(tree.etherd / "discover", 0o777)) == errno.EPERM
