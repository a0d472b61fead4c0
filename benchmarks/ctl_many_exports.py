"""`pyaoe ctl` against a target serving many exports: how long `stats`, `stats --json`, `list` and
a reload that changes nothing take, as a user waits for them (process start included).

Run: .venv/bin/python benchmarks/ctl_many_exports.py [--exports 1000] [--repeat 5]
The exports are windows of one sparse file, on one veth interface. Prints medians and maxima.
Needs root.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyaoe.lab.netns import Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        work = Path(tmp)
        disk = work / "disk.img"
        with open(disk, "wb") as f:
            f.truncate(args.exports << 20)
        tns = lab.netns("ctm")
        there, _here = lab.veth(tns, None)
        tables = [
            f"[[export]]\nshelf = {i // 255}\nslot = {i % 255}\noffset = {i * 2048}\nlength = 2048\n"
            for i in range(args.exports)
        ]
        config, sock = work / "target.toml", work / "target.sock"
        config.write_text(f'[defaults]\nnetif = "{there.ifname}"\nfile = "{disk}"\n\n' + "".join(tables))
        command = [
            sys.executable,
            "-m",
            "pyaoe",
            "target",
            "--config",
            str(config),
            "--control-socket",
            str(sock),
        ]
        start = time.monotonic()
        target = lab.popen(tns, command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert target.stdout is not None
        for _ in range(args.exports):
            target.stdout.readline()
        print(f"{args.exports} exports up in {time.monotonic() - start:.2f} s")
        ctl = [sys.executable, "-m", "pyaoe", "ctl", "--socket", str(sock)]
        for verb in (["stats"], ["--json", "stats"], ["list"], ["stats", "e3.7"], ["reload"]):
            times = []
            for _ in range(args.repeat):
                t0 = time.monotonic()
                done = subprocess.run([*ctl, *verb], capture_output=True, text=True, timeout=60)
                times.append(time.monotonic() - t0)
                assert done.returncode == 0, done.stderr
            lines = len(done.stdout.splitlines())
            print(
                f"pyaoe ctl {' '.join(verb):<12} median {statistics.median(times) * 1000:5.0f} ms, "
                f"max {max(times) * 1000:5.0f} ms ({lines} lines)"
            )
        target.send_signal(signal.SIGTERM)
        target.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
