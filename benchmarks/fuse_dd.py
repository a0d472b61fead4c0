"""Throughput of `pyaoe initiator`'s device files: dd with 1 MiB blocks and O_DIRECT, against
pyaoe's target and Debian's vblade over a veth pair (target in a namespace, file in /dev/shm),
and the same through the initiator service's API with no FUSE in the way (same I/O pattern:
one 1 MiB request at a time). Needs root.

Run: .venv/bin/python benchmarks/fuse_dd.py [--mtu 1500] [--size 256] [--rounds 3] [--fake]
--fake measures the file system alone, over an in-memory fake initiator (no network).
Prints MB/s (10^6 bytes) per round and the median.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pyaoe.initiator import InitiatorConfig
from pyaoe.lab.netns import Lab
from pyaoe.service.initiator import Initiator
from support.initiator_daemon import running_initiator, wait_for
from support.target import VBLADE, start_target

MiB = 1 << 20
TARGETS = {"pyaoe": VBLADE, "vblade": ("/usr/sbin/vblade",)}


def dd(args: list[str]) -> float:
    """MB/s as dd reports it."""
    out = subprocess.run(["dd", *args], capture_output=True, text=True, check=True).stderr
    seconds = float(re.search(r"copied, ([0-9.]+) s", out).group(1))  # type: ignore[union-attr]
    copied = int(out.split(" bytes", 1)[0].rsplit("\n", 1)[-1])
    return copied / seconds / 1e6


def dd_rounds(device: Path, count: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"read": [], "write": []}
    for _ in range(rounds):
        results["write"].append(
            dd(["if=/dev/zero", f"of={device}", "bs=1M", f"count={count}", "oflag=direct", "conv=notrunc"])
        )
        results["read"].append(
            dd([f"if={device}", "of=/dev/null", "bs=1M", f"count={count}", "iflag=direct"])
        )
    return results


def api_rounds(ifname: str, name: str, count: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"read": [], "write": []}
    block = bytes(MiB)
    with Initiator(InitiatorConfig(iflist=(ifname,))) as ini:
        ini.wait_for_device(name, 15)
        for _ in range(rounds):
            for kind, op in (
                ("write", lambda off: ini.write(name, off, block)),
                ("read", lambda off: ini.read(name, off, MiB)),
            ):
                start = time.perf_counter()
                for i in range(count):
                    op(i * MiB)
                results[kind].append(count * MiB / (time.perf_counter() - start) / 1e6)
    return results


def show(label: str, results: dict[str, list[float]]) -> None:
    for kind, values in results.items():
        rounds = " ".join(f"{v:7.1f}" for v in values)
        print(f"{label:<28} {kind:<5} median {statistics.median(values):7.1f} MB/s   rounds: {rounds}")


def network(mtu: int, size: int, rounds: int) -> None:
    for kind, command in TARGETS.items():
        disk = Path(f"/dev/shm/fuse-dd-{os.getpid()}.img")
        with disk.open("wb") as f:
            f.truncate(size * MiB)
        try:
            with Lab() as lab:
                ns = lab.netns("ddb")
                here, there = lab.veth(None, ns, mtu=mtu)
                with start_target(
                    lab, there, ["1", "2", there.ifname, str(disk)], listen=here, command=command
                ):
                    with running_initiator(lab, here.ifname) as daemon:
                        device = daemon.etherd / "e1.2"
                        wait_for(device.exists, 15, "the device")
                        payload = daemon.attr("e1.2", "payload").strip()
                        show(f"{kind} MTU {mtu} ({payload} B) FUSE dd", dd_rounds(device, size, rounds))
                    show(f"{kind} MTU {mtu} service API", api_rounds(here.ifname, "e1.2", size, rounds))
        finally:
            disk.unlink(missing_ok=True)


def fake(size: int, rounds: int) -> None:
    from support.fake_initiator import FakeInitiator
    from support.fuse_mount import mounted_tree

    ini = FakeInitiator()
    root = Path(f"/run/aoe-ddb{os.getpid()}")
    try:
        with mounted_tree(ini, root) as tree:
            ini.add_device("e1.2", size * MiB)
            wait_for((tree.etherd / "e1.2").exists, 5, "the device")
            show("fake initiator, FUSE dd", dd_rounds(tree.etherd / "e1.2", size, rounds))
    finally:
        ini.close()
        if root.is_dir() and not os.path.ismount(root):
            root.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument("--size", type=int, default=256, help="MiB per dd run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fake", action="store_true", help="the file system alone, over a fake initiator")
    args = parser.parse_args()
    run: Callable[[], None] = (
        (lambda: fake(args.size, args.rounds))
        if args.fake
        else (lambda: network(args.mtu, args.size, args.rounds))
    )
    run()


if __name__ == "__main__":
    main()
