"""Sequential reads through the initiator's library API over a wire that loses frames: nftables
in both namespaces drops a share of the AoE frames arriving on each end (0, 1 and 10 % by
default), Debian's vblade serves a file of random bytes from /dev/shm, and the initiator reads
it 1 MiB at a time, one request after the other (dd's pattern through the FUSE file), checking
every byte. Needs root.

Run: .venv/bin/python benchmarks/lossy_read.py [--drops 0,1,10] [--seconds 5] [--rounds 3]
     [--mtu 1500] [--min-rto S] [--base OTHER_SRC]
Prints MB/s and data frames/s per drop rate (median of the rounds). With --base, each round
runs the same measurement with the pyaoe package under OTHER_SRC (a `src` directory of another
checkout) and with this one, in alternating order, and prints the ratio pair by pair: a shared
machine's drift cancels out pair by pair.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MiB = 1 << 20
HERE = Path(__file__).resolve()
SRC = HERE.parents[1] / "src"


def measure(drop: int, seconds: float, mtu: int, size_mib: int, min_rto: float | None) -> dict[str, float]:
    """One run, in this process: MB/s, data frames/s and retransmissions at ``drop`` % each way."""
    from pyaoe.lab.netns import Lab
    from pyaoe.reliability.peers import lossy_wire, start_initiator, start_target

    workdir = Path(os.environ.get("TMPDIR", "/dev/shm"))
    path = workdir / f"lossy-read-{os.getpid()}.img"
    data = os.urandom(size_mib * MiB)
    path.write_bytes(data)
    try:
        with Lab() as lab:
            target_ns, initiator_ns = lab.netns("aoebt"), lab.netns("aoebi")
            here, there = lab.veth(initiator_ns, target_ns, mtu=mtu)
            if drop:
                lossy_wire(lab, target_ns, there.ifname, drop, 0)
                lossy_wire(lab, initiator_ns, here.ifname, drop, 0)
            argv = ["9", "3", there.ifname, str(path)]
            with start_target(lab, target_ns, argv, command=("/usr/sbin/vblade",), workdir=workdir):
                options = {} if min_rto is None else {"min_rto": min_rto}
                service = start_initiator(initiator_ns, [here.ifname], deadsecs=60.0, **options)
                try:
                    deadline = time.monotonic() + 60
                    while True:
                        try:
                            info = service.wait_for_device("e9.3", 5)
                            break
                        except TimeoutError:
                            if time.monotonic() > deadline:
                                raise
                            service.discover()
                    payload = info.payload
                    offset = done = 0
                    retransmits = service.counters.retransmits
                    start = time.monotonic()
                    while (elapsed := time.monotonic() - start) < seconds:
                        got = service.read("e9.3", offset, MiB).result(120)
                        if got != data[offset : offset + MiB]:
                            raise AssertionError(f"wrong data at offset {offset}")
                        done += MiB
                        offset = (offset + MiB) % len(data)
                    retransmits = service.counters.retransmits - retransmits
                finally:
                    service.stop()
    finally:
        path.unlink(missing_ok=True)
    return {
        "MB/s": done / elapsed / 1e6,
        "frames/s": done / payload / elapsed,
        "retransmits/s": retransmits / elapsed,
    }


def child(src: Path, drop: int, args: argparse.Namespace) -> dict[str, float]:
    """measure() in a fresh interpreter that imports pyaoe from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [sys.executable, str(HERE), "--one", str(drop), "--seconds", str(args.seconds)]
    argv += ["--mtu", str(args.mtu), "--size", str(args.size)]
    if args.min_rto is not None:
        argv += ["--min-rto", str(args.min_rto)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"measurement with {src} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--drops", default="0,1,10", help="percent dropped each way, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument("--size", type=int, default=64, help="file size in MiB")
    parser.add_argument("--base", type=Path, help="a src directory to compare against, pair by pair")
    parser.add_argument("--min-rto", type=float, help="the initiator's min_rto (default: its default)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        import pyaoe

        figures = measure(args.one, args.seconds, args.mtu, args.size, args.min_rto)
        print(f"# pyaoe from {Path(pyaoe.__file__).parent}", file=sys.stderr)
        print(json.dumps(figures))
        return
    drops = [int(d) for d in args.drops.split(",")]
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    ratios: dict[int, list[float]] = {d: [] for d in drops}
    for rnd in range(args.rounds):
        for drop in drops:
            sides = [("this", SRC)] + ([("base", args.base.resolve())] if args.base else [])
            if rnd % 2:
                sides.reverse()
            got = {name: child(src, drop, args) for name, src in sides}
            for name, figures in got.items():
                results.setdefault((name, drop), []).append(figures)
            line = f"round {rnd + 1}, {drop}% each way: " + ", ".join(
                f"{name} {f['MB/s']:.1f} MB/s {f['frames/s']:,.0f} frames/s "
                f"{f['retransmits/s']:,.0f} resends/s"
                for name, f in got.items()
            )
            if args.base:
                ratios[drop].append(got["this"]["MB/s"] / got["base"]["MB/s"])
                line += f"; this/base {ratios[drop][-1]:.2f}x"
            print(line, flush=True)
    for (name, drop), runs in sorted(results.items()):
        mbs = statistics.median(r["MB/s"] for r in runs)
        fps = statistics.median(r["frames/s"] for r in runs)
        print(f"median {name}, {drop}% each way: {mbs:.1f} MB/s, {fps:,.0f} frames/s")
    lossless = {
        name: statistics.median(r["MB/s"] for r in runs) for (name, d), runs in results.items() if d == 0
    }
    for (name, drop), runs in sorted(results.items()):
        if drop and name in lossless:
            share = statistics.median(r["MB/s"] for r in runs) / lossless[name]
            print(f"{name}: {drop}% each way reads at {share:.2f}x of the lossless figure")
    for drop, values in ratios.items():
        if values:
            print(f"median this/base at {drop}% each way: {statistics.median(values):.2f}x")


if __name__ == "__main__":
    main()
