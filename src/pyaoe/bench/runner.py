"""pyaoe.bench.runner: the benchmark run: namespaces and a veth pair per setup, each target in
turn (alternating order each round), every workload against it, samples collected per row.

Target on one CPU, generator on another (taskset); the runner itself only waits meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyaoe.bench import initiator as ini
from pyaoe.bench.load import (
    LoadError,
    Sample,
    aoeblast_argv,
    aoeload_argv,
    parse_aoeblast,
    parse_aoeload,
    run_generator,
    sample_from,
)
from pyaoe.bench.peers import METRICS_KIND, PeerError, RunningTarget, scraping, start_target, target_argv
from pyaoe.bench.plan import (
    YARDSTICK_WORKLOADS,
    BenchOptions,
    Setup,
    Workload,
    initiator_workloads,
    row_id,
    setups_for,
)
from pyaoe.bench.procstat import cpu_seconds, vmhwm_kib
from pyaoe.bench.tools import BenchTools
from pyaoe.lab.netns import Lab, Link

__all__ = ["Measurements", "run_measurements", "make_backing_file"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass
class Measurements:
    """Samples per row id and side ("pyaoe", "vblade", "null"), and why rows have none."""

    samples: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    loadavg: list[str] = field(default_factory=list)

    def add(self, rid: str, side: str, sample: Sample) -> None:
        self.samples.setdefault(rid, {}).setdefault(side, []).append(sample)

    def fail(self, rid: str, side: str, message: str) -> None:
        log.warning("%s (%s): %s", rid, side, message)
        self.errors.setdefault(rid, f"{side}: {message}")


def make_backing_file(path: Path, size: int) -> None:
    """A real file of ``size`` bytes (written, not sparse), synced, and so in the page cache."""
    chunk = os.urandom(_CHUNK)
    with open(path, "wb") as f:
        for offset in range(0, size, _CHUNK):
            f.write(chunk[: min(_CHUNK, size - offset)])
        f.flush()
        os.fsync(f.fileno())


def _warm_cache(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(_CHUNK):
            pass


@contextlib.contextmanager
def _workdir(options: BenchOptions) -> Iterator[Path]:
    if options.workdir:
        path = Path(options.workdir)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    # /var/tmp, not /tmp: a tmpfs /tmp refuses O_DIRECT.
    path = Path(tempfile.mkdtemp(prefix="pyaoe-bench-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class _Run:
    options: BenchOptions
    tools: BenchTools
    lab: Lab
    tns: str
    ins: str
    backing: Path
    out: Measurements
    setup: Setup = field(default_factory=lambda: Setup(1500))
    tlink: Link | None = None
    ilink: Link | None = None
    #: sectors per frame the generator chose against the current target (from its probe).
    sectors: int = 2

    def probe(self) -> bool:
        assert self.ilink is not None
        o = self.options
        argv = [str(self.tools.aoeload), "-i", self.ilink.ifname, "-e", f"{o.shelf}.{o.slot}", "-t", "0"]
        try:
            data = parse_aoeload(run_generator(self.lab, self.ins, o.generator_cpu, argv, timeout=30))
        except LoadError:
            return False
        self.sectors = int(data["sectors_per_frame"])
        return True

    def start(self, kind: str) -> RunningTarget:
        assert self.tlink is not None
        o = self.options
        argv = target_argv(
            kind,
            tools=self.tools,
            ifname=self.tlink.ifname,
            shelf=o.shelf,
            slot=o.slot,
            path=str(self.backing),
            file_bytes=o.file_bytes,
            direct=self.setup.direct,
            bufcnt=o.bufcnt,
        )
        return start_target(self.lab, self.tns, argv, kind, o.target_cpu, self.probe)

    def timeout(self) -> float:
        return self.options.seconds + self.options.warmup + 60

    def aoeload(self, target: RunningTarget, w: Workload) -> Sample:
        assert self.ilink is not None
        o = self.options
        argv = aoeload_argv(
            str(self.tools.aoeload), self.ilink.ifname, o.shelf, o.slot, w, o.seconds, o.warmup, o.rto_ms
        )
        return self._measure(target, argv)

    def initiator_api(self, target: RunningTarget, w: Workload) -> Sample:
        assert self.ilink is not None
        o = self.options
        argv = ini.api_argv(
            self.ilink.ifname, o.shelf, o.slot, w, w.io_bytes or self.sectors * 512, o.seconds, o.warmup
        )
        return self._measure(target, argv)

    def _measure(self, target: RunningTarget, argv: list[str]) -> Sample:
        before = target.cpu_seconds()
        usage = run_generator(self.lab, self.ins, self.options.generator_cpu, argv, self.timeout())
        cpu = target.cpu_seconds() - before
        rss, anon = target.vmhwm_kib(), target.rss_anon_kib()
        if not target.alive():
            raise PeerError(f"{target.kind} target died: {target.output()}")
        d = parse_aoeload(usage)
        return sample_from(
            mbps=d["mbps"], iops=d["iops"], p50_us=d["p50_us"], p99_us=d["p99_us"],
            # The target worked for the whole generator run (warm-up and drain too): its CPU is
            # divided by every byte moved; the generator's by the measured window's bytes.
            target_cpu_s=cpu, target_bytes=d["total_bytes"], target_rss_kib=rss, target_rss_anon_kib=anon,
            target_wall_s=usage.wall_s, initiator_cpu_s=d["cpu_s"], initiator_bytes=d["bytes"],
            initiator_wall_s=d["seconds"], initiator_rss_kib=d["vmhwm_kib"],
            retransmits=d["retransmits"], errors=d["errors"],
            sectors_per_frame=d.get("sectors_per_frame"), frames_per_io=d.get("frames_per_io"),
            io_bytes=d.get("io_bytes"),
        )  # fmt: skip

    def aoeblast(self, target: RunningTarget, w: Workload) -> Sample:
        assert self.ilink is not None
        o = self.options
        argv = aoeblast_argv(
            str(self.tools.aoeblast), self.ilink.ifname, o.shelf, o.slot, w, self.sectors, o.seconds
        )
        before = target.cpu_seconds()
        usage = run_generator(self.lab, self.ins, o.generator_cpu, argv, self.timeout())
        cpu = target.cpu_seconds() - before
        d = parse_aoeblast(usage)
        moved = d["mbps"] * 1e6 * o.seconds
        return sample_from(
            mbps=d["mbps"], iops=d["iops"], p50_us=None, p99_us=None,
            target_cpu_s=cpu, target_bytes=moved, target_rss_kib=target.vmhwm_kib(),
            target_rss_anon_kib=target.rss_anon_kib(), target_wall_s=usage.wall_s,
            initiator_wall_s=usage.wall_s, initiator_cpu_s=usage.cpu_s, initiator_bytes=moved,
            initiator_rss_kib=usage.maxrss_kib,
            retransmits=int(d["retransmits"]), errors=int(d["errors"]),
            sectors_per_frame=self.sectors, frames_per_io=1, io_bytes=self.sectors * 512,
        )  # fmt: skip

    def fuse_rows(self, target: RunningTarget, side: str, workloads: tuple[Workload, ...]) -> None:
        """Start `pyaoe initiator` against ``target``, run fio for each workload, stop it."""
        assert self.ilink is not None
        o = self.options
        try:
            with ini.fuse_initiator(
                self.lab, self.ins, o.generator_cpu, self.ilink.ifname, o.shelf, o.slot
            ) as fuse:
                for w in workloads:
                    rid = row_id(self.setup, w, ini.FUSE_KIND)
                    try:
                        self.out.add(rid, side, self._fio(target, fuse, w))
                    except (LoadError, OSError) as exc:
                        self.out.fail(rid, side, f"{exc} ({fuse.output()})")
        except (LoadError, OSError) as exc:
            for w in workloads:
                self.out.fail(row_id(self.setup, w, ini.FUSE_KIND), side, str(exc))

    def _fio(self, target: RunningTarget, fuse: ini.FuseInitiator, w: Workload) -> Sample:
        o = self.options
        io_bytes = w.io_bytes or self.sectors * 512
        fio = ini.fio_argv(fuse.device, w, io_bytes, o.file_bytes, o.seconds)
        t0, d0 = target.cpu_seconds(), cpu_seconds(fuse.pid)
        usage = run_generator(self.lab, None, o.generator_cpu, fio, self.timeout())
        tcpu, dcpu = target.cpu_seconds() - t0, cpu_seconds(fuse.pid) - d0
        f = ini.parse_fio(usage.stdout, w.mode)
        return sample_from(
            mbps=f["mbps"], iops=f["iops"], p50_us=f["p50_us"], p99_us=f["p99_us"],
            target_cpu_s=tcpu, target_bytes=f["bytes"], target_rss_kib=target.vmhwm_kib(),
            initiator_cpu_s=dcpu, initiator_bytes=f["bytes"],
            initiator_rss_kib=vmhwm_kib(fuse.pid), retransmits=0, errors=int(f["errors"]),
            target_wall_s=usage.wall_s, initiator_wall_s=usage.wall_s,
            app_cpu_s=usage.cpu_s, app_rss_kib=usage.maxrss_kib, io_bytes=io_bytes,
        )  # fmt: skip


def _measure_target(run: _Run, kind: str, api_ok: bool, fuse_ok: bool) -> None:
    """Every row's run against one target (``kind``) of the current setup."""
    o, setup = run.options, run.setup
    all_rows = [row_id(setup, w) for w in o.workloads]
    try:
        target = run.start(kind)
    except (PeerError, LoadError, OSError) as exc:
        for rid in all_rows:
            run.out.fail(rid, kind, str(exc))
        return
    try:
        jobs: list[tuple[str, str, Callable[[], Sample]]] = []
        for w in o.workloads:
            jobs.append((row_id(setup, w), kind, lambda w=w: run.aoeload(target, w)))  # type: ignore[misc]
        if kind == METRICS_KIND:
            # Only the target rows: metrics on against the same pyaoe target with them off.
            with scraping(run.tns) as sizes:
                _run_jobs(run, target, jobs)
            if not sizes:
                for rid, _side, _job in jobs:
                    run.out.fail(rid, kind, "no metrics scrape succeeded during the run")
            return
        if o.yardstick:
            for w in o.workloads:
                if w.name in YARDSTICK_WORKLOADS:
                    jobs.append((row_id(setup, w, "aoeblast"), kind, lambda w=w: run.aoeblast(target, w)))  # type: ignore[misc]
        # Initiator rows: the pyaoe initiator against vblade (and against the no-op, its ceiling).
        side = {"vblade": "pyaoe", "null": "null"}.get(kind)
        if api_ok and side and not setup.direct:
            for w in initiator_workloads(o):
                jobs.append((row_id(setup, w, ini.API_KIND), side, lambda w=w: run.initiator_api(target, w)))  # type: ignore[misc]
        if not _run_jobs(run, target, jobs):
            return
        if fuse_ok and side and not setup.direct:
            run.fuse_rows(target, side, initiator_workloads(o))
    finally:
        target.stop()


def _run_jobs(run: _Run, target: RunningTarget, jobs: list[tuple[str, str, Callable[[], Sample]]]) -> bool:
    """Run each job, recording its sample or its failure; False once the target died."""
    for rid, side, job in jobs:
        log.info("%s against %s", rid, target.kind)
        try:
            run.out.add(rid, side, job())
        except (LoadError, PeerError, OSError) as exc:
            run.out.fail(rid, side, str(exc))
            if not target.alive():
                return False
    return True


def run_measurements(options: BenchOptions, tools: BenchTools) -> Measurements:
    """Measure every setup, round and target; the caller turns the samples into rows."""
    out = Measurements()
    out.loadavg.append(_loadavg())
    api_reason = ini.api_unavailable_reason() if options.initiator else "not asked for (--no-initiator)"
    fuse_reason = ini.fuse_unavailable_reason() if options.initiator else "not asked for (--no-initiator)"
    with _workdir(options) as workdir, Lab() as lab:
        backing = workdir / "backing.img"
        log.info("writing a %d MiB backing file in %s", options.file_bytes >> 20, workdir)
        make_backing_file(backing, options.file_bytes)
        run = _Run(options, tools, lab, lab.netns("bentg"), lab.netns("benin"), backing, out)
        for setup in setups_for(options):
            for kind, reason in ((ini.API_KIND, api_reason), (ini.FUSE_KIND, fuse_reason)):
                for w in initiator_workloads(options):
                    if setup.direct:
                        continue
                    if reason:
                        out.unavailable[row_id(setup, w, kind)] = reason
            run.setup = setup
            run.tlink, run.ilink = lab.veth(run.tns, run.ins, mtu=setup.mtu)
            if not setup.direct:
                _warm_cache(backing)
            for rnd in range(options.rounds):
                # Rotate who goes first (the no-op too): drift in the machine's load hits all alike.
                kinds = ["pyaoe", "vblade", "null"] + ([METRICS_KIND] if options.metrics else [])
                order = kinds[rnd % len(kinds) :] + kinds[: rnd % len(kinds)]
                for kind in order:
                    log.info("%s, round %d/%d: %s target", setup.describe(), rnd + 1, options.rounds, kind)
                    _measure_target(run, kind, api_reason is None, fuse_reason is None)
    out.loadavg.append(_loadavg())
    return out


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return f.read().strip()
    except OSError:
        return ""
