"""pyaoe.cli.aoe_mkdevs: `aoe-mkdevs dir`, aoetools 36's legacy static device nodes: the control
character devices (err, discover, interfaces, revalidate, flush) and n_shelves shelves of blocks.

Refuses, as aoetools does, when the driver uses dynamic minors (aoe_dyndevs=1) or udev runs.
"""

from __future__ import annotations

import stat
import sys
from collections.abc import Sequence

from pyaoe.cli.aoe_mkshelf import (
    AOE_MAJOR,
    DEFAULT_PARTITIONS,
    check_directory,
    env_count,
    make_shelf,
    refuse_unless_static,
)
from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import AoetoolsError, run_tool, tool_arguments
from pyaoe.cli.coreutils import make_directories, make_node
from pyaoe.cli.tree import add_tree_option, select_tree

__all__ = ["CONTROL_NODES", "PROG", "main"]

PROG = "aoe-mkdevs"
DEFAULT_SHELVES = 10
#: The kernel driver's control devices: name, minor, mode (aoechr.c's minors).
CONTROL_NODES = (
    ("err", 2, 0o400),
    ("discover", 3, 0o200),
    ("interfaces", 4, 0o200),
    ("revalidate", 5, 0o200),
    ("flush", 6, 0o200),
)

_DESCRIPTION = """\
Make the aoe driver's device nodes in DIR, for systems without udev: the character devices
err, discover, interfaces, revalidate and flush (major 152), then the block devices of shelves
0 to n_shelves-1 (environment: n_shelves, default 10; n_partitions, default 16) as aoe-mkshelf
does. Refused when the driver (or pyaoe's tree, see --root) uses dynamic minors, or when udev
runs. Exit 0 on success, 1 on failure."""


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, usage="%(prog)s [--root DIR] {dir}", description=_DESCRIPTION)
    add_tree_option(parser)
    parser.add_argument("args", nargs="*", metavar="dir", help="where to make the nodes")
    return parser


def _body(argv: Sequence[str]) -> int:
    args, rest = tool_arguments(build_parser(), argv)
    if len(rest) != 1:
        raise AoetoolsError(f"Usage: {PROG} {{dir}}", f"       n_partitions=16 {PROG} {{dir}}")
    refuse_unless_static(select_tree(args.root), PROG)
    shelves = env_count("n_shelves", DEFAULT_SHELVES, PROG)
    partitions = env_count("n_partitions", DEFAULT_PARTITIONS, PROG)
    directory = check_directory(rest[0], PROG)
    make_directories(rest[0])
    for name, minor, mode in CONTROL_NODES:
        make_node(directory / name, stat.S_IFCHR, mode, AOE_MAJOR, minor)
    for shelf in range(shelves):
        make_shelf(directory, shelf, partitions)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
