"""One lever of the target's speed, measured alone: pyaoe's target as it ships ("base") against
the same target with one lever changed ("lever"), beside Debian's vblade and aoenull, in paired
rounds on the bench's wire (veth between two namespaces, target on CPU 0, aoeload on CPU 1).

Run (root): .venv/bin/python benchmarks/target_levers.py LEVER [--mtu 1500] [--rounds 5]
    [--workloads rand-read-qd32,seq-read] [--seconds 2]
LEVER is one of benchmarks/lever_target.py's (qdisc-bypass, busy-poll, ...), "mask" (the lever
side serves with a mask list holding the generator's MAC, -m), or "none" for an A/A run that
shows the noise. --mask-all gives every target (vblade too) that mask list; --base-src DIR
runs the base side from an older source tree (a before/after pair). Prints each workload's
medians (IOPS) and the medians of the rounds' own ratios: lever/base (the lever's gain),
base/vblade, lever/vblade, and each over aoenull. The order of the four rotates every round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from pyaoe.bench.load import Sample
from pyaoe.bench.peers import RunningTarget, start_target, target_argv
from pyaoe.bench.plan import Setup, default_options, workloads_named
from pyaoe.bench.runner import Measurements, _Run, make_backing_file
from pyaoe.bench.tools import build_tools
from pyaoe.lab.netns import Lab

HERE = Path(__file__).resolve().parent
SIDES = ("base", "lever", "vblade", "null")


class LeverRun(_Run):
    lever: str = "none"
    mask_all = False
    base_src = ""

    def start(self, kind: str) -> RunningTarget:
        assert self.tlink is not None
        o = self.options
        real = {"base": "pyaoe", "lever": "pyaoe"}.get(kind, kind)
        argv = target_argv(
            real, tools=self.tools, ifname=self.tlink.ifname, shelf=o.shelf, slot=o.slot,
            path=str(self.backing), file_bytes=o.file_bytes, direct=False, bufcnt=o.bufcnt,
        )  # fmt: skip
        assert self.ilink is not None
        if (self.mask_all and real != "null") or (kind == "lever" and self.lever == "mask"):
            # -m before the positional arguments (shelf slot netif file: the last four).
            argv[-4:-4] = ["-m", self.ilink.mac.hex(":")]
        if real == "pyaoe":
            # python -m pyaoe.cli.vblade ARGS -> python lever_target.py LEVER ARGS
            lever = self.lever if kind == "lever" else "none"
            env = [f"PYAOE_LEVER_SRC={self.base_src}"] if kind == "base" and self.base_src else []
            argv = ["env", *env, argv[0], str(HERE / "lever_target.py"), lever, *argv[3:]]
        return start_target(self.lab, self.tns, argv, kind, o.target_cpu, self.probe)


def paired(a: list[Sample], b: list[Sample]) -> float:
    return statistics.median(x.iops / y.iops for x, y in zip(a, b, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lever")
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--workloads", default="rand-read-qd32,seq-read")
    parser.add_argument("--size", type=int, default=256, help="backing file MiB")
    parser.add_argument("--mask-all", action="store_true")
    parser.add_argument("--base-src", default="")
    args = parser.parse_args()
    options = default_options(
        seconds=args.seconds, file_bytes=args.size << 20, workloads=workloads_named(args.workloads.split(","))
    )
    tools = build_tools()
    out = Measurements()
    with open("/proc/loadavg") as f:
        load_before = f.read().split()[:3]
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        backing = Path(tmp) / "backing.img"
        make_backing_file(backing, options.file_bytes)
        run = LeverRun(options, tools, lab, lab.netns("lvtg"), lab.netns("lvin"), backing, out)
        run.lever = args.lever
        run.mask_all = args.mask_all
        run.base_src = args.base_src
        run.setup = Setup(args.mtu)
        run.tlink, run.ilink = lab.veth(run.tns, run.ins, mtu=args.mtu)
        for rnd in range(args.rounds):
            order = SIDES[rnd % 4 :] + SIDES[: rnd % 4]
            for kind in order:
                target = run.start(kind)
                try:
                    for w in options.workloads:
                        out.add(w.name, kind, run.aoeload(target, w))
                finally:
                    target.stop()
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    with open("/proc/loadavg") as f:
        load_after = f.read().split()[:3]
    extra = (" (every target masked)" if args.mask_all else "") + (
        f" (base from {args.base_src})" if args.base_src else ""
    )
    print(f"lever {args.lever}, MTU {args.mtu}, {args.rounds} rounds of {args.seconds} s{extra}")
    print(f"{'workload':<18}{'base':>10}{'lever':>10}{'vblade':>10}{'aoenull':>10}"
          f"{'lev/base':>9}{'base/vb':>9}{'lev/vb':>9}{'base/nul':>9}{'lev/nul':>9}")  # fmt: skip
    for w in options.workloads:
        s = out.samples[w.name]
        medians = "".join(f"{statistics.median(x.iops for x in s[k]):>10,.0f}" for k in SIDES)
        ratios = [
            paired(s["lever"], s["base"]),
            paired(s["base"], s["vblade"]),
            paired(s["lever"], s["vblade"]),
            paired(s["base"], s["null"]),
            paired(s["lever"], s["null"]),
        ]
        print(f"{w.name:<18}{medians}" + "".join(f"{r:>9.3f}" for r in ratios))
    print(f"load average before/after: {' '.join(load_before)} / {' '.join(load_after)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
