"""pyaoe.cli.main: the `pyaoe` umbrella command and the one table of its subcommands.

`pyaoe SUBCOMMAND --help` shows each one's options; the manual pages come from the same table.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyaoe.cli.common import version_line

__all__ = ["COMMANDS", "Subcommand", "main"]


@dataclass(frozen=True)
class Subcommand:
    """A `pyaoe` subcommand: what runs it and what builds its parser, as "module:function"
    (imported only when used), and one line of help."""

    run: str
    parser: str
    help: str

    def load(self, which: str) -> Callable[..., Any]:
        module, _colon, name = getattr(self, which).partition(":")
        function: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return function


#: Every `pyaoe` subcommand. A new one added here gets `pyaoe --help`, `--version` and a manual page.
COMMANDS: dict[str, Subcommand] = {
    "target": Subcommand(
        "pyaoe.cli.vblade:main_target",
        "pyaoe.cli.vblade:target_parser",
        "export files or block devices (vblade's job, several exports at once, live reloads)",
    ),
    "initiator": Subcommand(
        "pyaoe.cli.initiator:main",
        "pyaoe.cli.initiator:build_parser",
        "the AoE initiator: devices and the driver's files in a FUSE tree (root)",
    ),
    "ctl": Subcommand(
        "pyaoe.cli.ctl:main",
        "pyaoe.cli.ctl:build_parser",
        "ask a running target: list, stats, reload, add, remove, config, mask, reserve",
    ),
    "nbd": Subcommand(
        "pyaoe.cli.nbd:main",
        "pyaoe.cli.nbd:build_parser",
        "serve every AoE device as an NBD export (QEMU, qemu-img, nbdcopy) (root)",
    ),
    "copy": Subcommand(
        "pyaoe.cli.copy:main",
        "pyaoe.cli.copy:build_parser",
        "copy an image between files, block devices, AoE devices and NBD exports",
    ),
    "install-units": Subcommand(
        "pyaoe.cli.units:main",
        "pyaoe.cli.units:build_parser",
        "install the systemd units (pyaoe-target, pyaoe-initiator, pyaoe-vblade@)",
    ),
    "bench": Subcommand(
        "pyaoe.cli.bench:main",
        "pyaoe.cli.bench:build_parser",
        "benchmark pyaoe against Debian's vblade in network namespaces (root)",
    ),
    "soak": Subcommand(
        "pyaoe.cli.soak:main",
        "pyaoe.cli.soak:build_parser",
        "faults and load with a ledger of acknowledged writes: nothing may be lost (root)",
    ),
    "demo": Subcommand(
        "pyaoe.demo:main",
        "pyaoe.demo:build_parser",
        "build a small SAN in network namespaces and show pyaoe working (root)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The umbrella's parser, for its manual page (main() dispatches by hand: each subcommand
    parses its own options)."""
    from pyaoe.cli.common import OneLineParser

    parser = OneLineParser(
        prog="pyaoe",
        description="ATA over Ethernet in Python: a vblade-compatible target, a user-space initiator and "
        "aoetools. Each command has its own manual page, pyaoe-COMMAND(8).",
        epilog="Commands: " + "; ".join(f"{name}: {c.help}" for name, c in COMMANDS.items()) + ".",
    )
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help="what to do (see below)")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="the command's own options")
    return parser


def _usage() -> str:
    lines = ["usage: pyaoe [--version] COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<14} {command.help}" for name, command in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 1
    if args[0] == "--version":
        print(version_line("pyaoe"))
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"pyaoe: unknown command {args[0]!r} (try pyaoe --help)", file=sys.stderr)
        return 1
    result: int = command.load("run")(args[1:])
    return result
