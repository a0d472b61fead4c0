"""pyaoe.cli.aoe_discover: `aoe-discover`, aoetools 36's "look for AoE devices now": one write
to the discover control file of the kernel's /dev/etherd or pyaoe's tree.

The initiator then broadcasts a Query Config on every interface its iflist allows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import AoetoolsError, check_control, run_tool, tool_arguments, write_control
from pyaoe.cli.tree import add_tree_option, select_tree

__all__ = ["PROG", "main"]

PROG = "aoe-discover"

_DESCRIPTION = """\
Tell the AoE initiator to discover devices: it broadcasts a Query Config on every network
interface its interface list allows. Writes a newline to the discover file of the kernel
driver's /dev/etherd or of pyaoe's tree (see --root). Arguments are ignored, as aoetools
ignores them. Exit 0 on success, 1 on failure."""


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, usage="%(prog)s [--root DIR]", description=_DESCRIPTION)
    add_tree_option(parser)
    parser.add_argument("ignored", nargs="*", metavar="arg", help="ignored")
    return parser


def _body(argv: Sequence[str]) -> int:
    args, _ignored = tool_arguments(build_parser(), argv)
    path = check_control(select_tree(args.root), "discover", PROG)
    try:
        write_control(path, b"\n")
    except OSError as exc:
        raise AoetoolsError(f"{PROG}: discover failed: {exc.strerror or exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
