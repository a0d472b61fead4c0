"""pyaoe.bench.load: one measured run of a load generator against a running target, and the
figures it yields (a Sample): rate, latency, CPU per GB and peak RSS of both processes.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pyaoe.bench.plan import Workload
from pyaoe.bench.procstat import ExitUsage, wait_with_usage
from pyaoe.lab.netns import Lab

__all__ = ["LoadError", "Sample", "METRICS", "aoeload_argv", "aoeblast_argv", "run_generator", "sample_from"]

#: Figures of a row, each a median over rounds; ratios are pyaoe / reference.
METRICS = (
    "mbps",
    "iops",
    "p50_us",
    "p99_us",
    "target_cpu_s_per_gb",
    "initiator_cpu_s_per_gb",
    "target_rss_mib",
    "initiator_rss_mib",
    "retransmits",
    "errors",
)


class LoadError(RuntimeError):
    """A generator failed (no answer from the target, bad output)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One run's figures. ``initiator_*`` is the process that made the load (aoeload, aoeblast,
    the pyaoe initiator); p50/p99 are None when the generator does not measure latency."""

    mbps: float
    iops: float
    p50_us: float | None
    p99_us: float | None
    target_cpu_s_per_gb: float | None
    initiator_cpu_s_per_gb: float | None
    target_rss_mib: float | None
    initiator_rss_mib: float | None
    retransmits: int
    errors: int
    #: Share of one CPU each side used while the load ran (100: saturated).
    target_cpu_pct: float | None = None
    initiator_cpu_pct: float | None = None
    #: The target's resident anonymous memory at the end of the run (VmHWM counts mapped file pages).
    target_rss_anon_mib: float | None = None
    #: For FUSE rows: the application doing the I/O (fio), beside the initiator daemon.
    app_cpu_s_per_gb: float | None = None
    app_rss_mib: float | None = None
    sectors_per_frame: int | None = None
    frames_per_io: int | None = None
    io_bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def aoeload_argv(
    aoeload: str,
    ifname: str,
    shelf: int,
    slot: int,
    workload: Workload,
    seconds: float,
    warmup: float,
    rto_ms: float,
) -> list[str]:
    return [
        aoeload, "-i", ifname, "-e", f"{shelf}.{slot}", "-m", workload.mode, "-p", workload.pattern,
        "-b", str(workload.io_bytes), "-q", str(workload.queue_depth), "-t", f"{seconds:g}",
        "-w", f"{warmup:g}", "-r", f"{rto_ms:g}",
    ]  # fmt: skip


def aoeblast_argv(
    aoeblast: str, ifname: str, shelf: int, slot: int, workload: Workload, sectors: int, seconds: float
) -> list[str]:
    return [
        aoeblast, ifname, str(shelf), str(slot), workload.mode, workload.pattern, str(sectors),
        str(workload.queue_depth), f"{seconds:g}",
    ]  # fmt: skip


def run_generator(
    lab: Lab,
    netns: str | None,
    cpu: int,
    argv: Sequence[str],
    timeout: float,
    on_exit: Callable[[], None] | None = None,
) -> ExitUsage:
    """Run a generator in ``netns`` (None: this one) pinned to ``cpu`` to its end; reaped with its rusage."""
    proc = lab.popen(
        netns, ["taskset", "-c", str(cpu), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    usage = wait_with_usage(proc, timeout)
    lab.processes.remove(proc)
    if on_exit:
        on_exit()
    if usage.timed_out:
        raise LoadError(f"{argv[0]} did not finish within {timeout:.0f} s")
    return usage


def parse_aoeload(usage: ExitUsage) -> dict[str, Any]:
    """aoeload's one JSON line (it reports failures as JSON too)."""
    try:
        data: dict[str, Any] = json.loads(usage.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise LoadError(
            f"aoeload printed no result (status {usage.returncode}): {usage.stderr.strip()[:200]}"
        ) from None
    if not data.get("ok"):
        raise LoadError(f"aoeload: {data.get('error', 'failed')}")
    return data


_AOEBLAST = re.compile(r"ops/s (\S+) MB/s (\S+) retransmits (\d+) errors (\d+)")


def parse_aoeblast(usage: ExitUsage) -> dict[str, float]:
    match = _AOEBLAST.search(usage.stdout)
    if usage.returncode != 0 or match is None or float(match[1]) == 0:
        raise LoadError(
            f"aoeblast failed (status {usage.returncode}): {(usage.stderr or usage.stdout).strip()[:200]}"
        )
    return {
        "iops": float(match[1]),
        "mbps": float(match[2]),
        "retransmits": int(match[3]),
        "errors": int(match[4]),
    }


def per_gb(cpu_s: float | None, nbytes: float) -> float | None:
    if cpu_s is None or nbytes <= 0:
        return None
    return cpu_s / (nbytes / 1e9)


def _pct(cpu_s: float | None, wall_s: float | None) -> float | None:
    return 100 * cpu_s / wall_s if cpu_s is not None and wall_s else None


def sample_from(
    *,
    mbps: float,
    iops: float,
    p50_us: float | None,
    p99_us: float | None,
    target_cpu_s: float | None,
    target_bytes: float,
    target_rss_kib: int | None,
    initiator_cpu_s: float | None,
    initiator_bytes: float,
    initiator_rss_kib: int | None,
    retransmits: int,
    errors: int,
    target_rss_anon_kib: int | None = None,
    target_wall_s: float | None = None,
    initiator_wall_s: float | None = None,
    app_cpu_s: float | None = None,
    app_rss_kib: int | None = None,
    **frame: int | None,
) -> Sample:
    """A Sample from raw counts: CPU seconds over the bytes moved while they were counted."""
    return Sample(
        mbps=mbps,
        iops=iops,
        p50_us=p50_us,
        p99_us=p99_us,
        target_cpu_s_per_gb=per_gb(target_cpu_s, target_bytes),
        initiator_cpu_s_per_gb=per_gb(initiator_cpu_s, initiator_bytes),
        target_rss_mib=target_rss_kib / 1024 if target_rss_kib else None,
        initiator_rss_mib=initiator_rss_kib / 1024 if initiator_rss_kib else None,
        retransmits=retransmits,
        errors=errors,
        target_cpu_pct=_pct(target_cpu_s, target_wall_s),
        initiator_cpu_pct=_pct(initiator_cpu_s, initiator_wall_s),
        target_rss_anon_mib=target_rss_anon_kib / 1024 if target_rss_anon_kib else None,
        app_cpu_s_per_gb=per_gb(app_cpu_s, initiator_bytes) if app_cpu_s is not None else None,
        app_rss_mib=app_rss_kib / 1024 if app_rss_kib else None,
        **frame,
    )
