"""`pyaoe ctl` against a target serving many exports, or (--initiator) against `pyaoe initiator`
holding them as devices: how long each verb takes as a user waits for it (process start
included); for the initiator also the control socket's round trip alone and a /metrics scrape.

Run: .venv/bin/python benchmarks/ctl_many_exports.py [--exports 1000] [--repeat 5]
     .venv/bin/python benchmarks/ctl_many_exports.py --exports 40 --initiator
The exports are windows of one sparse file, on one veth interface; the initiator mounts its tree
in a temporary directory. Prints medians and maxima. Needs root.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from pyaoe.bench.peers import METRICS_PORT
from pyaoe.lab.netns import Lab, Link
from pyaoe.service.control import request

PYAOE = (sys.executable, "-m", "pyaoe")


def timed(what: str, call: Callable[[], object], repeat: int, scale: float = 1000.0) -> object:
    """Run ``call`` ``repeat`` times; print the median and the maximum (ms); the last result."""
    times = []
    result: object = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    print(f"{what:<34} median {statistics.median(times) * scale:6.1f} ms, max {max(times) * scale:6.1f} ms")
    return result


def ctl_verbs(ctl: Sequence[str], label: str, verbs: Sequence[Sequence[str]], repeat: int) -> None:
    """Time `pyaoe ctl` (``ctl``: its command line to the socket) with each verb."""
    for verb in verbs:

        def run(verb: Sequence[str] = verb) -> subprocess.CompletedProcess[str]:
            done = subprocess.run([*ctl, *verb], capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            return done

        done = timed(f"{label} {' '.join(verb)}", run, repeat)
        assert isinstance(done, subprocess.CompletedProcess)
        print(f"{'':<34} ({len(done.stdout.splitlines())} lines)")


def initiator_side(lab: Lab, here: Link, work: Path, exports: int, repeat: int, one: str) -> None:
    root, sock = work / "aoe", work / "initiator.sock"
    argv = [*PYAOE, "initiator", "--root", str(root), "--iflist", here.ifname, "--control-socket", str(sock)]
    initiator = lab.popen(None, [*argv, "--metrics", f"127.0.0.1:{METRICS_PORT}"], stderr=subprocess.DEVNULL)
    ctl = [*PYAOE, "ctl", "--initiator", "--socket", str(sock)]
    try:
        start = time.monotonic()
        while True:
            done = subprocess.run([*ctl, "--json", "list"], capture_output=True, text=True, timeout=60)
            listed = json.loads(done.stdout) if done.returncode == 0 else []
            if sum(d["state"] == "up" for d in listed) == exports:
                break
            if time.monotonic() - start > 120:
                raise SystemExit(f"only {len(listed)} devices after 120 s: {done.stderr}")
            time.sleep(0.5)
        print(f"{exports} devices up in {time.monotonic() - start:.1f} s")
        ctl_verbs(
            ctl,
            "pyaoe ctl --initiator",
            (["stats"], ["--json", "stats"], ["list"], ["stats", one]),
            repeat,
        )
        timed("the socket round trip of stats", lambda: request(str(sock), "stats", {}), repeat * 4)
        url = f"http://127.0.0.1:{METRICS_PORT}/metrics"

        def scrape() -> int:
            with urllib.request.urlopen(url, timeout=10) as response:
                return len(response.read())

        size = timed("a scrape of /metrics", scrape, repeat * 4)
        print(f"{'':<34} ({size:,} bytes)")
    finally:
        initiator.send_signal(signal.SIGTERM)
        initiator.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--initiator", action="store_true", help="time pyaoe ctl --initiator instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        work = Path(tmp)
        disk = work / "disk.img"
        with open(disk, "wb") as f:
            f.truncate(args.exports << 20)
        tns = lab.netns("ctm")
        there, here = lab.veth(tns, None)
        tables = [
            f"[[export]]\nshelf = {i // 255}\nslot = {i % 255}\noffset = {i * 2048}\nlength = 2048\n"
            for i in range(args.exports)
        ]
        config, sock = work / "target.toml", work / "target.sock"
        config.write_text(f'[defaults]\nnetif = "{there.ifname}"\nfile = "{disk}"\n\n' + "".join(tables))
        command = [*PYAOE, "target", "--config", str(config), "--control-socket", str(sock)]
        start = time.monotonic()
        target = lab.popen(tns, command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert target.stdout is not None
        for _ in range(args.exports):
            target.stdout.readline()
        print(f"{args.exports} exports up in {time.monotonic() - start:.2f} s")
        # One export in detail: e3.7 when there are that many, else the last.
        k = min(3 * 255 + 7, args.exports - 1)
        one = f"e{k // 255}.{k % 255}"
        if args.initiator:
            initiator_side(lab, here, work, args.exports, args.repeat, one)
        else:
            verbs = (["stats"], ["--json", "stats"], ["list"], ["stats", one], ["reload"])
            ctl_verbs([*PYAOE, "ctl", "--socket", str(sock)], "pyaoe ctl", verbs, args.repeat)
        target.send_signal(signal.SIGTERM)
        target.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
