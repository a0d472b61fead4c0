"""pyaoe.reliability.faults: faults under a sustained random write load, and the check that
nothing acknowledged was lost: the target killed (SIGKILL) and restarted, a wire that loses and
duplicates frames, the link going down and up, the backing file's file system full, and two
initiators writing one export at once.

Each scenario builds its own namespaces (pyaoe.lab.netns.Lab), runs pyaoe's target in one and
an InitiatorService in another, and returns Figures; the backing file is checked directly.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyaoe.lab.netns import Lab, Link, ip
from pyaoe.protocol import SECTOR_SIZE
from pyaoe.reliability.ledger import Ledger, Verdict
from pyaoe.reliability.peers import VBLADE_COMMAND, lossy_wire, nft_counters, start_initiator, start_target
from pyaoe.reliability.report import Figures
from pyaoe.reliability.workload import FaultyLoad, WriteLoad, file_reader, sparse_file, wire_reader
from pyaoe.service.initiator import InitiatorService

__all__ = [
    "FaultOptions",
    "FAULTS",
    "target_killed",
    "lossy_wire_run",
    "link_down_up",
    "disk_full",
    "two_initiators",
]

MiB = 1 << 20
#: Long enough that no outage here fails a request: the load must ride through every fault.
DEADSECS = 60.0


@dataclass(frozen=True)
class FaultOptions:
    """How long and how hard: the load runs ``seconds`` per scenario, with ``faults`` faults."""

    workdir: Path
    seconds: float = 20.0
    faults: int = 3
    size_mib: int = 64
    #: How long a link stays down, and how long a killed target stays dead (seconds).
    outage: float = 1.5
    seed: int = 1


def check_file(figures: Figures, ledgers: Sequence[Ledger], path: Path | str) -> Verdict:
    total = Verdict()
    for ledger in ledgers:
        total.add(ledger.check(file_reader(path)))
    figures.verdict(total, "in the backing file")
    return total


def wait_up(service: InitiatorService, name: str, timeout: float = 90.0) -> None:
    """Wait for ``name`` to come up, asking again every 5 s as aoe-discover would: on a lossy
    wire the answer to the first discovery may be lost, and the periodic one is a minute away."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            service.wait_for_device(name, min(5.0, max(0.1, deadline - time.monotonic())))
            return
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
            service.discover()


def finish_figures(figures: Figures, started: float, services: Sequence[InitiatorService]) -> Figures:
    figures.seconds = time.monotonic() - started
    for service in services:
        figures.count(service.counters)
    return figures


@contextlib.contextmanager
def namespace_pair(mtu: int = 1500) -> Iterator[tuple[Lab, str, str, Link, Link]]:
    """A target namespace and an initiator namespace joined by a veth pair."""
    with Lab() as lab:
        target_ns, initiator_ns = lab.netns("aoeft"), lab.netns("aoefi")
        here, there = lab.veth(initiator_ns, target_ns, mtu=mtu)
        yield lab, target_ns, initiator_ns, here, there


def target_killed(options: FaultOptions) -> Figures:
    """SIGKILL the target mid-load and start it again (alternately with -s, O_SYNC); the load
    sends FLUSH CACHE now and then. After a last SIGKILL every acknowledged write must be in
    the file: the answer leaves only once the write is done."""
    figures = Figures("target SIGKILL")
    rng = random.Random(f"kill-{options.seed}")
    path = sparse_file(options.workdir / "killed.img", options.size_mib * MiB)
    started = time.monotonic()
    with namespace_pair() as (lab, target_ns, initiator_ns, here, there):
        plain = ["7", "1", there.ifname, str(path)]
        with start_target(lab, target_ns, plain, workdir=options.workdir) as target:
            service = start_initiator(initiator_ns, [here.ifname], deadsecs=DEADSECS)
            try:
                service.wait_for_device("e7.1", 30)
                ledger = Ledger("e7.1", 0, options.size_mib * MiB // SECTOR_SIZE)
                load = WriteLoad(service, [ledger], rng, flush_share=0.02)
                runner = FaultyLoad(load, options.seconds)
                synced = 0

                def kill(i: int) -> None:
                    nonlocal synced
                    target.kill()
                    time.sleep(options.outage)  # the outage itself: the target stays dead this long
                    target.argv = [*VBLADE_COMMAND, *(["-s"] if i % 2 == 0 else []), *plain]
                    synced += i % 2 == 0
                    target.start()

                stats = runner.run(options.faults, kill)
                target.kill()
            finally:
                service.stop()
            figures.load(stats)
            figures.expect_no_errors(stats)
            check_file(figures, [ledger], path)
            kills = target.starts - 1
            figures.notes.append(
                f"{kills + 1} SIGKILLs ({kills} mid-load, each followed by a restart, {synced} of them "
                f"with -s), {stats.flushes} FLUSH CACHE; file checked after the last kill"
            )
            if runner.stalled:
                figures.problems.append(f"no write acknowledged after fault(s) {runner.stalled}")
    return finish_figures(figures, started, [service])


def lossy_wire_run(options: FaultOptions, drop: int = 10, dup: int = 5) -> Figures:
    """nftables in both namespaces drop ``drop`` % of the AoE frames coming in and duplicate
    ``dup`` % of those going out, both ways; the data is read back over the same wire too."""
    figures = Figures(f"lossy wire {drop}% drop {dup}% dup")
    rng = random.Random(f"lossy-{options.seed}")
    path = sparse_file(options.workdir / "lossy.img", options.size_mib * MiB)
    started = time.monotonic()
    # Jumbo frames: the window stays small on a lossy wire, so each frame should carry more.
    with namespace_pair(mtu=9000) as (lab, target_ns, initiator_ns, here, there):
        lossy_wire(lab, target_ns, there.ifname, drop, dup)
        lossy_wire(lab, initiator_ns, here.ifname, drop, dup)
        with start_target(lab, target_ns, ["7", "2", there.ifname, str(path)], workdir=options.workdir):
            service = start_initiator(initiator_ns, [here.ifname], deadsecs=DEADSECS)
            try:
                wait_up(service, "e7.2")
                ledger = Ledger("e7.2", 0, options.size_mib * MiB // SECTOR_SIZE)
                stats = WriteLoad(service, [ledger], rng, read_share=0.3).run(options.seconds)
                over_wire = ledger.check(wire_reader(service, "e7.2"), written_only=True)
            finally:
                service.stop()
            figures.load(stats)
            figures.expect_no_errors(stats)
            if over_wire.lost:
                figures.problems.append(f"read back over the lossy wire: {over_wire.lost} bytes differ")
            check_file(figures, [ledger], path)
            counts = [nft_counters(lab, ns) for ns in (target_ns, initiator_ns)]
            figures.notes.append(
                f"nftables dropped {sum(c[0] for c in counts):,} and duplicated "
                f"{sum(c[1] for c in counts):,} frames (MTU 9000); {stats.reads:,} reads checked during the "
                "load, every written sector read back over the same wire"
            )
            if service.counters.retransmits == 0:
                figures.problems.append("no retransmission: the wire lost nothing?")
    return finish_figures(figures, started, [service])


def link_down_up(options: FaultOptions) -> Figures:
    """Take the link down and up mid-load: the target's end, then the initiator's (which makes
    the initiator drop its port and open it again)."""
    figures = Figures("link down/up")
    rng = random.Random(f"link-{options.seed}")
    path = sparse_file(options.workdir / "link.img", options.size_mib * MiB)
    started = time.monotonic()
    with (
        namespace_pair() as (lab, target_ns, initiator_ns, here, there),
        start_target(lab, target_ns, ["7", "3", there.ifname, str(path)], workdir=options.workdir),
    ):
        service = start_initiator(initiator_ns, [here.ifname], deadsecs=DEADSECS)
        try:
            service.wait_for_device("e7.3", 30)
            ledger = Ledger("e7.3", 0, options.size_mib * MiB // SECTOR_SIZE)
            runner = FaultyLoad(WriteLoad(service, [ledger], rng), options.seconds)

            def flap(i: int) -> None:
                link = there if i % 2 == 0 else here
                ip("link", "set", "dev", link.ifname, "down", netns=link.netns)
                time.sleep(options.outage)  # the outage itself
                ip("link", "set", "dev", link.ifname, "up", netns=link.netns)

            stats = runner.run(options.faults, flap)
            up = service.device_info("e7.3").state
        finally:
            service.stop()
        figures.load(stats)
        figures.expect_no_errors(stats)
        check_file(figures, [ledger], path)
        figures.notes.append(
            f"{options.faults} times down for {options.outage:g} s "
            "(the target's end and the initiator's end in turn)"
        )
        if runner.stalled:
            figures.problems.append(f"no write acknowledged after fault(s) {runner.stalled}")
        if up != "up":
            figures.problems.append(f"device {up} after the load")
    return finish_figures(figures, started, [service])


# A private mount namespace with a small tmpfs holding a sparse backing file larger than the
# space, and a filler file to delete later (room again); then the target itself.
_TMPFS_SCRIPT = (
    'mount -t tmpfs -o size="$1" pyaoe-full "$0" && truncate -s "$2" "$0/disk.img" '
    '&& head -c "$3" /dev/zero > "$0/filler" && shift 3 && exec "$@"'
)


def disk_full(options: FaultOptions, space_mib: int = 6, filler_mib: int = 2) -> Figures:
    """The backing file lives on a tmpfs smaller than the file: writes that need new space fail
    with ENOSPC, which must come back as ATA errors (the target lives on and keeps reading,
    holes included), and once space is freed writes succeed again."""
    figures = Figures("disk full (ENOSPC)")
    rng = random.Random(f"full-{options.seed}")
    mount = options.workdir / "full-mnt"
    mount.mkdir(exist_ok=True)
    size = max(options.size_mib, 4 * space_mib) * MiB
    wrapper = [
        "unshare",
        "-m",
        "sh",
        "-c",
        _TMPFS_SCRIPT,
        str(mount),
        f"{space_mib}m",
        str(size),
        f"{filler_mib}M",
    ]
    started = time.monotonic()
    with namespace_pair() as (lab, target_ns, initiator_ns, here, there):
        args = ["7", "4", there.ifname, str(mount / "disk.img")]
        with start_target(lab, target_ns, args, wrapper=wrapper, workdir=options.workdir) as target:
            service = start_initiator(initiator_ns, [here.ifname], deadsecs=DEADSECS)
            try:
                service.wait_for_device("e7.4", 30)
                first_pid = target.pid
                # The load never touches the last 128 KiB: space a write needs once room is made.
                spare = Ledger("e7.4", size // SECTOR_SIZE - 256, 256, writer=2)
                ledger = Ledger("e7.4", 0, spare.first)
                stats = WriteLoad(service, [ledger], rng, read_share=0.3).run(options.seconds)
                alive = target.alive() and target.pid == first_pid
                # Room again: a write to space never written before must succeed.
                lab.run(
                    None, ["nsenter", "-t", str(target.pid), "-m", "rm", str(mount / "filler")], check=False
                )
                write = spare.plan(spare.first, spare.count)
                try:
                    service.write("e7.4", write.lba * SECTOR_SIZE, spare.data(write)).result(60)
                    spare.acknowledged(write)
                    recovered = True
                except OSError as exc:
                    spare.failed(write)
                    recovered = False
                    figures.problems.append(f"a write after space was freed failed: {exc}")
                if target.alive():
                    check_file(figures, [ledger, spare], target.path_in_its_mounts(mount / "disk.img"))
            finally:
                service.stop()
            figures.load(stats)
            ata = sum(n for k, n in stats.errors.items() if k == "write AtaCommandError")
            other = {k: n for k, n in stats.errors.items() if k != "write AtaCommandError"}
            if not alive:
                figures.problems.append(f"the target died: {target.stderr()[-1500:]}")
            if not ata:
                figures.problems.append("no write failed: the file system never filled up")
            if other:
                figures.problems.append(f"errors other than ATA errors on writes: {other}")
            figures.notes.append(
                f"{space_mib} MiB tmpfs under a {size // MiB} MiB sparse file: {ata:,} writes failed with "
                f"an ATA error (ENOSPC), {stats.reads:,} reads checked, "
                f"target {'alive' if alive else 'DEAD'}; "
                f"{'a new write succeeded' if recovered else 'no write succeeded'} "
                f"after {filler_mib} MiB were freed"
            )
    return finish_figures(figures, started, [service])


def two_initiators(options: FaultOptions) -> Figures:
    """Two initiators in two namespaces on one bridge write disjoint halves of one export at
    the same time; then the file holds both halves' acknowledged writes."""
    figures = Figures("two initiators, one export")
    path = sparse_file(options.workdir / "shared.img", options.size_mib * MiB)
    started = time.monotonic()
    with Lab() as lab:
        target_ns = lab.netns("aoeft")
        bridge = lab.bridge(target_ns)
        served, uplink = lab.veth(target_ns, target_ns)
        lab.attach(uplink, bridge)
        homes = []
        for _ in range(2):
            ns = lab.netns("aoefi")
            here, there = lab.veth(ns, target_ns)
            lab.attach(there, bridge)
            homes.append((ns, here))
        with start_target(lab, target_ns, ["7", "5", served.ifname, str(path)], workdir=options.workdir):
            services = [start_initiator(ns, [here.ifname], deadsecs=DEADSECS) for ns, here in homes]
            try:
                half = options.size_mib * MiB // SECTOR_SIZE // 2
                ledgers = [Ledger("e7.5", i * half, half, writer=i + 1) for i in range(2)]
                for service in services:
                    service.wait_for_device("e7.5", 30)
                loads = [
                    FaultyLoad(
                        WriteLoad(s, [ledger], random.Random(f"two-{options.seed}-{i}")), options.seconds
                    )
                    for i, (s, ledger) in enumerate(zip(services, ledgers, strict=True))
                ]
                runners = [threading.Thread(target=load.run, args=(0, lambda _i: None)) for load in loads]
                for runner in runners:
                    runner.start()
                for runner in runners:
                    runner.join()
            finally:
                for service in services:
                    service.stop()
            for load in loads:
                if load.stats is None:
                    figures.problems.append(f"a load failed: {load.error!r}")
                    continue
                figures.load(load.stats)
                figures.expect_no_errors(load.stats)
            check_file(figures, ledgers, path)
            figures.notes.append(
                "both wrote at once: "
                + ", ".join(f"{(lo.stats.writes if lo.stats else 0):,} writes" for lo in loads)
            )
    return finish_figures(figures, started, services)


FAULTS: dict[str, Callable[[FaultOptions], Figures]] = {
    "kill": target_killed,
    "lossy": lossy_wire_run,
    "link": link_down_up,
    "full": disk_full,
    "two": two_initiators,
}
