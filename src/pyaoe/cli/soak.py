"""pyaoe.cli.soak: `pyaoe soak`: the fault and load runs (pyaoe.reliability) behind one command,
a table of figures on stdout, exit 1 when anything was lost or failed.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from pyaoe.cli.common import CommandError, OneLineParser

__all__ = ["main", "build_parser"]

PROG = "pyaoe soak"
_TOOLS = ("ip", "nft", "nsenter", "unshare")


def build_parser() -> OneLineParser:
    from pyaoe.reliability.runner import SCENARIOS

    parser = OneLineParser(
        prog=PROG,
        description=(
            "Prove that nothing acknowledged is lost: random writes recorded in a ledger while the target "
            "is killed (SIGKILL) and restarted, the wire loses 10% and duplicates 5% of the frames, the "
            "link goes down and up, the backing file's file system fills up, two initiators write one "
            "export, and FLUSH CACHE and -s are checked against a loop device's image; then 100 exports "
            "served to 4 initiators at once (the soak) and 1,000 exports found by one initiator. "
            "Everything runs in network namespaces; needs root."
        ),
    )
    parser.add_argument("--short", action="store_true", help="the short CI run (a few minutes in all)")
    parser.add_argument(
        "--minutes",
        metavar="N",
        type=float,
        help="how long the 100-export load runs (default 5; not with --short)",
    )
    parser.add_argument(
        "--only", metavar="LIST", help=f"comma list of scenarios (default all: {','.join(SCENARIOS)})"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    parser.add_argument(
        "--workdir", metavar="DIR", help="where the scratch folder goes (default: the system's)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the initiators' diagnostics")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args.short, args.minutes, args.only, args.json, args.workdir, args.verbose)
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code


def _run(
    short: bool, minutes: float | None, only: str | None, json: str | None, workdir: str | None, verbose: bool
) -> int:
    from pyaoe.reliability.report import format_table, write_json
    from pyaoe.reliability.runner import SCENARIOS, run_scenarios, short_plan, soak_plan

    if short and minutes is not None:
        raise CommandError("give --short or --minutes, not both")
    if minutes is not None and minutes <= 0:
        raise CommandError(f"--minutes must be positive, not {minutes:g}")
    names = [n for n in (only or "").split(",") if n] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise CommandError(f"unknown scenario {unknown[0]!r} (known: {', '.join(SCENARIOS)})")
    if workdir is not None and not Path(workdir).is_dir():
        raise CommandError(f"--workdir {workdir}: no such directory")
    if os.geteuid() != 0:
        raise CommandError("needs root (network namespaces, nftables, mounts)")
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        raise CommandError(f"{missing[0]} is not installed (./scripts/setup.sh installs what is needed)")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(name)s: %(message)s")
    if not verbose:
        # Retransmits and ATA errors are the point of the faults: counted in the table instead.
        logging.getLogger("pyaoe.initiator").setLevel(logging.ERROR)
    plan = short_plan() if short else soak_plan(minutes if minutes is not None else 5.0)

    def progress(line: str) -> None:
        print(f"{PROG}: {line}", file=sys.stderr, flush=True)

    results = run_scenarios(plan, names, workdir=Path(workdir) if workdir else None, progress=progress)
    print(format_table(results))
    if json:
        write_json(json, results)
    return 0 if all(f.passed for f in results) else 1
