"""Debian's aoe-stat (aoetools 36, /usr/sbin/aoe-stat) and ours read the same fake sysfs and must
print the same rows, warnings and exit code: sizes at the GB rule's edges, every state, payload
present, absent and mixed, missing attributes, sorting, and the regex argument."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from support.faketree import FakeDevice, Scratch, World, write_pyaoe_tree, write_sysfs

pytestmark = pytest.mark.interop

DEBIAN = "/usr/sbin/aoe-stat"
OURS = [sys.executable, "-m", "pyaoe.cli.aoe_stat"]
# Debian's tools come first on PATH (ours may be installed in the venv under the same names).
ENV = {**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
for _name in ("PYAOE_ROOT", "sysfs_dir"):
    ENV.pop(_name, None)

MIXED = [
    FakeDevice("e1.0", sectors=2097152, netif="eth0", state="up", payload=1024),
    FakeDevice("e1.10", sectors=1953125, netif="eth0,eth1", state="up", payload=8704),  # exactly 1.000GB
    FakeDevice("e1.2", sectors=1953124, netif="none", state="down", payload=None),  # 0.999GB, no payload
    FakeDevice("e10.0", sectors=1954, netif="eth1", state="down,closewait", payload=1024),  # 0.001GB
    FakeDevice("e2.0", sectors=1953, netif="eth0", state="up,kickme", payload=1024),  # 0.000GB
    FakeDevice("e9.255", sectors=0, netif="eth0", state="up", payload=1024),
    FakeDevice("e65534.15", sectors=21474836480, netif="eth2", state="up", payload=8704),  # 10995.116GB
    FakeDevice("e3.3", sectors=None, netif=None, state=None, payload=1024),  # (NA) everywhere
    FakeDevice("e4.4", sectors=1, payload=512, dev_file=False),
    FakeDevice("e0.0", sectors=999999999999, netif="eth0,eth1,eth2,eth3", state="up", payload=7680),
]
NO_PAYLOAD = [
    FakeDevice("e7.1", sectors=4294967296, netif="eth3", state="up", payload=None),
    FakeDevice("e7.0", sectors=1000000, netif="eth3", state="down", payload=None),
    FakeDevice("e12.9", sectors=None, netif="eth3", state="down,closewait", payload=None),
]
# No blanks and no file names in these: aoetools splits and globs its unquoted regex (ours does not).
REGEXES = [
    "e1",
    r"e1\.",
    "up$",
    "down",
    "closewait",
    r"\(eth0\|eth2\)",
    "GB",
    r"^[[:space:]]*e[0-9]\.",
    r"e1\.1\{0,1\}0",
    "[[:digit:]]GB",
    "nomatch",
    "x*",
    r"\<eth1\>",
    "(NA)",
    "e1.",
    "[^a-z]e",
]


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    with Scratch() as s:
        yield s


def run(argv: Sequence[str], env: dict[str, str], near: Path) -> subprocess.CompletedProcess[bytes]:
    """Run in an empty directory beside ``near``: aoetools' unquoted `grep $re` globs its pattern."""
    empty = near.parent / "empty-dir"
    empty.mkdir(exist_ok=True)
    return subprocess.run(list(argv), capture_output=True, env=env, timeout=60, cwd=empty)


def assert_same(debian: subprocess.CompletedProcess[bytes], ours: subprocess.CompletedProcess[bytes]) -> None:
    assert ours.stdout.decode() == debian.stdout.decode()
    assert ours.stderr.decode() == debian.stderr.decode()
    assert ours.returncode == debian.returncode


def compare(sysfs: Path, *args: str) -> tuple[subprocess.CompletedProcess[bytes], ...]:
    env = {**ENV, "sysfs_dir": str(sysfs)}
    debian = run([DEBIAN, *args], env, sysfs)
    ours = run([*OURS, *args], env, sysfs)
    assert_same(debian, ours)
    return debian, ours


def junk(sysfs: Path) -> None:
    """What else lives in /sys/block, and a name with a "p" that aoe-stat leaves out."""
    for name in ("sda", "loop0", "ram0", "etherd!e1.0p1", "vde1.1"):
        (sysfs / "block" / name).mkdir()
    (sysfs / "block" / "etherd!e1.0p1" / "size").write_text("1\n")
    (sysfs / "block" / "vde1.1" / "size").write_text("2048\n")


def test_mixed_payload_rows_are_debians(scratch: Scratch) -> None:
    sysfs = scratch.path / "sys"
    write_sysfs(sysfs, MIXED)
    junk(sysfs)
    _debian, ours = compare(sysfs)
    lines = ours.stdout.decode().splitlines()
    # What a user reads: every device once, sorted as `sort` sorts padded names, the GB rule.
    assert len(lines) == len(MIXED) + 1  # + vde1.1, whose name also matches aoetools' glob
    assert "      e1.0         1.073GB       eth0 1024  up            " in lines
    assert "     e1.10         1.000GB  eth0,eth1 8704  up            " in lines
    assert "      e1.2         0.999GB       none down                " in lines
    assert "     e10.0         0.001GB       eth1 1024  down,closewait" in lines
    assert "      e2.0         0.000GB       eth0 1024  up,kickme     " in lines
    assert " e65534.15     10995.116GB       eth2 8704  up            " in lines
    assert "      e3.3            (NA)       (NA) 1024  (NA)          " in lines
    assert lines == sorted(lines)
    assert ours.returncode == 0


def test_rows_without_any_payload_use_the_short_format(scratch: Scratch) -> None:
    sysfs = scratch.path / "sys"
    write_sysfs(sysfs, NO_PAYLOAD)
    _debian, ours = compare(sysfs)
    assert ours.stdout.decode().splitlines() == [
        "      e7.0         0.512GB   eth3 down          ",
        "      e7.1      2199.023GB   eth3 up            ",
        "     e12.9            (NA)   eth3 down,closewait",
    ]


@pytest.mark.parametrize("regex", REGEXES)
def test_regex_argument_filters_as_grep_does(scratch: Scratch, regex: str) -> None:
    sysfs = scratch.path / "sys"
    write_sysfs(sysfs, MIXED)
    debian, _ours = compare(sysfs, regex)
    if regex == "nomatch":
        assert debian.returncode == 1 and debian.stdout == b""


def test_no_devices_prints_nothing_and_exits_1(scratch: Scratch) -> None:
    sysfs = scratch.path / "sys"
    write_sysfs(sysfs, [])
    debian, _ours = compare(sysfs)
    assert (debian.stdout, debian.returncode) == (b"", 1)


def test_missing_sysfs_is_an_error(scratch: Scratch) -> None:
    debian, _ours = compare(scratch.path / "nothing-here")
    assert debian.stderr == b"aoe-stat Error: sysfs is not mounted\n"
    assert debian.returncode == 1


def test_attribute_contents_are_printed_as_read(scratch: Scratch) -> None:
    """Empty attributes, no trailing newline, sizes with blanks: the shell's `cat` rules."""
    sysfs = scratch.path / "sys"
    devices = [
        FakeDevice("e5.0", netif="", state="up", payload=""),
        FakeDevice("e5.1", sectors=" 4096", payload=1024, extra={"state": "up"}),
        FakeDevice("e5.2", state="down", payload=9000, extra={"netif": "eth0\n\n"}),
    ]
    write_sysfs(sysfs, devices)
    compare(sysfs)


def test_pyaoe_tree_gives_debians_rows(scratch: Scratch) -> None:
    """Debian's aoe-stat with sysfs_dir=ROOT/sys and ours with PYAOE_ROOT=ROOT (and --root)."""
    root = scratch.path / "aoe"
    write_pyaoe_tree(root, MIXED)
    debian = run([DEBIAN], {**ENV, "sysfs_dir": str(root / "sys")}, root)
    ours_env = run(OURS, {**ENV, "PYAOE_ROOT": str(root)}, root)
    ours_opt = run([*OURS, "--root", str(root), "e1"], ENV, root)
    assert_same(debian, ours_env)
    assert debian.stdout.count(b"\n") == len(MIXED)
    debian_e1 = run([DEBIAN, "e1"], {**ENV, "sysfs_dir": str(root / "sys")}, root)
    assert_same(debian_e1, ours_opt)


def test_wrong_minor_warnings_match(scratch: Scratch) -> None:
    """With the kernel's paths (/sys, /dev/etherd) faked in a mount namespace: a node whose
    minor differs from sysfs's dev file gets aoetools' warning, on stderr, before the rows."""
    world = World(scratch)
    devices = [
        FakeDevice("e1.0", minor=0),
        FakeDevice("e1.1", minor=16),
        FakeDevice("e2.5", minor=32),
        FakeDevice("e3.0", minor=48),
        FakeDevice("e10.1", minor=64),
    ]
    write_sysfs(world.sys, devices, parameters={"aoe_dyndevs": "1\n"}, version="85")
    nodes = {"e1.0": 0, "e1.1": 17, "e2.5": 32, "e10.1": 0}  # e1.1 and e10.1 are wrong; e3.0 has none
    for name, minor in nodes.items():
        os.mknod(world.etherd / name, stat.S_IFBLK | 0o660, os.makedev(152, minor))
    (world.etherd / "e3.0").write_text("not a device node\n")
    debian = world.run([DEBIAN], env=ENV)
    ours = world.run(OURS, env=ENV)
    assert_same(debian, ours)
    assert ours.stderr.decode().splitlines() == [
        "aoe-stat Warning: device node /dev/etherd/e1.1 has wrong minor device number",
        "aoe-stat Warning: device node /dev/etherd/e10.1 has wrong minor device number",
    ]
    assert ours.stdout.count(b"\n") == len(devices)
