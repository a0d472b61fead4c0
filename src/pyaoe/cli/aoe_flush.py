"""pyaoe.cli.aoe_flush: `aoe-flush [-a | eX.Y ...]`, aoetools 36's "forget devices": writes a
newline (devices down and unused), "all" (every unused device) or each named device to the flush
control file of the kernel's /dev/etherd or pyaoe's tree.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyaoe.cli.aoe_stat import collect_rows
from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import AoetoolsError, check_control, run_tool, tool_arguments, write_control
from pyaoe.cli.tree import AoeTree, add_tree_option, select_tree

__all__ = ["PROG", "main"]

PROG = "aoe-flush"

_DESCRIPTION = """\
Tell the AoE initiator to forget devices: with no arguments (or an empty first one) those
that are down and not in use; with -a first every device not in use (what follows is
ignored); with names those devices (each must be one aoe-stat lists). Writes to the flush
file of the kernel driver's /dev/etherd or of pyaoe's tree (see --root). The kernel's
driver flushes a named device even if it is open, and takes the name as a prefix (e1.1 also
flushes e1.10); pyaoe's takes the exact name and refuses a device in use. Exit 0 on success,
1 on any error ("is not an aoe device" is on stderr, not stdout as in aoetools)."""


def _known_devices(tree: AoeTree) -> set[str]:
    try:
        rows, _warnings = collect_rows(tree)
    except AoetoolsError as exc:
        # aoetools calls aoe-stat, whose complaint shows; then every name is unknown.
        for line in exc.lines:
            print(line, file=sys.stderr)
        return set()
    # aoetools compares aoe-stat's first column (awk '$1==d').
    return {r.name.split()[0] for r in rows if r.name.split()}


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, usage="%(prog)s [--root DIR] [-a | eX.Y ...]", description=_DESCRIPTION)
    add_tree_option(parser)
    parser.add_argument(
        "device", nargs="*", metavar="-a | eX.Y", help="-a: every device not in use; or these devices"
    )
    return parser


def _requests(tree: AoeTree, args: Sequence[str]) -> list[bytes]:
    """What to write to the flush file, one write each, as aoetools decides it from "$@"."""
    if not args or not args[0]:
        return [b"\n"]  # aoetools tests "$1" only: an empty first argument means no names
    if args[0] == "-a":
        return [b"all"]
    # aoetools splits "$*" on whitespace, so "e1.0 e1.1" as one argument names two devices.
    names = " ".join(args).split()
    if names:
        known = _known_devices(tree)
        unknown = [f'{PROG} Error: "{n}" is not an aoe device' for n in names if n not in known]
        if unknown:
            raise AoetoolsError(*unknown)
    return [n.encode("utf-8", "surrogateescape") for n in names]


def _body(argv: Sequence[str]) -> int:
    args, rest = tool_arguments(build_parser(), argv)
    tree = select_tree(args.root)
    path = check_control(tree, "flush", PROG)
    requests = _requests(tree, rest)
    failed = False
    for request in requests:
        try:
            write_control(path, request)
        except OSError as exc:
            what = request.decode("utf-8", "surrogateescape").strip() or "down devices"
            print(f"{PROG}: flush failed: {what}: {exc.strerror or exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
