"""pyaoe.cli.ctl: `pyaoe ctl`, ggaoectl's job: ask a running `pyaoe target` (or, with --initiator,
`pyaoe initiator`) over its control socket, and print the answer as a table or as JSON.

The verbs each daemon answers are declared once, beside their handlers (DAEMONS names where).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyaoe.cli.common import CommandError, OneLineParser
from pyaoe.service.control import Verb, request

__all__ = ["DAEMONS", "build_parser", "main"]

PROG = "pyaoe ctl"


@dataclass(frozen=True)
class Daemon:
    """A daemon `pyaoe ctl` talks to: its default socket and the module:name of its verbs."""

    socket: str
    verbs: str


#: Every daemon with a control socket.
DAEMONS: dict[str, Daemon] = {
    "target": Daemon("/run/pyaoe/target.sock", "pyaoe.service.target_control:TARGET_VERBS"),
    "initiator": Daemon("/run/pyaoe/initiator.sock", "pyaoe.service.initiator_control:INITIATOR_VERBS"),
}


def _verbs(daemon: Daemon) -> tuple[Verb, ...]:
    module, _colon, name = daemon.verbs.partition(":")
    verbs: tuple[Verb, ...] = getattr(importlib.import_module(module), name)
    return verbs


def _daemon_parser(kind: str, daemon: Daemon) -> OneLineParser:
    parser = OneLineParser(
        prog=f"{PROG}{'' if kind == 'target' else ' --' + kind}",
        description=f"Control a running pyaoe {kind} over its socket (default {daemon.socket}).",
    )
    _common_options(parser, daemon)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in _verbs(daemon):
        one = sub.add_parser(verb.name, help=verb.help, description=verb.help)
        for arg in verb.args:
            one.add_argument(*arg.flags, **arg.options)
    return parser


def _common_options(parser: argparse.ArgumentParser, daemon: Daemon) -> None:
    parser.add_argument("--socket", metavar="PATH", default=daemon.socket, help="the daemon's control socket")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON (for scripts)")
    others = [k for k in DAEMONS if k != "target"]
    for kind in others:
        parser.add_argument(f"--{kind}", action="store_true", help=f"talk to pyaoe {kind} instead")


def build_parser() -> OneLineParser:
    """The parser for the target's verbs (the default daemon); for --help and the manual page."""
    return _daemon_parser("target", DAEMONS["target"])


def _kind(argv: Sequence[str]) -> str:
    for kind in DAEMONS:
        if f"--{kind}" in argv and kind != "target":
            return kind
    return "target"


def _format(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _table(table: dict[str, Any]) -> list[str]:
    columns = [str(c) for c in table["columns"]]
    raw = table["rows"]
    rows = [[_format(v) for v in row] for row in raw]
    numeric = [
        bool(raw) and all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in raw)
        for i in range(len(columns))
    ]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    title = [f"{table['title']}:"] if table.get("title") else []
    return [*title, line(columns), *(line(r) for r in rows)]


def render(reply: dict[str, Any]) -> str:
    """A reply's tables (aligned columns, numbers on the right) or its message, for people."""
    out: list[str] = []
    for table in reply.get("tables") or []:
        if out:
            out.append("")
        out += _table(table)
    if reply.get("message"):
        out.append(str(reply["message"]))
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    kind = _kind(args_in)
    parser = _daemon_parser(kind, DAEMONS[kind])
    args = parser.parse_args(args_in)
    options = {
        k: v for k, v in vars(args).items() if k not in ("socket", "json", "verb") and k not in DAEMONS
    }
    try:
        reply = request(args.socket, args.verb, options)
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    try:
        if args.json:
            print(json.dumps(reply.get("data"), indent=1))
        else:
            text = render(reply)
            if text:
                print(text)
    except BrokenPipeError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
