"""pyaoe.reliability.load: many exports at once: 100 exports served by one `pyaoe target`
process to 4 initiators writing and reading all of them (memory watched, nothing lost), and one
initiator discovering 1,000 exports spread over the address space and keeping them all up.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyaoe.lab.netns import Lab
from pyaoe.protocol import SECTOR_SIZE
from pyaoe.reliability.faults import DEADSECS, finish_figures
from pyaoe.reliability.ledger import Ledger, Verdict
from pyaoe.reliability.peers import TARGET_COMMAND, rss_kib, start_initiator, start_target, write_config
from pyaoe.reliability.report import Figures
from pyaoe.reliability.workload import LoadStats, WriteLoad, file_reader, sparse_file
from pyaoe.service.initiator import InitiatorService

__all__ = ["LoadOptions", "many_initiators", "thousand_exports", "spread_addresses", "LOADS"]

MiB = 1 << 20
KiB = 1 << 10


@dataclass(frozen=True)
class LoadOptions:
    workdir: Path
    #: How long the 4 initiators write, and how long the 1,000 devices are kept up.
    seconds: float = 30.0
    hold_seconds: float = 20.0
    exports: int = 100
    initiators: int = 4
    export_mib: int = 4
    many: int = 1000
    #: Memory growth allowed between the end of the warm-up (a fifth of the run) and the end.
    rss_growth_kib: int = 16 * KiB
    seed: int = 1


class MemoryWatch:
    """Samples a process's resident anonymous memory (and ours) every ``interval`` seconds."""

    def __init__(self, pid: Callable[[], int], interval: float) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int, int]] = []  # (seconds, target KiB, our KiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pyaoe-memory", daemon=True)
        self._started = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        try:
            target = rss_kib(self.pid())
        except OSError:
            target = 0
        self.samples.append((time.monotonic() - self._started, target, rss_kib(os.getpid())))

    def __enter__(self) -> MemoryWatch:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def growth(self, column: int) -> tuple[int, int, int]:
        """(KiB after warm-up, KiB at the end, peak KiB) of column 1 (target) or 2 (us)."""
        total = self.samples[-1][0]
        warm = next((s for s in self.samples if s[0] >= total / 5), self.samples[0])
        end = self.samples[-1]
        return int(warm[column]), int(end[column]), int(max(s[column] for s in self.samples))


def _check_memory(figures: Figures, watch: MemoryWatch, allowed: int) -> None:
    for column, who in ((1, "target"), (2, "initiators' process")):
        warm, end, peak = watch.growth(column)
        figures.notes.append(
            f"{who} RssAnon {warm / KiB:.1f} MiB after warm-up, {end / KiB:.1f} at the end, "
            f"peak {peak / KiB:.1f}"
        )
        figures.extra[f"rss_{'target' if column == 1 else 'initiators'}_kib"] = [
            s[column] for s in watch.samples
        ]
        if end - warm > allowed:
            figures.problems.append(f"{who} memory grew by {(end - warm) / KiB:.1f} MiB after the warm-up")


def _bridge_lab(lab: Lab, homes: int, mtu: int = 1500) -> tuple[str, str, list[tuple[str, str]]]:
    """A target namespace with a bridge, the target's own port on it, and ``homes`` initiator
    namespaces each joined to the bridge; returns (target ns, target netif, [(ns, netif)])."""
    target_ns = lab.netns("aoelt")
    bridge = lab.bridge(target_ns, mtu=mtu)
    served, uplink = lab.veth(target_ns, target_ns, mtu=mtu)
    lab.attach(uplink, bridge)
    out = []
    for _ in range(homes):
        ns = lab.netns("aoeli")
        here, there = lab.veth(ns, target_ns, mtu=mtu)
        lab.attach(there, bridge)
        out.append((ns, here.ifname))
    return target_ns, served.ifname, out


def _wait_all_up(service: InitiatorService, names: Sequence[str], timeout: float) -> tuple[float, int]:
    """Seconds until every device in ``names`` is up, and how many are up at the end."""
    started = time.monotonic()
    wanted = set(names)
    up = 0
    while time.monotonic() - started < timeout:
        up = len(wanted & {d.name for d in service.devices() if d.up})
        if up == len(wanted):
            break
        time.sleep(0.2)
    return time.monotonic() - started, up


def many_initiators(options: LoadOptions) -> Figures:
    """``exports`` exports in one `pyaoe target --config` process on a bridge, ``initiators``
    initiators in their own namespaces each writing and reading its own quarter of every export
    at once for ``seconds``; memory of the target and of the initiators sampled throughout."""
    figures = Figures(f"{options.exports} exports x {options.initiators} initiators")
    started = time.monotonic()
    size = options.export_mib * MiB
    addresses = [(10 + i // 16, i % 16) for i in range(options.exports)]
    names = [f"e{shelf}.{slot}" for shelf, slot in addresses]
    folder = options.workdir / "exports"
    folder.mkdir(exist_ok=True)
    paths = {name: sparse_file(folder / f"{name}.img", size) for name in names}
    with Lab() as lab:
        target_ns, netif, homes = _bridge_lab(lab, options.initiators)
        config = options.workdir / "exports.toml"
        write_config(config, [(s, t, netif, paths[n]) for (s, t), n in zip(addresses, names, strict=True)])
        with start_target(
            lab,
            target_ns,
            ["--config", str(config)],
            command=TARGET_COMMAND,
            exports=len(names),
            workdir=options.workdir,
        ) as target:
            services = [start_initiator(ns, [ifname], deadsecs=DEADSECS) for ns, ifname in homes]
            try:
                for service in services:
                    took, up = _wait_all_up(service, names, 60)
                    if up != len(names):
                        figures.problems.append(f"only {up} of {len(names)} exports came up in {took:.0f} s")
                share = size // SECTOR_SIZE // options.initiators
                ledgers = [
                    [Ledger(name, k * share, share, writer=k + 1) for name in names]
                    for k in range(options.initiators)
                ]
                loads = [
                    WriteLoad(
                        s,
                        ls,
                        random.Random(f"many-{options.seed}-{k}"),
                        inflight=8,
                        max_sectors=64,
                        read_share=0.3,
                    )
                    for k, (s, ls) in enumerate(zip(services, ledgers, strict=True))
                ]
                results: list[LoadStats | BaseException] = []
                threads = [
                    threading.Thread(target=lambda lo=lo: results.append(_run(lo, options.seconds)))
                    for lo in loads
                ]
                with MemoryWatch(lambda: target.pid, max(1.0, options.seconds / 60)) as watch:
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join()
                still_up = [sum(d.up for d in s.devices() if d.name in paths) for s in services]
            finally:
                for service in services:
                    service.stop()
            alive = target.alive()
        total = Verdict()
        for result in results:
            if isinstance(result, BaseException):
                figures.problems.append(f"a load failed: {result!r}")
                continue
            figures.load(result)
            figures.expect_no_errors(result)
        for group in ledgers:
            for ledger in group:
                total.add(ledger.check(file_reader(paths[ledger.device])))
        figures.verdict(total, "in the backing files")
        _check_memory(figures, watch, options.rss_growth_kib)
        if not alive:
            figures.problems.append(f"the target died: {target.stderr()[-1500:]}")
        if any(n != len(names) for n in still_up):
            figures.problems.append(f"exports up at the end, per initiator: {still_up}")
        written = figures.bytes_written
        figures.notes.append(
            f"{written / MiB / options.seconds:.1f} MiB/s written in all; every initiator saw all "
            f"{len(names)} exports up at the end: {all(n == len(names) for n in still_up)}"
        )
    return finish_figures(figures, started, services)


def _run(load: WriteLoad, seconds: float) -> LoadStats | BaseException:
    try:
        return load.run(seconds)
    except BaseException as exc:
        return exc


def spread_addresses(count: int, seed: int = 1) -> list[tuple[int, int]]:
    """``count`` distinct shelf.slot addresses over the whole space: the corners (shelf 0 and
    65534, slot 0 and 254) and the rest at random, never a broadcast value or shelf 0x0FFF
    (which the Linux driver refuses)."""
    rng = random.Random(f"spread-{seed}")
    chosen = dict.fromkeys([(0, 0), (0, 254), (65534, 0), (65534, 254), (1, 1)])
    while len(chosen) < count:
        shelf, slot = rng.randrange(65535), rng.randrange(255)
        if shelf != 0x0FFF:
            chosen[(shelf, slot)] = None
    return list(chosen)[:count]


def thousand_exports(options: LoadOptions) -> Figures:
    """One `pyaoe target --config` process serving ``many`` exports; one initiator discovers
    them all (one broadcast: that many answers at once) and keeps them up for ``hold_seconds``
    with a light load on all of them."""
    figures = Figures(f"{options.many} exports, one initiator")
    started = time.monotonic()
    addresses = spread_addresses(options.many, options.seed)
    names = [f"e{shelf}.{slot}" for shelf, slot in addresses]
    folder = options.workdir / "many"
    folder.mkdir(exist_ok=True)
    paths = {name: sparse_file(folder / f"{name}.img", MiB) for name in names}
    with Lab() as lab:
        target_ns, initiator_ns = lab.netns("aoelt"), lab.netns("aoeli")
        here, there = lab.veth(initiator_ns, target_ns)
        config = options.workdir / "many.toml"
        tables = [(s, t, there.ifname, paths[n]) for (s, t), n in zip(addresses, names, strict=True)]
        write_config(config, tables)
        launched = time.monotonic()
        with start_target(
            lab,
            target_ns,
            ["--config", str(config)],
            command=TARGET_COMMAND,
            exports=len(names),
            workdir=options.workdir,
        ) as target:
            serving = time.monotonic() - launched
            service = start_initiator(initiator_ns, [here.ifname], deadsecs=DEADSECS)
            try:
                took, up = _wait_all_up(service, names, 120)
                if up != len(names):
                    figures.problems.append(f"only {up} of {len(names)} exports came up in {took:.0f} s")
                at_discovery = service.counters
                ledgers = [Ledger(name, 0, 64) for name in names]
                load = WriteLoad(
                    service, ledgers, random.Random(f"thousand-{options.seed}"), inflight=8, max_sectors=16
                )
                with MemoryWatch(lambda: target.pid, max(1.0, options.hold_seconds / 30)) as watch:
                    stats = load.run(options.hold_seconds)
                devices = service.devices()
                still_up = sum(d.up for d in devices if d.name in paths)
            finally:
                service.stop()
            alive = target.alive()
        figures.load(stats)
        figures.expect_no_errors(stats)
        total = Verdict()
        for ledger in ledgers:
            total.add(ledger.check(file_reader(paths[ledger.device])))
        figures.verdict(total, "in the backing files")
        _check_memory(figures, watch, options.rss_growth_kib)
        if not alive:
            figures.problems.append(f"the target died: {target.stderr()[-1500:]}")
        if still_up != len(names):
            figures.problems.append(f"{still_up} of {len(names)} exports up at the end")
        figures.notes.append(
            f"target serving {len(names)} exports {serving:.1f} s after launch; all up at the initiator "
            f"{took:.1f} s after it started; {still_up} up after {options.hold_seconds:.0f} s of load "
            f"({stats.writes:,} writes, {stats.reads:,} reads over {len({d.name for d in devices})} devices)"
        )
        figures.extra["discovery_seconds"] = took
        figures.extra["discovery_frames"] = at_discovery.frames_sent
        figures.extra["discovery_retransmits"] = at_discovery.retransmits
        figures.notes.append(
            f"discovery took {at_discovery.frames_sent:,} frames sent, "
            f"{at_discovery.retransmits:,} of them retransmits"
        )
    return finish_figures(figures, started, [service])


LOADS: dict[str, Callable[[LoadOptions], Figures]] = {
    "many": many_initiators,
    "thousand": thousand_exports,
}
