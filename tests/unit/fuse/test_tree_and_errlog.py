"""The tree's bookkeeping (devices, sysfs directories, partitions kept or replaced, inode numbers
never reused) and the err ring's cursors (whole lines, split lines, readers left behind)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from pyaoe.fuse.errlog import ErrLog, signal_pending
from pyaoe.fuse.partitions import Partition
from pyaoe.fuse.tree import DEVICE_ATTRIBUTES, Kind, Tree


def names(tree: Tree, inode: int) -> list[str]:
    return [n.name for n in tree.children(inode)]


def test_a_new_tree_has_the_control_files_and_parameters() -> None:
    tree = Tree()
    assert names(tree, tree.root.inode) == ["etherd", "sys"]
    assert names(tree, tree.etherd.inode) == ["discover", "err", "flush", "interfaces", "revalidate"]
    params = tree.lookup(tree.lookup(tree.lookup(tree.root.inode, "sys").inode, "module").inode, "aoe")  # type: ignore[union-attr]
    assert params is not None
    assert names(tree, params.inode) == ["parameters", "version"]


def test_devices_come_with_a_sysfs_directory_and_go_with_everything() -> None:
    tree = Tree()
    node = tree.add_device("e1.2")
    assert tree.add_device("e1.2") is node
    sysdir = tree.lookup(tree.block.inode, "etherd!e1.2")
    assert sysdir is not None and sorted(names(tree, sysdir.inode)) == sorted(DEVICE_ATTRIBUTES)
    tree.set_partitions("e1.2", [Partition(1, 2048, 100, "primary", "0x83")])
    before = set(tree.nodes)
    gone = tree.remove_device("e1.2")
    assert {g.name for g in gone} >= {"e1.2", "e1.2p1", "etherd!e1.2", "state"}
    assert {g.inode for g in gone} == before - set(tree.nodes)
    assert names(tree, tree.etherd.inode) == ["discover", "err", "flush", "interfaces", "revalidate"]
    assert names(tree, tree.block.inode) == []
    assert tree.remove_device("e1.2") == []
    # A device that comes back gets new inode numbers: old kernel references find nothing.
    assert tree.add_device("e1.2").inode not in before


def test_partitions_that_keep_their_place_keep_their_node() -> None:
    tree = Tree()
    tree.add_device("e1.2")
    added, removed = tree.set_partitions(
        "e1.2", [Partition(1, 2048, 100, "primary", "0x83"), Partition(2, 4096, 100, "primary", "0x83")]
    )
    assert [n.name for n in added] == ["e1.2p1", "e1.2p2"] and removed == []
    p1 = added[0]
    added, removed = tree.set_partitions(
        "e1.2", [Partition(1, 2048, 100, "primary", "0x07"), Partition(2, 4096, 200, "primary", "0x83")]
    )
    assert [n.name for n in added] == ["e1.2p2"]
    assert [r.name for r in removed] == ["e1.2p2"]
    assert tree.lookup(tree.etherd.inode, "e1.2p1") is p1
    assert p1.partition is not None and p1.partition.type == "0x07"
    added, removed = tree.set_partitions("e1.2", [])
    assert added == [] and sorted(r.name for r in removed) == ["e1.2p1", "e1.2p2"]
    assert tree.set_partitions("e9.9", [Partition(1, 1, 1, "primary", "0x83")]) == ([], [])
    assert all(n.kind is not Kind.PARTITION for n in tree.nodes.values())


def test_err_cursors_read_whole_lines_and_split_long_ones() -> None:
    log = ErrLog(capacity=3)
    cursor = log.cursor()
    assert log.take(cursor, 100) == b"" and not log.ready(cursor)
    log.append("first")
    log.append("second\n")
    assert log.ready(cursor)
    assert log.take(cursor, 8) == b"first\n"  # the next line does not fit whole: it waits
    assert log.take(cursor, 3) == b"sec"  # alone and too long: it comes in pieces
    assert log.take(cursor, 100) == b"ond\n"
    late = log.cursor()
    assert log.take(late, 100) == b"first\nsecond\n"  # a new reader gets what the ring keeps


def test_err_readers_left_behind_skip_what_fell_out() -> None:
    log = ErrLog(capacity=2)
    cursor = log.cursor()
    for i in range(5):
        log.append(f"line {i}")
    assert log.take(cursor, 100) == b"line 3\nline 4\n"


def test_err_watchers_are_told_once() -> None:
    log = ErrLog()
    calls: list[int] = []
    log.watch(lambda: calls.append(1))
    log.append("a")
    log.append("b")
    assert calls == [1]


def test_signal_pending_for_a_missing_thread() -> None:
    assert signal_pending(2**22 + 12345)


def test_signal_pending_sees_a_signal_waiting_for_delivery() -> None:
    # A stopped process keeps its signals pending (only SIGKILL and SIGCONT act at once).
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(sleeper.pid, signal.SIGSTOP)
        status = Path(f"/proc/{sleeper.pid}/status")
        deadline = time.monotonic() + 5
        while "State:\tT" not in status.read_text():
            assert time.monotonic() < deadline, "sleep did not stop"
            time.sleep(0.01)
        assert not signal_pending(sleeper.pid)
        os.kill(sleeper.pid, signal.SIGUSR1)
        assert signal_pending(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
