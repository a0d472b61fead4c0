"""pyaoe.bench.nbd: the NBD and copy rows of `pyaoe bench`, each a pair measured in alternating rounds:

- nbd-target/seq-read, seq-write, rand-read-qd32: pyaoe's target on an NBD URI (qemu-nbd
  serving the backing file) against the same target on the file itself, both under aoeload (goal: >= 0.5x);
- nbd-gateway/nbdcopy-read: nbdcopy reading an AoE device through `pyaoe nbd` against the
  initiator library's API reading it (1 MiB, 16 in flight) (goal: >= 0.8x);
- copy/file-to-aoe: `pyaoe copy FILE aoe:eX.Y` against the API's sequential write (goal: >= 0.9x).
"""

from __future__ import annotations

import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyaoe.bench import initiator as ini
from pyaoe.bench.load import LoadError, aoeload_argv, parse_aoeload, run_generator
from pyaoe.bench.peers import VBLADE, PeerError, RunningTarget, start_target, target_argv
from pyaoe.bench.plan import BenchOptions, Workload, workloads_named
from pyaoe.bench.runner import make_backing_file
from pyaoe.bench.tools import BenchTools
from pyaoe.lab.netns import Lab, Link
from pyaoe.lab.procs import read_lines

__all__ = ["NBD_ROWS", "NbdRow", "nbd_unavailable_reason", "run_nbd_rows", "format_nbd_table"]

log = logging.getLogger(__name__)

#: (row id, what pyaoe runs, what it is compared with, the issue's goal for the ratio).
NBD_ROWS: tuple[tuple[str, str, str, float], ...] = (
    ("nbd-target/seq-read", "pyaoe target on nbd+unix:// (qemu-nbd, raw)", "pyaoe target on the file", 0.5),
    ("nbd-target/seq-write", "pyaoe target on nbd+unix:// (qemu-nbd, raw)", "pyaoe target on the file", 0.5),
    (
        "nbd-target/rand-read-qd32",
        "pyaoe target on nbd+unix:// (qemu-nbd, raw)",
        "pyaoe target on the file",
        0.5,
    ),
    ("nbd-gateway/nbdcopy-read", "nbdcopy through pyaoe nbd", "initiator API, 1 MiB x 16", 0.8),
    ("copy/file-to-aoe", "pyaoe copy FILE aoe:eX.Y", "initiator API seq write, 1 MiB x 8", 0.9),
)
_TOOLS = ("qemu-nbd", "nbdcopy", "nbdinfo")
_COPY_RATE = re.compile(r"\(([\d.]+) MB/s\)")
SHELF, SLOT = 1, 1


def nbd_unavailable_reason() -> str | None:
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} missing (Debian's qemu-utils and libnbd-bin; scripts/setup.sh)"
    return None


@dataclass
class NbdRow:
    id: str
    what: str
    reference_name: str
    goal: float
    #: MB/s per round, pyaoe's way and the reference, in the order measured.
    pyaoe: list[float] = field(default_factory=list)
    reference: list[float] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        ratios = [a / b for a, b in zip(self.pyaoe, self.reference, strict=False) if b]
        return {
            "id": self.id,
            "kind": "nbd",
            "what": self.what,
            "reference_name": self.reference_name,
            "goal_ratio": self.goal,
            "status": "error" if self.error else ("ok" if ratios else "error"),
            "reason": self.error,
            "pyaoe_mbps": statistics.median(self.pyaoe) if self.pyaoe else None,
            "reference_mbps": statistics.median(self.reference) if self.reference else None,
            # The median of the rounds' own ratios: a pair shares the machine's load of the moment.
            "ratio": statistics.median(ratios) if ratios else None,
            "rounds": {"pyaoe": self.pyaoe, "reference": self.reference},
        }


@dataclass
class _Bench:
    options: BenchOptions
    tools: BenchTools
    lab: Lab
    tns: str
    ins: str
    tlink: Link
    ilink: Link
    backing: Path
    workdir: Path

    def timeout(self) -> float:
        return self.options.seconds + self.options.warmup + 120

    def probe(self) -> bool:
        argv = [str(self.tools.aoeload), "-i", self.ilink.ifname, "-e", f"{SHELF}.{SLOT}", "-t", "0"]
        try:
            parse_aoeload(run_generator(self.lab, self.ins, self.options.generator_cpu, argv, timeout=30))
        except LoadError:
            return False
        return True

    def target(self, kind: str, path: str) -> RunningTarget:
        o = self.options
        argv = target_argv(
            kind, tools=self.tools, ifname=self.tlink.ifname, shelf=SHELF, slot=SLOT, path=path,
            file_bytes=o.file_bytes, direct=False, bufcnt=o.bufcnt,
        )  # fmt: skip
        return start_target(self.lab, self.tns, argv, kind, o.target_cpu, self.probe)

    def aoeload(self, workload: Workload) -> float:
        o = self.options
        argv = aoeload_argv(
            str(self.tools.aoeload), self.ilink.ifname, SHELF, SLOT, workload, o.seconds, o.warmup, o.rto_ms
        )
        return float(
            parse_aoeload(run_generator(self.lab, self.ins, o.generator_cpu, argv, self.timeout()))["mbps"]
        )

    def api(self, mode: str, queue_depth: int) -> float:
        o = self.options
        w = Workload(f"api-{mode}", mode, "seq", 1 << 20, queue_depth)
        argv = ini.api_argv(self.ilink.ifname, SHELF, SLOT, w, 1 << 20, o.seconds, o.warmup)
        return float(
            parse_aoeload(run_generator(self.lab, self.ins, o.generator_cpu, argv, self.timeout()))["mbps"]
        )

    def command(self, argv: list[str]) -> str:
        usage = run_generator(self.lab, self.ins, self.options.generator_cpu, argv, self.timeout())
        if usage.returncode != 0:
            raise LoadError(f"{argv[0]} exited {usage.returncode}: {usage.stderr.strip()[-300:]}")
        return usage.stdout


def _rounds(bench: _Bench, row: NbdRow, ours: Callable[[], float], theirs: Callable[[], float]) -> None:
    for rnd in range(bench.options.rounds):
        order = [(row.pyaoe, ours), (row.reference, theirs)]
        if rnd % 2:
            order.reverse()
        for figures, measure in order:
            figures.append(measure())
        log.info(
            "%s round %d: pyaoe %.1f MB/s, reference %.1f MB/s",
            row.id,
            rnd + 1,
            row.pyaoe[-1],
            row.reference[-1],
        )


def _target_rows(bench: _Bench, rows: dict[str, NbdRow]) -> None:
    sock = bench.workdir / "qemu-nbd.sock"
    qemu = bench.lab.popen(
        None, ["qemu-nbd", "-t", "-f", "raw", "-x", "disk", "-k", str(sock), str(bench.backing)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_nbd(f"nbd+unix:///disk?socket={sock}", qemu)
    sources = {"nbd": f"nbd+unix:///disk?socket={sock}", "file": str(bench.backing)}
    for workload in workloads_named(["seq-read", "seq-write", "rand-read-qd32"]):
        row = rows[f"nbd-target/{workload.name}"]

        def one(source: str, workload: Workload = workload) -> float:
            target = bench.target("pyaoe", sources[source])
            try:
                return bench.aoeload(workload)
            finally:
                target.stop()

        try:
            _rounds(bench, row, lambda: one("nbd"), lambda: one("file"))
        except (LoadError, PeerError, OSError) as exc:
            row.error = str(exc)
    qemu.terminate()
    qemu.wait(10)


def _initiator_rows(bench: _Bench, rows: dict[str, NbdRow], device_bytes: int) -> None:
    """The gateway and copy rows, against Debian's vblade serving the first ``device_bytes``."""
    argv = [VBLADE, "-b", str(bench.options.bufcnt), "-l", str(device_bytes // 512)]
    argv += [str(SHELF), str(SLOT), bench.tlink.ifname, str(bench.backing)]
    target = start_target(bench.lab, bench.tns, argv, "vblade", bench.options.target_cpu, bench.probe)
    sock = bench.workdir / "pyaoe-nbd.sock"
    server = bench.lab.popen(
        bench.ins,
        ["taskset", "-c", str(bench.options.generator_cpu), sys.executable, "-m", "pyaoe", "nbd",
         "--iflist", bench.ilink.ifname, "--socket", str(sock)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        read_lines(server, 1, time.monotonic() + 30)
        uri = f"nbd+unix:///e{SHELF}.{SLOT}?socket={sock}"
        _wait_nbd(uri, server)
        row = rows["nbd-gateway/nbdcopy-read"]

        def nbdcopy() -> float:
            start = time.monotonic()
            bench.command(["nbdcopy", uri, "null:"])
            return device_bytes / (time.monotonic() - start) / 1e6

        try:
            _rounds(bench, row, nbdcopy, lambda: bench.api("read", 16))
        except (LoadError, OSError) as exc:
            row.error = str(exc)
        server.terminate()
        server.wait(15)
        image = bench.workdir / "copy-source.img"
        with open(bench.backing, "rb") as src, open(image, "wb") as out:
            out.write(src.read(device_bytes))
        row = rows["copy/file-to-aoe"]

        def copy() -> float:
            out = bench.command(
                [sys.executable, "-m", "pyaoe", "copy", "-q", "--iflist", bench.ilink.ifname,
                 str(image), f"aoe:e{SHELF}.{SLOT}"]
            )  # fmt: skip
            match = _COPY_RATE.search(out)
            if match is None:
                raise LoadError(f"pyaoe copy printed no rate: {out.strip()[-200:]}")
            return float(match[1])

        try:
            _rounds(bench, row, copy, lambda: bench.api("write", 8))
        except (LoadError, OSError) as exc:
            row.error = str(exc)
    finally:
        if server.poll() is None:
            server.kill()
        target.stop()


def _wait_nbd(uri: str, proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(["nbdinfo", "--size", uri], capture_output=True, timeout=timeout).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise PeerError(f"{uri} did not answer")
        time.sleep(0.1)


def run_nbd_rows(options: BenchOptions, tools: BenchTools) -> list[dict[str, Any]]:
    """Measure the NBD and copy rows in namespaces of their own, on a backing file of their own
    (at most 256 MiB: nbdcopy and pyaoe copy move a whole device), at the run's first MTU."""
    rows = {rid: NbdRow(rid, what, ref, goal) for rid, what, ref, goal in NBD_ROWS}
    reason = nbd_unavailable_reason()
    if reason is not None:
        return [{**row.as_dict(), "status": "not available", "reason": reason} for row in rows.values()]
    size = min(options.file_bytes, 256 << 20)
    workdir = Path(tempfile.mkdtemp(prefix="pyaoe-bench-nbd-", dir=options.workdir or "/var/tmp"))
    try:
        with Lab() as lab:
            backing = workdir / "backing.img"
            make_backing_file(backing, size)
            tns, ins = lab.netns("bnbdt"), lab.netns("bnbdi")
            tlink, ilink = lab.veth(tns, ins, mtu=options.mtus[0] if options.mtus else 1500)
            bench = _Bench(options, tools, lab, tns, ins, tlink, ilink, backing, workdir)
            for measure in (_target_rows, lambda b, r: _initiator_rows(b, r, size)):
                try:
                    measure(bench, rows)
                except (PeerError, LoadError, OSError) as exc:
                    for row in rows.values():
                        if not row.pyaoe and row.error is None:
                            row.error = str(exc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return [row.as_dict() for row in rows.values()]


def format_nbd_table(rows: list[dict[str, Any]]) -> str:
    lines = ["", "NBD and copy rows (MB/s, medians; ratio: median of the paired rounds' ratios)"]
    lines.append(f"{'row':<28} {'pyaoe':>8} {'ref':>8} {'ratio':>6} {'goal':>5}  pyaoe vs reference")
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"{r['id']:<28} {r['status']}: {r['reason']}")
            continue
        lines.append(
            f"{r['id']:<28} {r['pyaoe_mbps']:>8.1f} {r['reference_mbps']:>8.1f} {r['ratio']:>6.2f} "
            f"{r['goal_ratio']:>5.1f}  {r['what']} vs {r['reference_name']}"
        )
    return "\n".join(lines)
