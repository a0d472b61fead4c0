"""pyaoe.cli.aoe_mkshelf: `aoe-mkshelf dir shelf`, aoetools 36's legacy static block device nodes
(e{shelf}.{slot} and their partitions, major 152) for systems with neither udev nor dynamic minors.

Refuses, as aoetools does, when the driver uses dynamic minors (aoe_dyndevs=1) or udev runs.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import AoetoolsError, run_tool, tool_arguments
from pyaoe.cli.coreutils import make_node
from pyaoe.cli.tree import AoeTree, add_tree_option, read_attribute, select_tree

__all__ = [
    "AOE_MAJOR",
    "PROG",
    "SLOTS_PER_SHELF",
    "check_directory",
    "env_count",
    "main",
    "make_shelf",
    "refuse_unless_static",
    "udev_detected",
]

PROG = "aoe-mkshelf"
AOE_MAJOR = 152
SLOTS_PER_SHELF = 16
DEFAULT_PARTITIONS = 16
#: The highest AoE shelf address (0xffff is the broadcast one).
MAX_SHELF = 0xFFFE
_BLOCK_MODE = 0o660

_DESCRIPTION = """\
Make the block device nodes of one shelf in DIR: e{shelf}.{slot} for slots 0-15 and
e{shelf}.{slot}p{N} for partitions 1 to n_partitions-1 (environment variable n_partitions,
default 16), major 152, the static minors of an aoe driver loaded with aoe_dyndevs=0. Refused
when the driver (or pyaoe's tree, see --root) uses dynamic minors, or when udev runs (it makes
the nodes itself). Exit 0 on success, 1 on failure."""


def udev_detected(proc: Path = Path("/proc")) -> bool:
    """What aoetools test: a process whose command line says udevd, /run/udev or /dev/.udev."""
    if Path("/run/udev").is_dir() or Path("/dev/.udev").is_dir():
        return True
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return False
    for pid in pids:
        try:
            cmdline = (proc / pid / "cmdline").read_bytes()
            if not cmdline:
                cmdline = (proc / pid / "comm").read_bytes()
        except OSError:
            continue  # exited meanwhile
        if b"udevd" in cmdline:
            return True
    return False


def refuse_unless_static(tree: AoeTree, prog: str) -> None:
    """Raise aoetools' three-line refusal when minors are dynamic or udev is running."""
    if read_attribute(tree.parameter("aoe_dyndevs")) == "1":
        raise AoetoolsError(
            f"{prog} Error: aoe module is using dynamic devices.",
            f"{prog}: Please see the {prog} manpage.",
            f"{prog}: Exiting.",
        )
    if udev_detected():
        raise AoetoolsError(
            f"{prog} Error: udev detected.  You shouldn't need to use {prog}.",
            f"{prog}: Please see the {prog} manpage.",
            f"{prog}: Exiting.",
        )


def env_count(name: str, default: int, prog: str, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    text = env.get(name, "")
    if not text:
        return default
    if not text.strip().isdigit():
        raise AoetoolsError(f"{prog}: {name} must be a number, not {text!r}")
    return int(text)


def check_directory(directory: str, prog: str) -> Path:
    """The directory argument; an empty one is refused (aoetools' "$dir/e1.0" is then /e1.0)."""
    if not directory:
        raise AoetoolsError(f"{prog}: the directory name is empty")
    return Path(directory)


def make_shelf(directory: Path, shelf: int, partitions: int) -> int:
    """Make one shelf's nodes, failing in mknod's words; returns how many."""
    minor = SLOTS_PER_SHELF * shelf * partitions
    made = 0
    for slot in range(SLOTS_PER_SHELF):
        for part in range(partitions):
            name = f"e{shelf}.{slot}" + (f"p{part}" if part else "")
            make_node(directory / name, stat.S_IFBLK, _BLOCK_MODE, AOE_MAJOR, minor)
            minor += 1
            made += 1
    return made


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG, usage="%(prog)s [--root DIR] {dir} {shelfaddress}", description=_DESCRIPTION
    )
    add_tree_option(parser)
    parser.add_argument("args", nargs="*", metavar="dir shelfaddress", help="where, and which shelf")
    return parser


def _body(argv: Sequence[str]) -> int:
    args, rest = tool_arguments(build_parser(), argv)
    if len(rest) != 2:
        raise AoetoolsError(
            f"Usage: {PROG} {{dir}} {{shelfaddress}}",
            f"       n_partitions=16 {PROG} {{dir}} {{shelfaddress}}",
        )
    refuse_unless_static(select_tree(args.root), PROG)
    partitions = env_count("n_partitions", DEFAULT_PARTITIONS, PROG)
    directory, shelf_text = rest
    # Stricter than aoetools, which names nodes after whatever it is given (ex.0 for "x",
    # e0x10.0 for "0x10") and computes their minors with shell arithmetic.
    if not (shelf_text.isascii() and shelf_text.isdigit()) or int(shelf_text) > MAX_SHELF:
        raise AoetoolsError(
            f"{PROG}: shelf address must be a number from 0 to {MAX_SHELF}, not {shelf_text!r}"
        )
    make_shelf(check_directory(directory, PROG), int(shelf_text), partitions)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
