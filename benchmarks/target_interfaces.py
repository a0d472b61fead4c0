"""A pyaoe target serving one export on one or on several interfaces, under aoeblast.

Run: .venv/bin/python benchmarks/target_interfaces.py [--interfaces 2] [--mode read|write] [--seconds 4]
The target (CPU 0) listens on N veth pairs; aoeblast (CPU 1) loads the first, one frame of 2
sectors per request, 16 in flight, MTU 1500. Prints aoeblast's line. With one interface the
target runs its single-port loop; with more, its poll loop (which used to answer one frame per
system call). Needs root.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyaoe.bench.tools import build_tools
from pyaoe.lab.netns import Lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interfaces", type=int, default=2)
    parser.add_argument("--mode", choices=("read", "write"), default="read")
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    tools = build_tools()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        disk = Path(tmp) / "disk.img"
        with open(disk, "wb") as f:
            f.truncate(256 << 20)
        there, here = lab.netns(), lab.netns()
        links = [lab.veth(there, here, mtu=1500) for _ in range(args.interfaces)]
        netifs = ",".join(t.ifname for t, _h in links)
        command = ["taskset", "-c", "0", sys.executable, "-m", "pyaoe", "target", "1", "2", netifs, str(disk)]
        target = lab.popen(there, command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert target.stdout is not None
            target.stdout.readline()  # "pid N: e1.2, ... sectors": serving
            time.sleep(0.3)
            load = [
                str(tools.aoeblast),
                links[0][1].ifname,
                "1",
                "2",
                args.mode,
                "seq",
                "2",
                "16",
                str(args.seconds),
            ]
            result = lab.run(here, ["taskset", "-c", "1", *load])
            line = result.stdout.strip() or result.stderr.strip()
            print(f"{args.interfaces} interface(s), {args.mode}: {line}")
        finally:
            target.kill()
            target.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
