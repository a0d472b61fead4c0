"""pyaoe.bench.initiator: the pyaoe initiator's rows: through its library API (a process running
pyaoe.bench.initiator_load) and through its FUSE file (`pyaoe initiator` + fio with direct I/O).

Each kind says why it is "not available" until the initiator exists; the runner measures the
rest exactly like the target rows (same workloads, same CPU/RSS reading).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pyaoe.bench import initiator_load
from pyaoe.bench.load import LoadError
from pyaoe.bench.plan import Workload
from pyaoe.lab.netns import Lab

__all__ = [
    "API_KIND",
    "FUSE_KIND",
    "api_unavailable_reason",
    "api_argv",
    "fuse_unavailable_reason",
    "fuse_initiator_argv",
    "fuse_initiator",
    "FuseInitiator",
    "wait_for_device",
    "fio_argv",
    "parse_fio",
]

API_KIND = "initiator-api"
FUSE_KIND = "initiator-fuse"


def api_unavailable_reason() -> str | None:
    return initiator_load.unavailable_reason()


def api_argv(
    ifname: str, shelf: int, slot: int, workload: Workload, io_bytes: int, seconds: float, warmup: float
) -> list[str]:
    return [
        sys.executable, "-m", "pyaoe.bench.initiator_load", "-i", ifname, "-e", f"{shelf}.{slot}",
        "-m", workload.mode, "-p", workload.pattern, "-b", str(io_bytes), "-q", str(workload.queue_depth),
        "-t", f"{seconds:g}", "-w", f"{warmup:g}",
    ]  # fmt: skip


def fuse_unavailable_reason() -> str | None:
    """None when `pyaoe initiator`, fio and /dev/fuse are all there."""
    probe = subprocess.run(
        [sys.executable, "-m", "pyaoe", "initiator", "--help"], capture_output=True, text=True, timeout=60
    )
    if probe.returncode != 0:
        return "`pyaoe initiator` does not exist yet"
    if shutil.which("fio") is None:
        return "fio is not installed (scripts/setup.sh installs it)"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing"
    return None


def fuse_initiator_argv(root: str, ifname: str) -> list[str]:
    """The FUSE initiator's command line, as its tree contract gives it (--root DIR --iflist IF)."""
    return [
        sys.executable,
        "-m",
        "pyaoe",
        "initiator",
        "--root",
        root,
        "--iflist",
        ifname,
        "--control-socket",
        "none",
    ]


@dataclass
class FuseInitiator:
    """A running `pyaoe initiator` and the device file it serves."""

    proc: subprocess.Popen[Any]
    device: Path
    log_file: IO[str]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return _tail(self.log_file)


def _tail(log_file: IO[str]) -> str:
    log_file.flush()
    log_file.seek(0)
    return " | ".join(log_file.read().strip().splitlines()[-5:])


@contextlib.contextmanager
def fuse_initiator(
    lab: Lab, netns: str, cpu: int, ifname: str, shelf: int, slot: int
) -> Iterator[FuseInitiator]:
    """`pyaoe initiator` on ``ifname`` (network namespace only: its FUSE mount is visible here),
    pinned to ``cpu``, until its eS.L file appears; unmounted and stopped afterwards."""
    root = tempfile.mkdtemp(prefix="pyaoe-bench-fuse-")
    log_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
    argv = ["taskset", "-c", str(cpu), *fuse_initiator_argv(root, ifname)]
    proc = lab.popen(netns, argv, stdout=log_file, stderr=subprocess.STDOUT, text=True)
    try:
        try:
            device = wait_for_device(root, shelf, slot, lambda: proc.poll() is None)
        except LoadError as exc:
            raise LoadError(f"{exc}: {_tail(log_file)}") from None
        yield FuseInitiator(proc, device, log_file)
    finally:
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        subprocess.run(["fusermount3", "-u", "-z", root], capture_output=True)
        with contextlib.suppress(OSError):
            os.rmdir(root)  # never a recursive delete: it could walk a mount that is still there
        log_file.close()


def wait_for_device(root: str, shelf: int, slot: int, alive: Any, deadline: float = 20.0) -> Path:
    """ROOT/etherd/eS.L once the initiator has found the target (asking for discovery meanwhile)."""
    etherd = Path(root) / "etherd"
    device = etherd / f"e{shelf}.{slot}"
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not alive():
            raise LoadError("the pyaoe initiator exited before the device appeared")
        if device.exists():
            return device
        if (etherd / "discover").exists():
            with contextlib.suppress(OSError):
                (etherd / "discover").write_text("\n")
        time.sleep(0.1)  # a FUSE tree has no change notification to wait on
    raise LoadError(f"{device} did not appear within {deadline:.0f} s")


_FIO_RW = {
    ("read", "seq"): "read",
    ("write", "seq"): "write",
    ("read", "rand"): "randread",
    ("write", "rand"): "randwrite",
}


def fio_argv(device: Path, workload: Workload, io_bytes: int, size: int, seconds: float) -> list[str]:
    """fio with direct I/O on the FUSE file; libaio keeps the queue depth. No ramp time, so the
    bytes it reports are the bytes moved while the initiator's CPU was being counted."""
    return [
        "fio", "--name=pyaoe-bench", f"--filename={device}", "--direct=1",
        f"--rw={_FIO_RW[(workload.mode, workload.pattern)]}", f"--bs={io_bytes}", f"--size={size}",
        "--ioengine=libaio", f"--iodepth={workload.queue_depth}",
        f"--runtime={max(1, round(seconds * 1000))}ms", "--time_based",
        "--randrepeat=0", "--norandommap", "--output-format=json",
    ]  # fmt: skip


def parse_fio(stdout: str, mode: str) -> dict[str, float]:
    """iops, mbps, p50/p99 completion latency (µs), errors and bytes of fio's JSON report."""
    try:
        job = json.loads(stdout[stdout.index("{") :])["jobs"][0]
        side = job[mode]
        pct = side["clat_ns"].get("percentile", {})
        return {
            "iops": float(side["iops"]),
            "mbps": float(side["bw_bytes"]) / 1e6,
            "p50_us": float(pct.get("50.000000", 0)) / 1e3,
            "p99_us": float(pct.get("99.000000", 0)) / 1e3,
            "errors": float(job.get("error", 0)),
            "bytes": float(side["io_bytes"]),
        }
    except (ValueError, KeyError, IndexError) as exc:
        raise LoadError(f"fio printed no usable report: {exc}") from None
