"""Profile pyaoe's target (or a lever of benchmarks/lever_target.py) under one aoeload workload,
on the bench's wire: py-spy (where the Python time goes) or perf (user against kernel, and which
kernel functions), while aoeload runs.

Run (root): .venv/bin/python benchmarks/profile_target.py [--tool py-spy|perf] [--lever none]
    [--workload rand-read-qd32] [--mtu 9000] [--seconds 10] [--out FILE]
py-spy writes a speedscope/flame file (--out, default /tmp/pyaoe-target.txt as raw stacks);
perf prints `perf report --no-children` sorted by symbol.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from target_levers import LeverRun

from pyaoe.bench.plan import Setup, default_options, workloads_named
from pyaoe.bench.runner import Measurements, make_backing_file
from pyaoe.bench.tools import build_tools
from pyaoe.lab.netns import Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=("py-spy", "perf"), default="py-spy")
    parser.add_argument("--lever", default="none")
    parser.add_argument("--workload", default="rand-read-qd32")
    parser.add_argument("--mtu", type=int, default=9000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", default="/tmp/pyaoe-target.txt")
    args = parser.parse_args()
    workload = workloads_named([args.workload])
    options = default_options(seconds=args.seconds, file_bytes=256 << 20, workloads=workload)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        backing = Path(tmp) / "backing.img"
        make_backing_file(backing, options.file_bytes)
        run = LeverRun(
            options, build_tools(), lab, lab.netns("prtg"), lab.netns("prin"), backing, Measurements()
        )
        run.lever = args.lever
        run.setup = Setup(args.mtu)
        run.tlink, run.ilink = lab.veth(run.tns, run.ins, mtu=args.mtu)
        target = run.start("lever")
        try:
            pid = str(target.pid)
            seconds = str(int(args.seconds))
            if args.tool == "py-spy":
                spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                command = [spy, "record", "-p", pid, "-d", seconds, "-r", "250", "-f", "raw", "-o", args.out]
            else:
                command = [
                    "perf",
                    "record",
                    "-e",
                    "cpu-clock",
                    "-g",
                    "-p",
                    pid,
                    "-o",
                    args.out,
                    "--",
                    "sleep",
                    seconds,
                ]
            profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            sample = run.aoeload(target, workload[0])
            _out, err = profiler.communicate(timeout=args.seconds + 60)
            print(f"{args.workload} MTU {args.mtu}, lever {args.lever}: {sample.iops:,.0f} IOPS", flush=True)
            if profiler.returncode:
                print(err, file=sys.stderr)
        finally:
            target.stop()
    if args.tool == "perf":
        report = ["perf", "report", "-i", args.out, "--no-children", "--sort", "dso,symbol", "--stdio"]
        subprocess.run([*report, "-g", "none", "--percent-limit", "1"], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
