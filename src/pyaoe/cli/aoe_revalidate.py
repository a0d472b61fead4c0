"""pyaoe.cli.aoe_revalidate: `aoe-revalidate eX.Y`, aoetools 36's "re-read this device's size":
one line written to the revalidate control file of the kernel's /dev/etherd or pyaoe's tree.

The initiator refuses a device it does not know (EINVAL): "revalidate failed".
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import AoetoolsError, check_control, run_tool, tool_arguments, write_control
from pyaoe.cli.tree import add_tree_option, select_tree

__all__ = ["PROG", "USAGE", "main"]

PROG = "aoe-revalidate"
USAGE = f"Usage: {PROG} e{{major}}.{{minor}}"

_DESCRIPTION = """\
Ask the AoE initiator to query device eX.Y again and take its new size, even while it is
open. Writes the arguments, joined by blanks, and a newline to the revalidate file of the
kernel driver's /dev/etherd or of pyaoe's tree (see --root), as aoetools does: the initiator
takes the first name. Exit 0 on success; 1 with "revalidate failed" when the initiator refuses
(no such device)."""


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG, usage="%(prog)s [--root DIR] e{major}.{minor}", description=_DESCRIPTION
    )
    add_tree_option(parser)
    parser.add_argument("device", nargs="*", help="the device, e.g. e1.0")
    return parser


def _body(argv: Sequence[str]) -> int:
    args, rest = tool_arguments(build_parser(), argv)
    request = " ".join(rest)  # aoetools writes "$*"
    if not request:
        raise AoetoolsError(USAGE)
    path = check_control(select_tree(args.root), "revalidate", PROG, period=False)
    try:
        write_control(path, f"{request}\n".encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise AoetoolsError(f"{PROG}: revalidate failed: {request}: {exc.strerror or exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
