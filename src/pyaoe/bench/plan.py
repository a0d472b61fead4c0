"""pyaoe.bench.plan: what a benchmark run measures: workloads, link/backing setups, options.

Pure data: the runner walks a BenchOptions; row ids are built here so the report, the JSON and
the smoke test agree on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = [
    "BenchOptions",
    "Setup",
    "Workload",
    "WORKLOADS",
    "YARDSTICK_WORKLOADS",
    "INITIATOR_WORKLOADS",
    "initiator_workloads",
    "default_options",
    "smoke_options",
    "setups_for",
    "row_id",
]


@dataclass(frozen=True, slots=True)
class Workload:
    """One load: read or write, sequential or random, I/O size (0: one frame of the largest sector
    count the MTU and target allow), I/Os in flight."""

    name: str
    mode: str
    pattern: str
    io_bytes: int
    queue_depth: int
    #: For the initiator-only workloads: the target workload whose vblade row is the yardstick.
    reference: str = ""

    def describe(self) -> str:
        size = "max frame" if self.io_bytes == 0 else f"{self.io_bytes // 1024} KiB"
        return f"{self.pattern} {self.mode}, {size}, QD {self.queue_depth}"


#: The issue's list: sequential read/write with the largest frames (16 in flight, where more
#: gains nothing on 2 cores), random 4 KiB reads/writes at queue depths 1 and 32.
WORKLOADS: tuple[Workload, ...] = (
    Workload("seq-read", "read", "seq", 0, 16),
    Workload("seq-write", "write", "seq", 0, 16),
    Workload("rand-read-qd1", "read", "rand", 4096, 1),
    Workload("rand-read-qd32", "read", "rand", 4096, 32),
    Workload("rand-write-qd1", "write", "rand", 4096, 1),
    Workload("rand-write-qd32", "write", "rand", 4096, 32),
)

#: Initiator rows only: what an application reading or writing a disk sequentially does, large
#: requests, a few at a time. They are set beside the C generator's best (the seq-read or
#: seq-write target row: one frame per I/O, 16 in flight) by MB/s, the figure both have.
INITIATOR_WORKLOADS: tuple[Workload, ...] = (
    Workload("seq-read-1m", "read", "seq", 1 << 20, 4, reference="seq-read"),
    Workload("seq-write-1m", "write", "seq", 1 << 20, 4, reference="seq-write"),
)

#: The rows aoeblast (the second, independent generator) also measures: it sends one frame per
#: request, so it can only do the one-frame workloads.
YARDSTICK_WORKLOADS: tuple[str, ...] = ("seq-read", "seq-write")


@dataclass(frozen=True, slots=True)
class Setup:
    """The link's MTU and how the targets open the backing file."""

    mtu: int
    direct: bool = False

    @property
    def name(self) -> str:
        return f"mtu{self.mtu}-{'direct' if self.direct else 'cache'}"

    def describe(self) -> str:
        return f"MTU {self.mtu}, {'O_DIRECT' if self.direct else 'page cache'}"


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """Everything a run needs; defaults are the full run (about 12 minutes on 2 cores)."""

    seconds: float = 2.0
    warmup: float = 0.3
    rounds: int = 3
    file_bytes: int = 1 << 30
    mtus: tuple[int, ...] = (1500, 9000)
    #: MTU of the one O_DIRECT setup (None: no O_DIRECT run).
    direct_mtu: int | None = 9000
    workloads: tuple[Workload, ...] = WORKLOADS
    #: Also measure with aoeblast (seq rows) as an independent yardstick.
    yardstick: bool = True
    #: Try the pyaoe initiator rows (they say "not available" until the initiator exists).
    initiator: bool = True
    #: Also run pyaoe's target with --metrics on, scraped every second, beside it with them off.
    metrics: bool = False
    #: The NBD and copy rows (pyaoe.bench.nbd); only_nbd measures nothing else.
    nbd: bool = True
    only_nbd: bool = False
    #: CPUs for the target and for the load generator (taskset -c).
    target_cpu: int = 0
    generator_cpu: int = 1
    #: Buffer count both targets advertise (-b); it also sizes their socket buffers, and must
    #: cover the deepest load's frames in flight (32 I/Os x 4 frames at MTU 1500).
    bufcnt: int = 256
    shelf: int = 1
    slot: int = 1
    #: Frame retransmit timeout of the generator, milliseconds.
    rto_ms: float = 200.0
    #: Where the backing file goes (None: a fresh directory under /var/tmp, removed afterwards).
    workdir: str | None = None
    smoke: bool = False


def default_options(**changes: object) -> BenchOptions:
    return replace(BenchOptions(), **changes)  # type: ignore[arg-type]


def smoke_options(**changes: object) -> BenchOptions:
    """The CI run: every row once, briefly, on a small file; proves the harness works, times nothing."""
    base = BenchOptions(seconds=0.4, warmup=0.05, rounds=1, file_bytes=64 << 20, smoke=True)
    return replace(base, **changes)  # type: ignore[arg-type]


def initiator_workloads(options: BenchOptions) -> tuple[Workload, ...]:
    """The workloads of the initiator rows: the target's, and the large-request ones whose
    reference workload is measured."""
    names = {w.name for w in options.workloads}
    return options.workloads + tuple(w for w in INITIATOR_WORKLOADS if w.reference in names)


def setups_for(options: BenchOptions) -> list[Setup]:
    setups = [Setup(mtu) for mtu in options.mtus]
    if options.direct_mtu is not None:
        setups.append(Setup(options.direct_mtu, direct=True))
    return setups


def row_id(setup: Setup, workload: Workload, kind: str = "target") -> str:
    """``mtu1500-cache/seq-read``; other kinds get a suffix (``@aoeblast``, ``@initiator-api``)."""
    base = f"{setup.name}/{workload.name}"
    return base if kind == "target" else f"{base}@{kind}"


def workloads_named(names: Sequence[str]) -> tuple[Workload, ...]:
    """The workloads called ``names``, in the canonical order; ValueError for an unknown one."""
    known = {w.name: w for w in WORKLOADS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown workload {unknown[0]!r} (known: {', '.join(known)})")
    return tuple(w for w in WORKLOADS if w.name in names)
