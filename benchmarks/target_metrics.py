"""pyaoe's target with Prometheus metrics on (scraped every second) against the same target with
them off, in paired rounds under aoeblast.

Run: .venv/bin/python benchmarks/target_metrics.py [--pairs 10] [--seconds 3] [--mode read|write]
Each pair runs both, in alternating order, on a fresh target process (CPU 0) with aoeblast on
CPU 1 (one frame of 2 sectors, 16 in flight, MTU 1500); prints each pair's ratio of frames/s
(on/off) and their median, and the same for the target's CPU time a frame (less sensitive
to a shared machine's load than the rate). `pyaoe bench --metrics` measures the same beside
vblade. Needs root.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paired import metrics_on_off

from pyaoe.bench.peers import METRICS_PORT, scraping
from pyaoe.bench.procstat import cpu_seconds
from pyaoe.bench.tools import build_tools
from pyaoe.lab.netns import Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--mode", choices=("read", "write"), default="read")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between scrapes (0: metrics on, never scraped)"
    )
    args = parser.parse_args()
    tools = build_tools()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        disk = Path(tmp) / "disk.img"
        with open(disk, "wb") as f:
            f.truncate(256 << 20)
        tns, ins = lab.netns("mtt"), lab.netns("mti")
        there, here = lab.veth(tns, ins, mtu=1500)

        def run(metrics: bool) -> tuple[float, float]:
            """(frames/s, target CPU µs per frame) of one run."""
            options = ["--metrics", f"127.0.0.1:{METRICS_PORT}"] if metrics else []
            command = [sys.executable, "-m", "pyaoe", "target", "--control-socket", "none", *options]
            target = lab.popen(
                tns,
                ["taskset", "-c", "0", *command, "-b", "256", "1", "2", there.ifname, str(disk)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            try:
                assert target.stdout is not None
                target.stdout.readline()
                time.sleep(0.3)
                cpu_before = cpu_seconds(target.pid)
                load = [
                    str(tools.aoeblast),
                    here.ifname,
                    "1",
                    "2",
                    args.mode,
                    "seq",
                    "2",
                    "16",
                    str(args.seconds),
                ]
                if metrics and args.interval > 0:
                    with scraping(tns, args.interval) as sizes:
                        result = lab.run(ins, ["taskset", "-c", "1", *load])
                    assert sizes, "no scrape succeeded"
                else:
                    result = lab.run(ins, ["taskset", "-c", "1", *load])
                cpu = cpu_seconds(target.pid) - cpu_before
                match = re.search(r"ops/s (\d+)", result.stdout)
                assert match, result.stdout + result.stderr
                rate = float(match[1])
                return rate, cpu / (rate * args.seconds) * 1e6
            finally:
                target.terminate()
                target.wait(timeout=30)

        metrics_on_off(run, args.pairs, "frames/s", "µs of target CPU a frame", 1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
