"""pyaoe's initiator service against real targets over veth pairs: Debian's vblade and pyaoe's own
target, in network namespaces, with the initiator's interfaces in the root namespace.

Discovery (at start, from announcements, on request), random unaligned I/O checked against the
backing files, deadsecs down/up, failover between target MACs and between local interfaces, and
frames lost or duplicated by nftables rules inside the target namespaces.
"""

from __future__ import annotations

import errno
import hashlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pyaoe.errors import DeviceUnavailable
from pyaoe.initiator import DeviceDown, Diagnostic, DiagnosticKind, InitiatorConfig, InitiatorEvent
from pyaoe.lab.netns import Lab, Link
from pyaoe.service.initiator import InitiatorService
from support.target import PYAOE_TARGET, RunningTarget, start_target

pytestmark = pytest.mark.netns

DEBIAN_VBLADE = ("/usr/sbin/vblade",)
KINDS = ("vblade", "pyaoe")
MiB = 1 << 20


# -- helpers ----------------------------------------------------------------------------------
@dataclass
class Side:
    """A target namespace joined to the root namespace by one veth pair."""

    ns: str
    here: Link  # the initiator's end (root namespace)
    there: Link  # the target's end


def make_side(lab: Lab, mtu: int = 1500, prefix: str = "aoeit") -> Side:
    ns = lab.netns(prefix)
    here, there = lab.veth(None, ns, mtu=mtu)
    return Side(ns, here, there)


def make_disk(path: Path, size: int, rng: random.Random) -> bytearray:
    data = bytearray(rng.randbytes(size))
    path.write_bytes(data)
    return data


@contextmanager
def serve(
    lab: Lab,
    side: Side,
    kind: str,
    exports: Sequence[tuple[int, int, Path]],
    tmp: Path,
    *,
    announced: bool = True,
) -> Iterator[list[RunningTarget]]:
    """Serve ``exports`` (shelf, slot, file) from ``side``'s namespace: one Debian vblade per
    export, or one `pyaoe target --config` process for all. With ``announced``, returns only
    once every export's announcement was heard on the initiator's end."""
    listen = side.here if announced else None
    with ExitStack() as stack:
        running: list[RunningTarget] = []
        if kind == "vblade":
            for shelf, slot, path in exports:
                args = [str(shelf), str(slot), side.there.ifname, str(path)]
                running.append(
                    stack.enter_context(
                        start_target(lab, side.there, args, listen=listen, command=DEBIAN_VBLADE)
                    )
                )
        else:
            config = tmp / f"exports-{side.ns}-{exports[0][0]}-{exports[0][1]}.toml"
            netif = side.there.ifname
            config.write_text(
                "".join(
                    f'[[export]]\nshelf = {shelf}\nslot = {slot}\nnetif = "{netif}"\nfile = "{path}"\n'
                    for shelf, slot, path in exports
                )
            )
            running.append(
                stack.enter_context(
                    start_target(
                        lab,
                        side.there,
                        ["--config", str(config)],
                        listen=listen,
                        command=PYAOE_TARGET,
                        exports=len(exports),
                    )
                )
            )
        for target in running:
            # The listener has done its job; left open it would queue a copy of every frame.
            if target.listener is not None:
                target.listener.close()
                target.listener = None
        yield running


@dataclass
class Recorder:
    """A listener keeping every event, with a way to wait for one."""

    events: list[InitiatorEvent] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, event: InitiatorEvent) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[InitiatorEvent], bool], timeout: float) -> InitiatorEvent:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event within {timeout} s: {self.events[-20:]}")
                self.changed.wait(left)

    def diagnostics(self, kind: DiagnosticKind) -> list[str]:
        with self.changed:
            return [e.text for e in self.events if isinstance(e, Diagnostic) and e.kind is kind]


@contextmanager
def initiator(iflist: Sequence[str], **options: Any) -> Iterator[tuple[InitiatorService, Recorder]]:
    service = InitiatorService(InitiatorConfig(iflist=tuple(iflist), **options))
    recorder = Recorder()
    service.add_listener(recorder)
    service.start()
    try:
        yield service, recorder
    finally:
        service.stop()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def random_io(
    service: InitiatorService,
    models: dict[str, bytearray],
    total: int,
    rng: random.Random,
    *,
    inflight: int = 16,
) -> int:
    """Random reads and writes (any size and alignment) over the devices until ``total`` bytes
    have moved, ``inflight`` requests at a time. Requests run in submission order where they
    overlap, so the model is updated, and a read's expected bytes taken, when submitting."""
    names = sorted(models)
    pending: deque[tuple[Future[Any], bytes | None, str]] = deque()
    moved = 0

    def check(item: tuple[Future[Any], bytes | None, str]) -> None:
        future, expected, what = item
        result = future.result(timeout=60)
        if expected is not None:
            assert result == expected, f"{what}: wrong data"

    while moved < total:
        name = rng.choice(names)
        model = models[name]
        shape = rng.random()
        size = (
            rng.randint(1, 4096)
            if shape < 0.3
            else rng.randint(1, 2 * MiB)
            if shape < 0.8
            else rng.randint(1, 64) * 512
        )
        size = min(size, len(model))
        offset = rng.randrange(len(model) - size + 1)
        if rng.random() < 0.5:
            offset -= offset % 512
        what = f"{name} {offset}+{size}"
        if rng.random() < 0.5:
            data = rng.randbytes(size)
            model[offset : offset + size] = data
            pending.append((service.write(name, offset, data), None, "write " + what))
        else:
            pending.append(
                (service.read(name, offset, size), bytes(model[offset : offset + size]), "read " + what)
            )
        moved += size
        while len(pending) >= inflight:
            check(pending.popleft())
    while pending:
        check(pending.popleft())
    return moved


def digest(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()


# -- discovery and data ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_forty_exports_on_two_targets_discovered_and_read_and_written(kind: str, tmp_path: Path) -> None:
    """40 exports over 4 shelves and two target namespaces (jumbo frames): found by the first
    broadcast, by announcements and on request; 256 MiB of random I/O match the files."""
    rng = random.Random(f"forty-{kind}")
    size = 4 * MiB
    with Lab() as lab:
        first, second = make_side(lab, mtu=9000), make_side(lab, mtu=9000)
        exports = {side.ns: [] for side in (first, second)}  # type: dict[str, list[tuple[int, int, Path]]]
        models: dict[str, bytearray] = {}
        for i in range(40):
            side = first if i < 20 else second
            shelf, slot = 10 + i // 10, i % 10
            path = tmp_path / f"e{shelf}.{slot}.img"
            models[f"e{shelf}.{slot}"] = make_disk(path, size, rng)
            exports[side.ns].append((shelf, slot, path))
        with ExitStack() as stack:
            # The first target serves before the initiator starts: only its start-up
            # broadcast can find these. The second starts later: its announcements do.
            stack.enter_context(serve(lab, first, kind, exports[first.ns], tmp_path))
            service, recorder = stack.enter_context(initiator([first.here.ifname, second.here.ifname]))
            for shelf, slot, _ in exports[first.ns]:
                info = service.wait_for_device(f"e{shelf}.{slot}", 20)
                assert info.netif == first.here.ifname
            stack.enter_context(serve(lab, second, kind, exports[second.ns], tmp_path))
            for shelf, slot, _ in exports[second.ns]:
                info = service.wait_for_device(f"e{shelf}.{slot}", 20)
                assert (info.netif, info.sectors, info.payload) == (second.here.ifname, size // 512, 8704)
                assert info.mac == second.there.mac.hex()
            assert sorted(d.name for d in service.devices() if d.up) == sorted(models)

            # On request: forget them all, ask again, and they are back.
            assert sorted(service.flush_devices("all")) == sorted(models)
            assert service.devices() == []
            service.discover()
            for name in models:
                service.wait_for_device(name, 20)

            moved = random_io(service, models, 256 * MiB, rng)
            assert moved >= 256 * MiB
            for side in (first, second):
                for shelf, slot, path in exports[side.ns]:
                    assert digest(path.read_bytes()) == digest(models[f"e{shelf}.{slot}"]), f"e{shelf}.{slot}"
            assert service.counters.aoe_errors == 0
            assert not recorder.diagnostics(DiagnosticKind.DEVICE_DOWN)


# -- deadsecs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_device_goes_down_after_deadsecs_and_comes_back(kind: str, tmp_path: Path) -> None:
    rng = random.Random(f"down-{kind}")
    with Lab() as lab:
        side = make_side(lab)
        path = tmp_path / "disk.img"
        model = make_disk(path, 2 * MiB, rng)
        with initiator([side.here.ifname], deadsecs=3) as (service, recorder):
            with serve(lab, side, kind, [(5, 1, path)], tmp_path):
                service.wait_for_device("e5.1", 20)
                assert service.read("e5.1", 1000, 5000).result(10) == model[1000:6000]
            # The target is gone: the next request waits deadsecs, then fails with EIO.
            started = time.monotonic()
            future = service.read("e5.1", 0, MiB)
            with pytest.raises(OSError) as failure:
                future.result(timeout=20)
            waited = time.monotonic() - started
            assert failure.value.errno == errno.EIO
            assert 3 <= waited < 10, waited
            assert service.device_info("e5.1").state == "down"
            recorder.wait_for(lambda e: isinstance(e, DeviceDown) and e.device.name == "e5.1", 5)
            (line,) = recorder.diagnostics(DiagnosticKind.DEVICE_DOWN)
            assert "e5.1" in line and "down" in line
            # While down, I/O fails at once.
            with pytest.raises(DeviceUnavailable) as refused:
                service.write("e5.1", 0, b"x").result(timeout=5)
            assert refused.value.errno == errno.EIO

            # Back again: its announcement brings the device up and I/O works.
            with serve(lab, side, kind, [(5, 1, path)], tmp_path):
                info = service.wait_for_device("e5.1", 20)
                assert info.state == "up"
                service.write("e5.1", 777, b"back again").result(10)
                model[777:787] = b"back again"
                assert service.read("e5.1", 0, len(model)).result(20) == model
            assert digest(path.read_bytes()) == digest(model)
            assert len(recorder.diagnostics(DiagnosticKind.DEVICE_UP)) == 2
