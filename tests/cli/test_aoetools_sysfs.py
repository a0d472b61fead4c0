"""The aoetools that work through the initiator's files (aoe-discover, aoe-interfaces, aoe-flush,
aoe-revalidate, aoe-mkdevs, aoe-mkshelf, aoe-version, aoe-stat) as a user runs them.

Against the kernel's paths, faked in a mount namespace (/sys, /dev/etherd with control files that
are character devices recording each write): ours and Debian's shell versions must print the same,
write the same bytes and exit alike. Against pyaoe's tree (--root, PYAOE_ROOT): the bytes written,
the lines printed and the exit codes that tree (pyaoe.fuse.tree) asks for.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyaoe import __version__
from pyaoe.lab.netns import Lab
from support.aoetools import (
    ENV,
    KERNEL_PARAMETERS,
    MODULES,
    debian,
    kernel_world,
    ours,
    pyaoe_root,
    run,
)
from support.aoetools import nodes as _nodes
from support.faketree import FakeDevice, Scratch


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    with Scratch() as s:
        yield s


# --- the kernel's paths: ours against Debian's -----------------------------------------------


def test_discover_writes_a_newline(scratch: Scratch) -> None:
    kw = kernel_world(scratch)
    out = kw.both("aoe-discover")
    assert (out.code, out.stdout, out.stderr) == (0, "", "")
    assert out.written["discover"] == b"\n"


def test_control_file_must_be_a_character_device(scratch: Scratch) -> None:
    kw = kernel_world(scratch, controls=())
    for name in ("discover", "flush", "revalidate", "interfaces"):
        (kw.world.etherd / name).write_text("")
    out = kw.both("aoe-discover")
    assert out.code == 1
    assert out.stderr.splitlines() == [
        "aoe-discover: /dev/etherd/discover is not a character device file",
        "aoe-discover: use udev or aoe-mkdevs to create it",
    ]
    assert kw.both("aoe-flush", "-a").code == 1
    assert kw.both("aoe-revalidate", "e1.0").code == 1


def test_missing_control_file(scratch: Scratch) -> None:
    kw = kernel_world(scratch, controls=())
    out = kw.both("aoe-discover")
    assert (out.code, out.stderr) == (
        1,
        "aoe-discover: /dev/etherd/discover does not exist or is not writeable.\n",
    )
    out = kw.both("aoe-revalidate", "e1.0")
    # aoe-revalidate's message alone has no full stop.
    assert out.stderr == "aoe-revalidate: /dev/etherd/revalidate does not exist or is not writeable\n"
    out = kw.both("aoe-flush")
    assert (out.code, out.stderr) == (1, "aoe-flush: /dev/etherd/flush does not exist or is not writeable.\n")


def test_revalidate(scratch: Scratch) -> None:
    kw = kernel_world(scratch)
    out = kw.both("aoe-revalidate", "e1.0")
    assert (out.code, out.stderr, out.written["revalidate"]) == (0, "", b"e1.0\n")
    out = kw.both("aoe-revalidate")
    assert (out.code, out.stderr) == (1, "Usage: aoe-revalidate e{major}.{minor}\n")
    assert out.written["revalidate"] == b""


def test_revalidate_refused_by_the_driver(scratch: Scratch) -> None:
    """The driver refuses the write (here /dev/full, ENOSPC; the kernel says EINVAL)."""
    kw = kernel_world(scratch, controls=())
    scratch.device(kw.world.etherd / "revalidate", "full")
    theirs = kw.run([*debian("aoe-revalidate"), "e9.9"])
    mine = kw.run([*ours("aoe-revalidate"), "e9.9"])
    assert theirs.code == mine.code == 1
    assert "aoe-revalidate: revalidate failed" in theirs.stderr
    assert mine.stderr == "aoe-revalidate: revalidate failed: e9.9: No space left on device\n"


def test_flush_requests(scratch: Scratch) -> None:
    kw = kernel_world(scratch)
    assert kw.both("aoe-flush").written["flush"] == b"\n"
    assert kw.both("aoe-flush", "-a").written["flush"] == b"all"
    # Each name is its own write, without a newline.
    out = kw.both("aoe-flush", "e1.0", "e2.0")
    assert (out.code, out.written["flush"]) == (0, b"e1.0e2.0")


def test_flush_refuses_unknown_devices(scratch: Scratch) -> None:
    kw = kernel_world(scratch)
    theirs = kw.run([*debian("aoe-flush"), "e1.0", "e9.9", "e1.10"])
    mine = kw.run([*ours("aoe-flush"), "e1.0", "e9.9", "e1.10"])
    lines = ['aoe-flush Error: "e9.9" is not an aoe device', 'aoe-flush Error: "e1.10" is not an aoe device']
    # aoetools prints these on stdout (its `exec 2>&1`); ours keeps errors on stderr.
    assert theirs.stdout.splitlines() == lines
    assert (mine.stdout, mine.stderr.splitlines()) == ("", lines)
    assert theirs.code == mine.code == 1
    assert theirs.written == mine.written == {k: b"" for k in kw.recorders}


def test_flush_failure(scratch: Scratch) -> None:
    kw = kernel_world(scratch, controls=())
    scratch.device(kw.world.etherd / "flush", "full")
    theirs = kw.run([*debian("aoe-flush"), "-a"])
    mine = kw.run([*ours("aoe-flush"), "-a"])
    assert theirs.code == mine.code == 1
    assert "aoe-flush: flush failed" in theirs.stderr
    assert mine.stderr == "aoe-flush: flush failed: all: No space left on device\n"


def test_interfaces_list(scratch: Scratch) -> None:
    kw = kernel_world(scratch)
    out = kw.both("aoe-interfaces")
    assert (out.code, out.stdout) == (0, "eth0 eth1\n")


def test_interfaces_set_and_clear(scratch: Scratch) -> None:
    kw = kernel_world(scratch, recorded_parameters=("aoe_iflist",))
    out = kw.both("aoe-interfaces", "eth0", "eth1")
    assert (out.code, out.written["aoe_iflist"], out.written["interfaces"]) == (0, b"eth0 eth1\0", b"")
    out = kw.both("aoe-interfaces", "-c")
    assert (out.code, out.written["aoe_iflist"]) == (0, b"\0")
    out = kw.both("aoe-interfaces", "-c", "eth0")
    assert (out.code, out.stderr, out.written["aoe_iflist"]) == (
        1,
        "aoe-interfaces Error: -c flag takes no arguments\n",
        b"",
    )


def test_interfaces_checks_every_name(scratch: Scratch) -> None:
    kw = kernel_world(scratch, recorded_parameters=("aoe_iflist",))
    out = kw.both("aoe-interfaces", "eth0", "nosuch0", "eth9")
    assert out.code == 1
    assert out.stderr.splitlines() == [
        'aoe-interfaces Error: "nosuch0" is not a network interface',
        'aoe-interfaces Error: "eth9" is not a network interface',
    ]
    assert out.written["aoe_iflist"] == b""


def test_interfaces_without_the_parameter_use_the_control_file(scratch: Scratch) -> None:
    params = {k: v for k, v in KERNEL_PARAMETERS.items() if k != "aoe_iflist"}
    kw = kernel_world(scratch, parameters=params)
    out = kw.both("aoe-interfaces", "eth1")
    assert (out.code, out.written["interfaces"]) == (0, b"eth1\0")
    # Nothing to read the list from: both exit 1 (aoetools silently, ours with a line).
    theirs = kw.run(debian("aoe-interfaces"))
    mine = kw.run(ours("aoe-interfaces"))
    assert theirs.code == mine.code == 1
    assert mine.stdout == "" and mine.stderr.count("\n") == 1


@pytest.mark.parametrize("partitions", ["16", "1"])
def test_mkdevs_makes_debians_nodes(scratch: Scratch, partitions: str) -> None:
    params = {**KERNEL_PARAMETERS, "aoe_dyndevs": "0\n"}
    kw = kernel_world(scratch, controls=(), parameters=params)
    env = {"n_shelves": "2", "n_partitions": partitions}
    theirs = kw.run([*debian("aoe-mkdevs"), "/dev/debian"], env=env)
    mine = kw.run([*ours("aoe-mkdevs"), "/dev/ours"], env=env)
    assert (theirs.code, theirs.stderr) == (mine.code, mine.stderr) == (0, "")
    made = _nodes(kw.world.dev / "ours")
    assert made == _nodes(kw.world.dev / "debian")
    assert len(made) == 5 + 2 * 16 * int(partitions)
    assert made["discover"] == ("c", 0o200, 152, 3)
    assert made["err"] == ("c", 0o400, 152, 2)
    if partitions == "16":
        assert made["e1.2p3"] == ("b", 0o660, 152, (16 + 2) * 16 + 3)


def test_mkshelf_makes_debians_nodes(scratch: Scratch) -> None:
    kw = kernel_world(scratch, controls=(), parameters={**KERNEL_PARAMETERS, "aoe_dyndevs": "0\n"})
    # aoe-mkshelf (unlike aoe-mkdevs) makes no directory; both say so in mknod's words.
    out = kw.both("aoe-mkshelf", "/dev/ours", "7")
    assert (out.code, out.stderr) == (1, "mknod: /dev/ours/e7.0: No such file or directory\n")
    (kw.world.dev / "debian").mkdir()
    (kw.world.dev / "ours").mkdir()
    theirs = kw.run([*debian("aoe-mkshelf"), "/dev/debian", "7"])
    mine = kw.run([*ours("aoe-mkshelf"), "/dev/ours", "7"])
    assert theirs.code == mine.code == 0
    made = _nodes(kw.world.dev / "ours")
    assert made == _nodes(kw.world.dev / "debian")
    assert len(made) == 16 * 16
    assert made["e7.15p15"] == ("b", 0o660, 152, 7 * 256 + 255)


def test_mkdevs_refuses_dynamic_minors_and_udev(scratch: Scratch) -> None:
    kw = kernel_world(scratch, controls=())  # aoe_dyndevs=1
    for tool, args in (("aoe-mkdevs", ["/dev/x"]), ("aoe-mkshelf", ["/dev/x", "1"])):
        out = kw.both(tool, *args)
        assert out.code == 1
        assert out.stderr.splitlines() == [
            f"{tool} Error: aoe module is using dynamic devices.",
            f"{tool}: Please see the {tool} manpage.",
            f"{tool}: Exiting.",
        ]
    (kw.world.sys / "module" / "aoe" / "parameters" / "aoe_dyndevs").write_text("0\n")
    out = kw.both("aoe-mkdevs", "/dev/x", setup="mkdir /run/udev")
    assert (
        out.stderr.splitlines()[0]
        == "aoe-mkdevs Error: udev detected.  You shouldn't need to use aoe-mkdevs."
    )
    assert out.code == 1
    assert not (kw.world.dev / "x").exists()


def test_mkdevs_usage(scratch: Scratch) -> None:
    kw = kernel_world(scratch, controls=())
    out = kw.both("aoe-mkdevs")
    assert (out.code, out.stderr) == (1, "Usage: aoe-mkdevs {dir}\n       n_partitions=16 aoe-mkdevs {dir}\n")
    out = kw.both("aoe-mkshelf", "/dev/x")
    assert out.code == 1
    assert out.stderr.splitlines()[0] == "Usage: aoe-mkshelf {dir} {shelfaddress}"


def test_version_lines(scratch: Scratch) -> None:
    kw = kernel_world(scratch, controls=())
    theirs = kw.run(debian("aoe-version"))
    mine = kw.run(ours("aoe-version"))
    t_lines, m_lines = theirs.stdout.splitlines(), mine.stdout.splitlines()
    assert [line.split("\t")[0] for line in m_lines] == [line.split("\t")[0] for line in t_lines]
    assert m_lines[0] == f"              aoetools:\t36 (pyaoe {__version__}, aoetools-36 compatible)"
    installed = t_lines[1].split("\t")[1]
    expected = f"pyaoe {__version__}" if installed == "(unknown)" else f"{installed}, pyaoe {__version__}"
    assert m_lines[1] == f"  installed aoe driver:\t{expected}"
    assert m_lines[2] == t_lines[2] == "    running aoe driver:\t85"
    assert mine.code == theirs.code == 0


def test_version_without_a_driver_and_with_pyaoes(scratch: Scratch) -> None:
    kw = kernel_world(scratch, controls=(), parameters=None)
    assert kw.run(debian("aoe-version")).stdout.splitlines()[2] == "    running aoe driver:\t(none)"
    assert kw.run(ours("aoe-version")).stdout.splitlines()[2] == "    running aoe driver:\t(none)"
    root = pyaoe_root(scratch)
    mine = kw.run(ours("aoe-version"), env={"PYAOE_ROOT": str(root)})
    assert mine.stdout.splitlines()[2] == f"    running aoe driver:\tpyaoe 0.1.0 at {root}"


def test_default_tree_is_pyaoes_when_the_kernel_driver_is_not_loaded(scratch: Scratch) -> None:
    """No /sys/module/aoe: the tools use /run/aoe (here pyaoe's fake tree bound there)."""
    kw = kernel_world(scratch, controls=(), parameters=None)
    out = kw.run(ours("aoe-stat"))
    assert (out.code, out.stderr) == (
        1,
        "aoe-stat Error: no AoE initiator is running: the kernel's aoe driver is not loaded and no "
        "pyaoe initiator is mounted at /run/aoe (start one with `pyaoe initiator`, or `modprobe aoe`)\n",
    )
    root = pyaoe_root(scratch)
    setup = f"mkdir /run/aoe && mount --bind {root} /run/aoe"
    out = kw.run(ours("aoe-stat"), setup=setup)
    assert [line.split()[0] for line in out.stdout.splitlines()] == ["e1.0", "e1.1", "e2.0"]
    out = kw.run(ours("aoe-discover"), setup=setup)
    assert out.code == 0
    assert (root / "etherd" / "discover").read_bytes() == b"\n"


# --- pyaoe's tree ----------------------------------------------------------------------------


def test_pyaoe_tree_control_writes(scratch: Scratch) -> None:
    root = pyaoe_root(scratch)
    etherd = root / "etherd"
    assert run([*ours("aoe-discover"), "--root", str(root)]).returncode == 0
    assert (etherd / "discover").read_bytes() == b"\n"
    env = {**ENV, "PYAOE_ROOT": str(root)}
    out = run([*ours("aoe-revalidate"), "e2.0"], env)
    assert (out.returncode, out.stderr, (etherd / "revalidate").read_bytes()) == (0, "", b"e2.0\n")
    assert run([*ours("aoe-flush"), "-a"], env).returncode == 0
    assert (etherd / "flush").read_bytes() == b"all"


def test_pyaoe_tree_flush_names(scratch: Scratch) -> None:
    root = pyaoe_root(scratch)
    rec = scratch.recorder(root / "etherd" / "flush")
    env = {**ENV, "PYAOE_ROOT": str(root)}
    out = run([*ours("aoe-flush"), "e1.1", "e2.0"], env)
    assert (out.returncode, out.stderr, rec.data()) == (0, "", b"e1.1e2.0")
    out = run([*ours("aoe-flush")], env)
    assert (out.returncode, rec.data()) == (0, b"\n")
    out = run([*ours("aoe-flush"), "e1.0", "e3.0"], env)
    assert (out.returncode, out.stderr, rec.data()) == (
        1,
        'aoe-flush Error: "e3.0" is not an aoe device\n',
        b"",
    )


def test_pyaoe_tree_write_refused(scratch: Scratch) -> None:
    """The daemon refuses a request (EBUSY for an open device; here ENOSPC from /dev/full)."""
    root = pyaoe_root(scratch)
    (root / "etherd" / "flush").unlink()
    scratch.device(root / "etherd" / "flush", "full")
    out = run([*ours("aoe-flush"), "--root", str(root), "e1.0"])
    assert (out.returncode, out.stderr) == (1, "aoe-flush: flush failed: e1.0: No space left on device\n")


def test_pyaoe_tree_interfaces(scratch: Scratch) -> None:
    root = pyaoe_root(scratch)
    iflist = root / "sys" / "module" / "aoe" / "parameters" / "aoe_iflist"
    iflist.write_text("")
    (root / "sys" / "class" / "net" / "eth7").mkdir(parents=True)  # not consulted for pyaoe's tree
    env = {**ENV, "PYAOE_ROOT": str(root)}
    out = run([*ours("aoe-interfaces"), "lo"], env)
    assert (out.returncode, iflist.read_bytes()) == (0, b"lo\0")
    out = run([*ours("aoe-interfaces"), "eth7"], env)
    assert (out.returncode, out.stderr) == (1, 'aoe-interfaces Error: "eth7" is not a network interface\n')
    iflist.write_text("lo\n")
    out = run(ours("aoe-interfaces"), env)
    assert (out.returncode, out.stdout) == (0, "lo\n")
    # Without the parameter, pyaoe's interfaces file is read and written instead.
    iflist.unlink()
    (root / "etherd" / "interfaces").write_text("lo\n")
    assert run(ours("aoe-interfaces"), env).stdout == "lo\n"
    (root / "etherd" / "interfaces").write_text("")
    assert run([*ours("aoe-interfaces"), "-c"], env).returncode == 0
    assert (root / "etherd" / "interfaces").read_bytes() == b"\0"


@pytest.mark.netns
def test_pyaoe_tree_interfaces_are_checked_in_the_callers_namespace(scratch: Scratch) -> None:
    """An interface of another network namespace: /sys still shows the root namespace's, the
    ioctl answers for the caller's; aoe-interfaces accepts it there and only there."""
    root = pyaoe_root(scratch)
    iflist = root / "sys" / "module" / "aoe" / "parameters" / "aoe_iflist"
    with Lab() as lab:
        ns = lab.netns()
        a, _b = lab.veth(ns, ns)
        argv = [*ours("aoe-interfaces"), "--root", str(root), a.ifname]
        outside = lab.run(None, argv, env=ENV)
        assert (outside.returncode, outside.stderr) == (
            1,
            f'aoe-interfaces Error: "{a.ifname}" is not a network interface\n',
        )
        inside = lab.run(ns, argv, env=ENV)
        assert (inside.returncode, inside.stderr) == (0, "")
        assert iflist.read_bytes().startswith(a.ifname.encode() + b"\0")


def test_tree_choice_order(scratch: Scratch) -> None:
    """--root, then PYAOE_ROOT, then sysfs_dir."""
    a = pyaoe_root(scratch, "a", [FakeDevice("e1.1")])
    b = pyaoe_root(scratch, "b", [FakeDevice("e2.2")])
    c = pyaoe_root(scratch, "c", [FakeDevice("e3.3")])
    env = {**ENV, "PYAOE_ROOT": str(a), "sysfs_dir": str(c / "sys")}
    assert run([*ours("aoe-stat"), "--root", str(b)], env).stdout.split()[0] == "e2.2"
    assert run(ours("aoe-stat"), env).stdout.split()[0] == "e1.1"
    del env["PYAOE_ROOT"]
    assert run(ours("aoe-stat"), env).stdout.split()[0] == "e3.3"


def test_stat_regex_is_one_argument(scratch: Scratch) -> None:
    """Unlike aoetools (unquoted `grep $1`), a regex with blanks is one pattern."""
    root = pyaoe_root(scratch)
    out = run([*ours("aoe-stat"), "--root", str(root), r"^ *e1\.[01] "])
    assert [line.split()[0] for line in out.stdout.splitlines()] == ["e1.0", "e1.1"]


# --- mistakes: one line on stderr, nothing on stdout, aoetools' exit code ----------------------

MISTAKES = [
    ("aoe-stat", [r"e1\("], 2, r"grep: Unmatched ( or \("),
    ("aoe-stat", ["[e1"], 2, "grep: Unmatched [, [^, [:, [., or [="),
    ("aoe-stat", ["--root"], 2, "aoe-stat: argument --root: expected one argument (try --help)"),
    ("aoe-discover", ["--root"], 1, "aoe-discover: argument --root: expected one argument (try --help)"),
    ("aoe-revalidate", [], 1, "Usage: aoe-revalidate e{major}.{minor}"),
    (
        "aoe-mkshelf",
        ["/nonexistent", "shelf"],
        1,
        "aoe-mkshelf: shelf address must be a number from 0 to 65534, not 'shelf'",
    ),
    (
        "aoe-mkshelf",
        ["/tmp", "65535"],
        1,
        "aoe-mkshelf: shelf address must be a number from 0 to 65534, not '65535'",
    ),
    ("aoe-mkshelf", ["", "1"], 1, "aoe-mkshelf: the directory name is empty"),
    ("aoe-mkdevs", [""], 1, "aoe-mkdevs: the directory name is empty"),
]


@pytest.mark.parametrize(("tool", "args", "code", "line"), MISTAKES)
def test_mistakes(scratch: Scratch, tool: str, args: list[str], code: int, line: str) -> None:
    root = pyaoe_root(scratch)
    (root / "sys" / "module" / "aoe" / "parameters" / "aoe_dyndevs").write_text("0\n")
    out = run([*ours(tool), "--root", str(root), *args])
    assert (out.returncode, out.stdout, out.stderr) == (code, "", line + "\n")


@pytest.mark.parametrize("tool", sorted(MODULES))
def test_help_names_the_tree_option(tool: str) -> None:
    out = run([*ours(tool), "--help"])
    assert out.returncode == 0
    assert "--root DIR" in out.stdout and "PYAOE_ROOT" in out.stdout


def test_mkshelf_environment_mistakes(scratch: Scratch) -> None:
    root = pyaoe_root(scratch)
    (root / "sys" / "module" / "aoe" / "parameters" / "aoe_dyndevs").write_text("0\n")
    out = run(
        [*ours("aoe-mkshelf"), "--root", str(root), str(scratch.path / "n"), "1"],
        {**ENV, "n_partitions": "x"},
    )
    assert (out.returncode, out.stderr) == (1, "aoe-mkshelf: n_partitions must be a number, not 'x'\n")
