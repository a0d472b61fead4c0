"""pyaoe.cli.aoe_interfaces: `aoe-interfaces [-c] [netif ...]`, aoetools 36's interface list:
print it, set it (each name checked to be a network interface) or clear it (-c), in the
kernel driver's aoe_iflist or pyaoe's tree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import AoetoolsError, check_control, run_tool, tool_arguments, write_control
from pyaoe.cli.tree import AoeTree, add_tree_option, select_tree
from pyaoe.net.interfaces import NoSuchInterfaceError, interface_info

__all__ = ["PROG", "is_network_interface", "main"]

PROG = "aoe-interfaces"

_DESCRIPTION = """\
With no arguments print the AoE initiator's interface list (empty: every interface may carry
AoE). With names, allow AoE on those network interfaces only; -c clears the list. Writes the
list and a NUL byte to aoe_iflist in the driver's parameters, or else to the interfaces file
of /dev/etherd (the kernel driver's) or of pyaoe's tree (see --root). Names are checked in
/sys/class/net for the kernel's driver and with ioctls (this network namespace) for pyaoe's.
Exit 0 on success, 1 on any error."""


def is_network_interface(tree: AoeTree, name: str) -> bool:
    if tree.kind == "kernel":
        return (tree.sysfs_dir / "class" / "net" / name).is_dir()
    try:
        interface_info(name)
    except (NoSuchInterfaceError, OSError):
        return False
    return True


def _show(tree: AoeTree) -> int:
    sources = [tree.parameter("aoe_iflist")]
    if tree.kind == "pyaoe":
        sources.append(tree.control("interfaces"))  # pyaoe's interfaces file reads back too
    for path in sources:
        if os.access(path, os.R_OK):
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise AoetoolsError(f"{PROG}: cannot read {path}: {exc.strerror}") from None
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return 0
    missing = tree.missing_initiator()
    if missing:
        raise AoetoolsError(f"{PROG}: {missing}")
    # aoetools exits 1 without a word here.
    raise AoetoolsError(f"{PROG}: cannot read the interface list: {sources[0]} is not readable")


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG, usage="%(prog)s [--root DIR] [-c | netif ...]", description=_DESCRIPTION
    )
    add_tree_option(parser)
    parser.add_argument(
        "netif", nargs="*", metavar="-c | netif", help="-c: clear the list (all interfaces allowed); or these"
    )
    return parser


def _body(argv: Sequence[str]) -> int:
    args, rest = tool_arguments(build_parser(), argv)
    tree = select_tree(args.root)
    if not " ".join(rest):  # aoetools: test -z "$*"
        return _show(tree)
    if rest[0] == "-c":
        rest = rest[1:]
        if rest:
            raise AoetoolsError(f"{PROG} Error: -c flag takes no arguments")
    # aoetools joins its arguments with spaces ("$*") and splits them again for the check.
    netifs = " ".join(rest)
    bad = [
        f'{PROG} Error: "{n}" is not a network interface'
        for n in netifs.split()
        if not is_network_interface(tree, n)
    ]
    if bad:
        raise AoetoolsError(*bad)
    data = netifs.encode("utf-8", "surrogateescape") + b"\0"
    param = tree.parameter("aoe_iflist")
    target = param if os.access(param, os.W_OK) else check_control(tree, "interfaces", PROG)
    try:
        write_control(target, data)
    except OSError as exc:
        raise AoetoolsError(f"{PROG}: could not set interface list: {exc.strerror or exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
