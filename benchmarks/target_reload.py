"""Live reloads under load: `pyaoe target --config` reloaded N times while aoeblast reads from an
export the reloads never touch.

Run: .venv/bin/python benchmarks/target_reload.py [--reloads 100] [--sighup]
Each reload adds one export (eS.N) to the file, removes the previous one and changes another
export's config string, then `pyaoe ctl reload` (or SIGHUP) applies it. Measured: aoeblast's
errors and retransmits on the unchanged export (the goal: 0 and 0), its rate, how long each reload
took, and how long after the reload began Debian's aoeping got an answer from the added export
(goal: under 1 s). Target on CPU 0, aoeblast on CPU 1, MTU 1500. Needs root.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyaoe.bench.tools import build_tools
from pyaoe.lab.netns import Lab

AOEPING = "/usr/sbin/aoeping"


def table(shelf: int, slot: int, disk: Path, **keys: str) -> str:
    extra = "".join(f'{k} = "{v}"\n' for k, v in keys.items())
    return f'[[export]]\nshelf = {shelf}\nslot = {slot}\nfile = "{disk}"\n{extra}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=100)
    parser.add_argument(
        "--sighup", action="store_true", help="reload with SIGHUP instead of pyaoe ctl reload"
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="the same run without reloads (pyaoe ctl list instead, aoeping to an existing export): "
        "what the machine alone costs",
    )
    args = parser.parse_args()
    tools = build_tools()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Lab() as lab:
        work = Path(tmp)
        steady, other, added = work / "steady.img", work / "other.img", work / "added.img"
        for path, size in ((steady, 256 << 20), (other, 16 << 20), (added, 16 << 20)):
            with open(path, "wb") as f:
                f.truncate(size)
        with open(steady, "r+b") as f:  # real data, not holes: reads go through the page cache
            f.write(os.urandom(1 << 20) * 256)
        tns, ins = lab.netns("rlt"), lab.netns("rli")
        there, here = lab.veth(tns, ins, mtu=1500)
        config, sock = work / "target.toml", work / "target.sock"
        head = f'[defaults]\nnetif = "{there.ifname}"\n\n' + table(1, 1, steady) + table(3, 0, other)
        config.write_text(head)
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
        target = lab.popen(
            tns, ["taskset", "-c", "0", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert target.stdout is not None
        target.stdout.readline()
        target.stdout.readline()
        # Long enough for every reload, then some: aoeblast stops by itself.
        seconds = max(20, args.reloads // 2 + 10)
        load = [str(tools.aoeblast), here.ifname, "1", "1", "read", "seq", "2", "16", str(seconds)]
        blast = lab.popen(
            ins, ["taskset", "-c", "1", *load], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(1.0)  # aoeblast's discovery and IDENTIFY
        reload_s: list[float] = []
        answer_s: list[float] = []
        failures = 0
        for i in range(args.reloads):
            slot = i % 200
            config.write_text(
                head.replace("slot = 0\n", f'slot = 0\nconfig_string = "round {i}"\n', 1)
                + table(2, slot, added)
            )
            start = time.monotonic()
            if args.control:
                subprocess.run(
                    [sys.executable, "-m", "pyaoe", "ctl", "--socket", str(sock), "list"],
                    capture_output=True,
                    timeout=60,
                )
                reloaded = True
                slot = 0
            elif args.sighup:
                os.kill(target.pid, signal.SIGHUP)
                reloaded = True
            else:
                done = subprocess.run(
                    [sys.executable, "-m", "pyaoe", "ctl", "--socket", str(sock), "reload"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                reloaded = done.returncode == 0
                if not reloaded:
                    print(f"reload {i}: {done.stderr.strip()}")
            reload_s.append(time.monotonic() - start)
            shelf = 3 if args.control else 2
            # aoeping sends its query once: after a SIGHUP (the reload runs later, in the loop)
            # one sent too early is never answered, so ask again, for up to 3 s in all.
            for _try in range(3 if args.sighup else 1):
                ping = lab.run(
                    ins, [AOEPING, "-s", "1" if args.sighup else "2", str(shelf), str(slot), here.ifname]
                )
                if ping.returncode == 0:
                    break
            if ping.returncode == 0 and reloaded:
                answer_s.append(time.monotonic() - start)
            else:
                failures += 1
        out, err = blast.communicate(timeout=seconds + 60)
        target.send_signal(signal.SIGTERM)
        _out, log = target.communicate(timeout=30)
        inside = [float(m) for m in re.findall(r"reloaded \S+ in ([\d.]+) ms", log)]
        how = "none (control run)" if args.control else "SIGHUP" if args.sighup else "pyaoe ctl reload"
        print(f"{args.reloads} rounds, reloads: {how}; aoeblast on e1.1:")
        if inside:
            median, most = statistics.median(inside), max(inside)
            print(f"  reload inside the loop: median {median:.1f} ms, max {most:.1f} ms")
        print(f"  aoeblast: {out.strip() or err.strip()}")
        print(
            f"  reload (ctl round trip): median {statistics.median(reload_s) * 1000:.0f} ms, "
            f"max {max(reload_s) * 1000:.0f} ms"
        )
        if answer_s:
            print(
                f"  added export answered aoeping: median {statistics.median(answer_s) * 1000:.0f} ms, "
                f"max {max(answer_s) * 1000:.0f} ms after the reload began; {failures} never answered"
            )
        else:
            print(f"  added export never answered ({failures} tries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
