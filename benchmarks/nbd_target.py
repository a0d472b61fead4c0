"""The NBD target rows of `pyaoe bench` with a second source tree beside this one: pyaoe's
target on qemu-nbd's export from tree A, from tree B, and on the file, in alternating rounds.

Run (root): .venv/bin/python benchmarks/nbd_target.py [--base DIR] [--rounds 5]
    [--workload rand-read-qd32 ...] [--profile FILE]
--base is another checkout's src/ (e.g. `git archive main src | tar -x -C /tmp/base`): each
round measures it and this tree on the same qemu-nbd, so a lever is judged pair by pair
(median of the rounds' ratios). --profile runs py-spy on this tree's target for one round instead.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pyaoe.bench.nbd import SHELF, SLOT, _Bench, _wait_nbd
from pyaoe.bench.peers import start_target, target_argv
from pyaoe.bench.plan import default_options, workloads_named
from pyaoe.bench.runner import make_backing_file
from pyaoe.bench.tools import build_tools
from pyaoe.lab.netns import Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="src/ of the tree to compare with (default: none)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--workload", action="append", default=None)
    parser.add_argument("--profile", help="py-spy raw output file: profile this tree's target once")
    args = parser.parse_args()
    workloads = workloads_named(args.workload or ["rand-read-qd32"])
    options = default_options(seconds=args.seconds, warmup=0.5, file_bytes=256 << 20, workloads=workloads)
    tools = build_tools()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        work = Path(tmp)
        backing = work / "backing.img"
        make_backing_file(backing, options.file_bytes)
        tns, ins = lab.netns("nbtt"), lab.netns("nbti")
        tlink, ilink = lab.veth(tns, ins, mtu=1500)
        bench = _Bench(options, tools, lab, tns, ins, tlink, ilink, backing, work)
        sock = work / "qemu-nbd.sock"
        uri = f"nbd+unix:///disk?socket={sock}"
        qemu = lab.popen(
            None, ["qemu-nbd", "-t", "-f", "raw", "-x", "disk", "-k", str(sock), str(backing)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_nbd(uri, qemu)

            def run(path: str, src: str | None, workload_index: int, spy: str | None = None) -> float:
                argv = target_argv(
                    "pyaoe", tools=tools, ifname=tlink.ifname, shelf=SHELF, slot=SLOT, path=path,
                    file_bytes=options.file_bytes, direct=False, bufcnt=options.bufcnt,
                )  # fmt: skip
                if src is not None:
                    argv = ["env", f"PYTHONPATH={src}", *argv]
                target = start_target(lab, tns, argv, "pyaoe", options.target_cpu, bench.probe)
                profiler = None
                if spy is not None:
                    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                    profiler = subprocess.Popen(
                        [exe, "record", "-p", str(target.pid), "-d", str(int(args.seconds)), "-r", "250",
                         "-f", "raw", "-o", spy], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                try:
                    return bench.aoeload(workloads[workload_index])
                finally:
                    if profiler is not None:
                        profiler.wait(args.seconds + 60)
                    target.stop()

            if args.profile:
                print(f"{workloads[0].name}: {run(uri, None, 0, args.profile):.1f} MB/s (profiled)")
                return 0
            for index, workload in enumerate(workloads):
                sides = {"this": (uri, None), "file": (str(backing), None)}
                if args.base:
                    sides["base"] = (uri, args.base)
                figures: dict[str, list[float]] = {name: [] for name in sides}
                for rnd in range(args.rounds):
                    order = list(sides)
                    if rnd % 2:
                        order.reverse()
                    for name in order:
                        figures[name].append(run(*sides[name], index))
                    now = {k: round(v[-1], 1) for k, v in figures.items()}
                    print(workload.name, rnd + 1, now, flush=True)
                medians = {k: round(statistics.median(v), 1) for k, v in figures.items()}
                line = f"{workload.name}: medians MB/s {medians}"
                line += f"; this/file {_paired(figures, 'this', 'file')}"
                if args.base:
                    line += f", base/file {_paired(figures, 'base', 'file')}"
                    line += f", this/base {_paired(figures, 'this', 'base')}"
                print(line, flush=True)
        finally:
            qemu.terminate()
            qemu.wait(10)
    return 0


def _paired(figures: dict[str, list[float]], top: str, bottom: str) -> str:
    """The median of the rounds' own ratios top/bottom."""
    ratios = (a / b for a, b in zip(figures[top], figures[bottom], strict=True))
    return f"{statistics.median(ratios):.2f}"


if __name__ == "__main__":
    sys.exit(main())
