"""pyaoe.cli.aoe_flush: `aoe-flush [-a | eX.Y ...]`, aoetools 36's "forget devices": writes a
newline (devices down and unused), "all" (every unused device) or each named device to the flush
control file of the kernel's /dev/etherd or pyaoe's tree.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pyaoe.cli.aoe_stat import collect_rows
from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import AoetoolsError, check_control, run_tool, write_control
from pyaoe.cli.tree import AoeTree, add_tree_option, select_tree

__all__ = ["PROG", "main"]

PROG = "aoe-flush"

_DESCRIPTION = """\
Tell the AoE initiator to forget devices: with no arguments those that are down and not in
use; with -a every device not in use; with names those devices (each must be one aoe-stat
lists). Writes to the flush file of the kernel driver's /dev/etherd or of pyaoe's tree (see
--root). The kernel's driver flushes a named device even if it is open, and takes the name as a
prefix (e1.1 also flushes e1.10); pyaoe's takes the exact name and refuses a device in use.
Exit 0 on success, 1 on any error ("is not an aoe device" is on stderr, not stdout as in
aoetools)."""


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
    parser.add_argument("-a", dest="all", action="store_true", help="flush every device not in use")
    parser.add_argument("device", nargs="*", help="devices to flush, e.g. e1.0")
    return parser


def _body(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.all and args.device:
        raise AoetoolsError(f"{PROG}: -a takes no device names")
    tree = select_tree(args.root)
    path = check_control(tree, "flush", PROG)
    # aoetools splits "$*" on whitespace, so "e1.0 e1.1" as one argument names two devices.
    names = " ".join(args.device).split()
    if args.all:
        requests = [b"all"]
    elif names:
        known = _known_devices(tree)
        unknown = [f'{PROG} Error: "{n}" is not an aoe device' for n in names if n not in known]
        if unknown:
            raise AoetoolsError(*unknown)
        requests = [n.encode("utf-8", "surrogateescape") for n in names]
    else:
        requests = [b"\n"]
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
