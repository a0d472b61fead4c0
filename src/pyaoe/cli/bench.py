"""pyaoe.cli.bench: `pyaoe bench`: measure pyaoe's target against Debian's vblade (and the pyaoe
initiator against a C initiator) on veth pairs in network namespaces; print a table, write JSON.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from pyaoe.bench import format_table, run_bench, write_json
from pyaoe.bench.nbd import format_nbd_table
from pyaoe.bench.peers import VBLADE
from pyaoe.bench.plan import WORKLOADS, BenchOptions, default_options, smoke_options, workloads_named
from pyaoe.bench.tools import ToolError
from pyaoe.cli.common import CommandError, OneLineParser, parse_int, setup_logging

__all__ = ["main", "build_parser"]

PROG = "pyaoe bench"


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description=(
            "Benchmark pyaoe's target against Debian's vblade with the same load generator, in network "
            "namespaces over a veth pair (MTU 1500 and 9000, page cache and O_DIRECT). The target runs on "
            "CPU 0 and the generator on CPU 1 (taskset). Needs root."
        ),
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a short run of every row on a small file (CI: proves it works)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    parser.add_argument("--seconds", metavar="S", help="measured seconds per run (default 2; smoke 0.4)")
    parser.add_argument(
        "--rounds",
        metavar="N",
        help="rounds, alternating which target goes first; medians are reported (default 3)",
    )
    parser.add_argument("--size", metavar="MiB", help="backing file size in MiB (default 1024; smoke 64)")
    parser.add_argument("--mtu", metavar="MTU[,MTU]", help="MTUs with a page-cache file (default 1500,9000)")
    parser.add_argument(
        "--direct-mtu", metavar="MTU", help="MTU of the O_DIRECT run; 0 skips it (default 9000)"
    )
    names = ",".join(w.name for w in WORKLOADS)
    parser.add_argument("--workloads", metavar="LIST", help=f"comma list of workloads (default all: {names})")
    parser.add_argument("--cpus", metavar="T,G", help="CPUs of the target and of the generator (default 0,1)")
    parser.add_argument(
        "--dir", metavar="DIR", help="directory for the backing file (default: a new one in /var/tmp)"
    )
    parser.add_argument("--no-aoeblast", action="store_true", help="skip the aoeblast yardstick rows")
    parser.add_argument("--no-initiator", action="store_true", help="skip the pyaoe initiator rows")
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="also run pyaoe's target with Prometheus metrics on (scraped every second): metrics on/off",
    )
    parser.add_argument("--no-nbd", action="store_true", help="skip the NBD and copy rows")
    parser.add_argument("--only-nbd", action="store_true", help="measure the NBD and copy rows only")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each run")
    return parser


def _options(a: argparse.Namespace) -> BenchOptions:
    base = smoke_options if a.smoke else default_options
    changes: dict[str, object] = {}
    if a.seconds is not None:
        try:
            seconds = float(a.seconds)
        except ValueError:
            raise CommandError(f"--seconds must be a number, not {a.seconds!r}") from None
        if not 0.05 <= seconds <= 600:
            raise CommandError("--seconds must be between 0.05 and 600")
        changes["seconds"] = seconds
    if a.rounds is not None:
        changes["rounds"] = parse_int(a.rounds, "--rounds", 1, 100)
    if a.size is not None:
        changes["file_bytes"] = parse_int(a.size, "--size", 1, 1 << 20) << 20
    if a.mtu is not None:
        changes["mtus"] = tuple(parse_int(m, "--mtu", 576, 9000) for m in a.mtu.split(",") if m)
    if a.direct_mtu is not None:
        mtu = parse_int(a.direct_mtu, "--direct-mtu", 0, 9000)
        if 0 < mtu < 576:
            raise CommandError("--direct-mtu must be 0 or 576-9000")
        changes["direct_mtu"] = mtu or None
    if a.workloads is not None:
        try:
            workloads = workloads_named([n for n in a.workloads.split(",") if n])
        except ValueError as exc:
            raise CommandError(f"--workloads: {exc}") from None
        if not workloads:
            raise CommandError("--workloads: no workload given")
        changes["workloads"] = workloads
    if a.cpus is not None:
        parts = a.cpus.split(",")
        if len(parts) != 2:
            raise CommandError("--cpus wants two CPU numbers: TARGET,GENERATOR")
        ncpu = os.cpu_count() or 1
        changes["target_cpu"] = parse_int(parts[0], "--cpus", 0, ncpu - 1)
        changes["generator_cpu"] = parse_int(parts[1], "--cpus", 0, ncpu - 1)
    elif (os.cpu_count() or 1) < 2:
        changes["generator_cpu"] = 0
    if a.dir is not None:
        changes["workdir"] = a.dir
    changes["yardstick"] = not a.no_aoeblast
    changes["initiator"] = not a.no_initiator
    changes["metrics"] = a.metrics
    if a.no_nbd and a.only_nbd:
        raise CommandError("--no-nbd and --only-nbd contradict each other")
    changes["nbd"] = not a.no_nbd
    changes["only_nbd"] = a.only_nbd
    return base(**changes)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        options = _options(args)
        if os.geteuid() != 0:
            raise CommandError("must run as root (it makes network namespaces and veth pairs)")
        if not os.access(VBLADE, os.X_OK):
            raise CommandError(f"{VBLADE} is missing (Debian's vblade package; scripts/setup.sh installs it)")
        setup_logging(verbose=args.verbose)
        if not args.verbose:
            logging.getLogger("pyaoe.bench").setLevel(logging.WARNING)
        report = run_bench(options, [PROG, *(sys.argv[2:] if argv is None else argv)])
    except ToolError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    if report["rows"]:
        print(format_table(report))
    if report["nbd_rows"]:
        print(format_nbd_table(report["nbd_rows"]))
    if args.json:
        try:
            write_json(report, args.json)
        except OSError as exc:
            print(f"{PROG}: cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 1
    failed = [r["id"] for r in [*report["rows"], *report["nbd_rows"]] if r["status"] == "error"]
    if failed:
        print(f"{PROG}: {len(failed)} rows failed: {', '.join(failed[:5])}", file=sys.stderr)
        return 1
    return 0
