"""Drop-in fidelity of pyaoe's aoe-* commands: every argument list aoetools 36 accepts, run by
Debian's scripts and by ours on the same fake kernel tree (/sys, /dev/etherd), must print the same
bytes on stdout and stderr, exit alike and write the same requests, or be one of the differences
the README lists, which are asserted here from both sides.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyaoe import __version__
from support.aoetools import KERNEL_PARAMETERS, MODULES, KernelWorld, debian, kernel_world, nodes, ours
from support.faketree import Scratch

STATIC = {**KERNEL_PARAMETERS, "aoe_dyndevs": "0\n"}
ROWS = {
    "e1.0": "      e1.0         1.073GB       eth0 1024  up            \n",
    "e1.1": "      e1.1         1.073GB       eth0 1024  down          \n",
    "e2.0": "      e2.0         1.073GB       eth0 8704  up            \n",
}


@pytest.fixture(scope="module")
def world() -> Iterator[KernelWorld]:
    """The kernel's tree with recording control files and a recorded aoe_iflist."""
    with Scratch() as scratch:
        yield kernel_world(scratch, recorded_parameters=("aoe_iflist",))


@pytest.fixture(scope="module")
def plain_world() -> Iterator[KernelWorld]:
    """The kernel's tree whose aoe_iflist is a plain file (what `aoe-interfaces` alone reads)."""
    with Scratch() as scratch:
        yield kernel_world(scratch)


@pytest.fixture
def static_world() -> Iterator[KernelWorld]:
    """A driver with static minors (aoe_dyndevs=0): what aoe-mkshelf and aoe-mkdevs need."""
    with Scratch() as scratch:
        yield kernel_world(scratch, controls=(), parameters=STATIC)


# --- issue 13's table, row by row ------------------------------------------------------------


def test_discover_ignores_its_arguments(world: KernelWorld) -> None:
    out = world.both("aoe-discover", "now")
    assert (out.code, out.stdout, out.stderr, out.written["discover"]) == (0, "", "", b"\n")


def test_stat_reads_only_its_first_argument(world: KernelWorld) -> None:
    out = world.both("aoe-stat", "e1.0", "extra")
    assert (out.code, out.stdout, out.stderr) == (0, ROWS["e1.0"], "")


def test_version_ignores_its_arguments(world: KernelWorld) -> None:
    """Both print the same lines with an argument as without (what the lines say differs: see
    test_version_says_pyaoe_inside_the_aoetools_line)."""
    for tool in (debian("aoe-version"), ours("aoe-version")):
        alone = world.run(tool)
        extra = world.run([*tool, "extra"])
        assert extra == alone
        assert (extra.code, len(extra.stdout.splitlines())) == (0, 3)


def test_revalidate_writes_all_its_arguments(world: KernelWorld) -> None:
    """aoetools writes "$*": the kernel reads the first name (pyaoe's initiator too: see
    test_aoetools_live)."""
    out = world.both("aoe-revalidate", "e1.0", "e1.1")
    assert (out.code, out.stderr, out.written["revalidate"]) == (0, "", b"e1.0 e1.1\n")


def test_flush_a_with_names_flushes_all(world: KernelWorld) -> None:
    out = world.both("aoe-flush", "-a", "e1.0")
    assert (out.code, out.stdout, out.stderr, out.written["flush"]) == (0, "", "", b"all")


def test_stat_bad_regex_is_greps_line(world: KernelWorld) -> None:
    out = world.both("aoe-stat", "[")
    assert (out.code, out.stdout, out.stderr) == (2, "", "grep: Invalid regular expression\n")


def test_mkshelf_into_a_missing_directory_is_mknods_line(static_world: KernelWorld) -> None:
    out = static_world.both("aoe-mkshelf", "/dev/nodir", "3")
    assert (out.code, out.stdout, out.stderr) == (
        1,
        "",
        "mknod: /dev/nodir/e3.0: No such file or directory\n",
    )


def test_mkshelf_refuses_a_shelf_that_is_not_a_number(static_world: KernelWorld) -> None:
    """A difference the README lists: aoetools makes nodes named ex.0 ... for shelf "x"."""
    for d in ("debian", "ours"):
        (static_world.world.dev / d).mkdir()
    theirs = static_world.run([*debian("aoe-mkshelf"), "/dev/debian", "x"])
    mine = static_world.run([*ours("aoe-mkshelf"), "/dev/ours", "x"])
    assert theirs.code == 0 and "ex.0" in nodes(static_world.world.dev / "debian")
    assert (mine.code, mine.stderr) == (
        1,
        "aoe-mkshelf: shelf address must be a number from 0 to 65534, not 'x'\n",
    )
    assert nodes(static_world.world.dev / "ours") == {}


# --- every other argument list: the same bytes, exit status and requests ----------------------

SAME = [
    ("aoe-discover", []),
    ("aoe-discover", ["-x"]),
    ("aoe-discover", ["a", "b"]),
    ("aoe-discover", ["--"]),
    ("aoe-discover", ["", ""]),
    ("aoe-stat", []),
    ("aoe-stat", ["e1.0"]),
    ("aoe-stat", ["e2", "x", "y"]),
    ("aoe-stat", ["e1", "--root"]),
    ("aoe-stat", ["nomatch"]),
    ("aoe-stat", ["*"]),
    ("aoe-stat", [r"e\|down"]),
    ("aoe-stat", ["[[:foo:]]"]),
    ("aoe-stat", [r"a\{99999\}"]),
    ("aoe-stat", ["[:alpha:]"]),
    ("aoe-stat", [r"e1\("]),
    ("aoe-revalidate", ["e1.0"]),
    ("aoe-revalidate", []),
    ("aoe-revalidate", [""]),
    ("aoe-revalidate", ["", ""]),
    ("aoe-revalidate", ["e1.0 e2.0"]),
    ("aoe-revalidate", ["-x"]),
    ("aoe-revalidate", ["--"]),
    ("aoe-revalidate", ["e1.0", "--help"]),
    ("aoe-revalidate", ["e9.9"]),
    ("aoe-flush", []),
    ("aoe-flush", ["-a"]),
    ("aoe-flush", ["-a", "e9.9"]),
    ("aoe-flush", ["-a", "-a"]),
    ("aoe-flush", [""]),
    ("aoe-flush", ["", "e1.0"]),
    ("aoe-flush", [" "]),
    ("aoe-flush", ["e1.0"]),
    ("aoe-flush", ["e1.0", "e2.0"]),
    ("aoe-flush", ["e1.0 e2.0"]),
    ("aoe-interfaces", ["-c"]),
    ("aoe-interfaces", ["-c", "eth0"]),
    ("aoe-interfaces", ["-c", ""]),
    ("aoe-interfaces", ["-c", "-c"]),
    ("aoe-interfaces", ["eth0"]),
    ("aoe-interfaces", ["eth0", "eth1"]),
    ("aoe-interfaces", ["eth0 eth1"]),
    ("aoe-interfaces", ["eth0", ""]),
    ("aoe-interfaces", ["", "eth0"]),
    ("aoe-interfaces", [" "]),
    ("aoe-interfaces", ["nosuch", "eth0", "eth9"]),
    ("aoe-interfaces", ["eth0", "-c"]),
    ("aoe-interfaces", ["-x"]),
    ("aoe-interfaces", ["--"]),
    ("aoe-interfaces", ["*"]),
    ("aoe-mkdevs", []),
    ("aoe-mkdevs", ["/dev/a", "/dev/b"]),
    ("aoe-mkshelf", []),
    ("aoe-mkshelf", ["/dev/a"]),
    ("aoe-mkshelf", ["/dev/a", "1", "2"]),
]


@pytest.mark.parametrize(("tool", "args"), SAME, ids=[f"{t} {' '.join(map(repr, a))}" for t, a in SAME])
def test_same_as_aoetools(world: KernelWorld, tool: str, args: list[str]) -> None:
    world.both(tool, *args)


@pytest.mark.parametrize("args", [[], [""]])
def test_interfaces_shows_the_list_as_aoetools(plain_world: KernelWorld, args: list[str]) -> None:
    out = plain_world.both("aoe-interfaces", *args)
    assert (out.code, out.stdout) == (0, "eth0 eth1\n")


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("aoe-mkshelf", ["/dev/made", "3"]),
        ("aoe-mkshelf", ["/dev/made", "4095"]),  # the last shelf whose 16 x 16 minors fit
        ("aoe-mkshelf", ["/dev/made", "4096"]),  # the first that does not: mknod's EINVAL
        ("aoe-mkshelf", ["/dev/null", "1"]),  # not a directory
        ("aoe-mkshelf", ["/dev/made", "9"]),  # over a directory named like a node: rm's line
        ("aoe-mkdevs", ["/dev/made"]),
        ("aoe-mkdevs", ["/dev/made/deeper"]),
        ("aoe-mkdevs", ["/dev/null/x"]),  # mkdir's line names /dev/null
    ],
)
def test_static_nodes_as_aoetools(static_world: KernelWorld, tool: str, args: list[str]) -> None:
    """The same nodes (kind, mode, numbers), or the same coreutils line, in two fresh copies."""
    dev = static_world.world.dev
    env = {"n_shelves": "1", "n_partitions": "16"}
    outcomes = []
    (dev / "made").mkdir()
    for side, command in (("debian", debian(tool)), ("ours", ours(tool))):
        (dev / side / "e9.0" / "x").mkdir(parents=True)
        setup = f"mount --bind /dev/{side} /dev/made"
        outcomes.append((static_world.run([*command, *args], setup=setup, env=env), nodes(dev / side)))
    assert outcomes[1] == outcomes[0]
    if args == ["/dev/made", "3"]:
        made = outcomes[0][1]
        assert len(made) == 256 + 1 and made["e3.15p15"] == ("b", 0o660, 152, 3 * 256 + 255)


# --- what the README lists as different, from both sides --------------------------------------


@pytest.mark.parametrize("tool", sorted(MODULES))
@pytest.mark.parametrize("option", ["-h", "--help"])
def test_help_is_pyaoes_own_option(world: KernelWorld, tool: str, option: str) -> None:
    """aoetools have no -h: they take it as an ordinary argument (aoe-discover -h discovers)."""
    theirs, mine = world.pair(tool, option)
    assert (mine.code, mine.stderr) == (0, "")
    assert mine.stdout.startswith(f"usage: {tool} ")
    assert all(data == b"" for data in mine.written.values())
    assert not theirs.stdout.startswith(f"usage: {tool} ")


def test_root_is_pyaoes_own_option(world: KernelWorld, scratch_root: str) -> None:
    """--root DIR names pyaoe's tree; aoetools take it as two ordinary arguments."""
    theirs, mine = world.pair("aoe-discover", "--root", scratch_root)
    assert (theirs.code, theirs.written["discover"]) == (0, b"\n")
    assert (mine.code, mine.written["discover"]) == (1, b"")
    assert mine.stderr == (
        f"aoe-discover: no pyaoe initiator is mounted at {scratch_root} "
        f"(start one with `pyaoe initiator --root {scratch_root}`)\n"
    )


@pytest.fixture
def scratch_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("no-tree"))


@pytest.mark.parametrize(
    ("args", "rows", "debian_code"),
    [
        (["-v"], [], 2),  # grep -v without a pattern: grep's usage
        (["-e1"], [], 0),  # grep -e1: rows with a 1
        ([""], ["e1.0", "e1.1", "e2.0"], 2),  # grep alone: grep's usage
        (["e1 e2"], [], 2),  # grep e1 e2: no file e2
        (["--"], [], 2),
        (["e1\n"], ["e1.0", "e1.1", "e2.0"], 0),  # an empty second pattern matches every row
    ],
)
def test_stat_takes_its_argument_as_one_pattern(
    world: KernelWorld, args: list[str], rows: list[str], debian_code: int
) -> None:
    """aoetools passes $1 to grep unquoted (split, globbed, read as options); ours as `grep -e "$1"`."""
    theirs, mine = world.pair("aoe-stat", *args)
    assert theirs.code == debian_code
    assert (mine.code, mine.stderr) == (0 if rows else 1, "")
    assert mine.stdout == "".join(ROWS[r] for r in rows)


def test_flush_of_an_unknown_device_says_so_on_stderr(world: KernelWorld) -> None:
    theirs, mine = world.pair("aoe-flush", "e1.0", "e9.9", "-a")
    lines = 'aoe-flush Error: "e9.9" is not an aoe device\naoe-flush Error: "-a" is not an aoe device\n'
    assert (theirs.code, theirs.stdout, theirs.stderr) == (1, lines, "")
    assert (mine.code, mine.stdout, mine.stderr) == (1, "", lines)
    assert theirs.written == mine.written == {name: b"" for name in world.recorders}


def test_version_says_pyaoe_inside_the_aoetools_line(world: KernelWorld) -> None:
    theirs, mine = world.pair("aoe-version")
    assert theirs.stdout.splitlines()[0] == "              aoetools:\t36"
    assert (
        mine.stdout.splitlines()[0]
        == f"              aoetools:\t36 (pyaoe {__version__}, aoetools-36 compatible)"
    )
    assert mine.stdout.splitlines()[2] == theirs.stdout.splitlines()[2] == "    running aoe driver:\t85"


@pytest.mark.parametrize(
    ("shelf", "debian_code", "debian_made"),
    [
        ("03", 0, "e03.0"),  # ours makes e3.0 ...: the name aoe-stat and the kernel use
        ("0x10", 0, "e0x10.0"),
        ("+3", 0, "e+3.0"),
        ("-1", 1, None),
        ("1x", 2, None),
        ("08", 2, None),  # shell arithmetic reads 08 as octal
        ("", 2, None),
        ("65535", 0, "e65535.0"),  # the broadcast shelf: no device can have it
    ],
)
def test_mkshelf_is_stricter_about_the_shelf(
    static_world: KernelWorld, shelf: str, debian_code: int, debian_made: str | None
) -> None:
    dev = static_world.world.dev
    for d in ("debian", "ours"):
        (dev / d).mkdir()
    theirs = static_world.run([*debian("aoe-mkshelf"), "/dev/debian", shelf], env={"n_partitions": "1"})
    mine = static_world.run([*ours("aoe-mkshelf"), "/dev/ours", shelf], env={"n_partitions": "1"})
    assert theirs.code == debian_code
    assert (debian_made in nodes(dev / "debian")) if debian_made else nodes(dev / "debian") == {}
    if shelf.isdigit() and int(shelf) <= 65534:
        # Leading zeros: decimal, and the node names aoe-stat and the kernel use (e3.0, e8.0).
        n = int(shelf)
        assert (mine.code, mine.stderr) == (0, "")
        assert nodes(dev / "ours") == {f"e{n}.{slot}": ("b", 0o660, 152, 16 * n + slot) for slot in range(16)}
        return
    assert (mine.code, mine.stderr) == (
        1,
        f"aoe-mkshelf: shelf address must be a number from 0 to 65534, not {shelf!r}\n",
    )
    assert nodes(dev / "ours") == {}


def test_mkdevs_refuses_an_empty_directory(static_world: KernelWorld) -> None:
    """aoetools' unquoted `mkdir -p $dir` has no operand then; aoe-mkshelf's "$dir/e1.0" would be
    /e1.0 (its Debian side is not run here for that reason)."""
    theirs, mine = static_world.pair("aoe-mkdevs", "")
    assert (theirs.code, theirs.stderr) == (
        1,
        "mkdir: missing operand\nTry 'mkdir --help' for more information.\n",
    )
    assert (mine.code, mine.stderr) == (1, "aoe-mkdevs: the directory name is empty\n")
