"""Sequential read of an AoE device three ways, in paired rounds: the initiator library's API (1 MiB
requests, 16 in flight), nbdcopy through `pyaoe nbd`, and nbdcopy through an nbdkit Python plugin
on the same library (benchmarks/nbdkit_aoe.py). Debian's vblade serves a file in /dev/shm from a
network namespace over a veth pair. Needs root, nbdkit, nbdkit-plugin-python, libnbd-bin.

Run: .venv/bin/python benchmarks/nbd_gateway.py [--size 256] [--rounds 5] [--mtu 9000]
Prints MB/s (10^6 bytes) per round and the medians, and each NBD way's ratio to the API.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path

from pyaoe import InitiatorConfig, open_block_client
from pyaoe.lab.netns import Lab
from pyaoe.lab.procs import read_lines

ROOT = Path(__file__).resolve().parents[1]


def api_read(iflist: str, size: int) -> float:
    """MB/s of reading the whole device with the library (16 x 1 MiB in flight)."""
    client = open_block_client(iflist, 1, 2, config=InitiatorConfig())
    try:
        start = time.monotonic()
        offset, pending = 0, set[Future[bytes]]()
        while offset < size or pending:
            while offset < size and len(pending) < 16:
                pending.add(client.submit_read(offset, min(1 << 20, size - offset)))
                offset += 1 << 20
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                f.result()
        return size / (time.monotonic() - start) / 1e6
    finally:
        client.close()


def nbdcopy_read(uri: str, size: int) -> float:
    start = time.monotonic()
    subprocess.run(["nbdcopy", uri, "null:"], check=True)
    return size / (time.monotonic() - start) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="MiB")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mtu", type=int, default=1500)
    a = parser.parse_args()
    size = a.size << 20
    with Lab() as lab, tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        tmp = Path(shm)
        disk = tmp / "disk.img"
        disk.write_bytes(os.urandom(size))
        ns = lab.netns("nbdb")
        here, there = lab.veth(None, ns, mtu=a.mtu)
        lab.popen(ns, ["/usr/sbin/vblade", "1", "2", there.ifname, str(disk)], stdout=subprocess.DEVNULL)
        own_sock, kit_sock = tmp / "own.sock", tmp / "kit.sock"
        own = lab.popen(
            None,
            [sys.executable, "-m", "pyaoe", "nbd", "--iflist", here.ifname, "--socket", str(own_sock)],
            stdout=subprocess.PIPE,
        )
        read_lines(own, 1, time.monotonic() + 20)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        plugin = ROOT / "benchmarks" / "nbdkit_aoe.py"
        lab.popen(
            None,
            [
                "nbdkit",
                "-f",
                "-U",
                str(kit_sock),
                "python",
                str(plugin),
                f"iflist={here.ifname}",
                "device=e1.2",
            ],
            env=env,
        )
        own_uri = f"nbd+unix:///e1.2?socket={own_sock}"
        kit_uri = f"nbd+unix:///?socket={kit_sock}"
        for uri in (own_uri, kit_uri):
            deadline = time.monotonic() + 30
            while subprocess.run(["nbdinfo", "--size", uri], capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{uri} never came up")
                time.sleep(0.2)
        figures: dict[str, list[float]] = {"api": [], "pyaoe nbd": [], "nbdkit plugin": []}
        for i in range(a.rounds):
            ways = [
                ("api", lambda: api_read(here.ifname, size)),
                ("pyaoe nbd", lambda: nbdcopy_read(own_uri, size)),
                ("nbdkit plugin", lambda: nbdcopy_read(kit_uri, size)),
            ]
            if i % 2:
                ways.reverse()
            for name, run in ways:
                figures[name].append(run())
            print(
                f"round {i + 1}: " + ", ".join(f"{n} {v[-1]:.1f} MB/s" for n, v in figures.items()),
                flush=True,
            )
        medians = {n: statistics.median(v) for n, v in figures.items()}
        print("median: " + ", ".join(f"{n} {m:.1f} MB/s" for n, m in medians.items()))
        for name in ("pyaoe nbd", "nbdkit plugin"):
            ratios = [x / y for x, y in zip(figures[name], figures["api"], strict=True)]
            print(f"{name} / api: median of paired ratios {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
