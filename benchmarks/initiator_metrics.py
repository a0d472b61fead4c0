"""The initiator's library-API read rate with Prometheus metrics on (scraped every second) against
off, in paired rounds.

Run: .venv/bin/python benchmarks/initiator_metrics.py [--pairs 10] [--seconds 3] [--interval 1|0]
Each round is a fresh process (CPU 1) holding an InitiatorService through open_block_client and
reading e1.2 sequentially (128 KiB reads, 16 in flight) from `pyaoe target` (CPU 0, MTU 9000),
with, when on, a MetricsServer serving InitiatorCollector that this script scrapes from outside
every --interval seconds. Prints each pair's ratio of MB/s (on/off) and the median, and the same
for the initiator's CPU time per MB. Needs root.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from paired import metrics_on_off

from pyaoe.bench.peers import METRICS_PORT, scraping
from pyaoe.lab.netns import Lab


def child(args: argparse.Namespace) -> int:
    """One round: the initiator, its metrics when asked, the load; a JSON line on stdout."""
    from pyaoe.bench.initiator_load import run_load
    from pyaoe.service.initiator import open_block_client
    from pyaoe.service.initiator_metrics import InitiatorCollector
    from pyaoe.service.metrics import MetricsServer

    client = open_block_client(iflist=[args.child], shelf=1, slot=2, timeout=20)
    metrics = None
    if args.metrics:
        metrics = MetricsServer(f"127.0.0.1:{METRICS_PORT}")
        metrics.add(InitiatorCollector(client.service))
        metrics.start()
    print("ready", flush=True)
    sys.stdin.readline()  # the scraper is on
    try:
        result = run_load(
            client,
            mode="read",
            pattern="seq",
            io_bytes=128 << 10,
            queue_depth=16,
            seconds=args.seconds,
            warmup=0.5,
        )
        print(json.dumps(result), flush=True)
        sys.stdin.readline()  # the scraper is off
    finally:
        if metrics is not None:
            metrics.close()
        client.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between scrapes (0: metrics on, never scraped)"
    )
    parser.add_argument("--child", metavar="IFNAME", help=argparse.SUPPRESS)
    parser.add_argument("--metrics", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        disk = Path(tmp) / "disk.img"
        with open(disk, "wb") as f:
            f.truncate(1 << 30)
        tns, ins = lab.netns("imt"), lab.netns("imi")
        there, here = lab.veth(tns, ins, mtu=9000)
        command = [sys.executable, "-m", "pyaoe", "target", "--control-socket", "none", "-b", "64"]
        target = lab.popen(
            tns,
            ["taskset", "-c", "0", *command, "1", "2", there.ifname, str(disk)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert target.stdout is not None
        target.stdout.readline()

        def run(metrics: bool) -> tuple[float, float]:
            """(MB/s, initiator CPU seconds per MB) of one round."""
            argv = [sys.executable, __file__, "--child", here.ifname, "--seconds", str(args.seconds)]
            proc = lab.popen(
                ins,
                ["taskset", "-c", "1", *argv, *(["--metrics"] if metrics else [])],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdin is not None and proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            if metrics and args.interval > 0:
                with scraping(ins, args.interval) as sizes:
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                    out = proc.stdout.readline()
                assert sizes, "no scrape succeeded"
            else:
                proc.stdin.write("go\n")
                proc.stdin.flush()
                out = proc.stdout.readline()
            proc.stdin.write("done\n")
            proc.stdin.flush()
            proc.wait(timeout=60)
            result = json.loads(out)
            assert result["ok"] and not result["errors"], result
            return result["mbps"], result["cpu_s"] / (result["mbps"] * result["seconds"])

        metrics_on_off(run, args.pairs, "MB/s", "ms of initiator CPU a MB", 1e3)
        target.terminate()
        target.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
