"""pyaoe's initiator service against real targets over veth pairs: Debian's vblade and pyaoe's own
target, in network namespaces, with the initiator's interfaces in the root namespace.

Discovery (at start, from announcements, on request), random unaligned I/O checked against the
backing files, deadsecs down/up, failover between target MACs and between local interfaces, and
frames lost or duplicated by nftables rules inside the target namespaces.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pyaoe.errors import DeviceUnavailable
from pyaoe.initiator import DeviceDown, Diagnostic, DiagnosticKind, InitiatorConfig, InitiatorEvent
from pyaoe.lab.netns import Lab, Link, in_netns
from pyaoe.service.initiator import AsyncInitiator, InitiatorService
from support.target import PYAOE_TARGET, RunningTarget, start_target
from support.wait import wait_until

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
            # The target is gone: the next request waits deadsecs, then fails with EIO. (Not
            # sooner: a lower bound is the behaviour; how much later depends on the machine.)
            started = time.monotonic()
            future = service.read("e5.1", 0, MiB)
            with pytest.raises(OSError) as failure:
                future.result(timeout=60)
            assert time.monotonic() - started >= 3
            assert failure.value.errno == errno.EIO
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


# -- failover ----------------------------------------------------------------------------------
def copy_in_chunks(
    service: InitiatorService,
    name: str,
    data: bytes,
    chunk: int,
    *,
    inflight: int = 8,
    midway: Callable[[], None] | None = None,
) -> None:
    """Write ``data`` at offset 0 in chunks, ``inflight`` at a time; call ``midway()`` once a
    quarter of the chunks are done (with the rest still being written)."""
    pending: deque[Future[None]] = deque()
    done = 0
    for offset in range(0, len(data), chunk):
        pending.append(service.write(name, offset, data[offset : offset + chunk]))
        while len(pending) >= inflight:
            pending.popleft().result(timeout=60)
            done += 1
            if midway is not None and done == len(data) // chunk // 4:
                midway()
    for future in pending:
        future.result(timeout=60)


def test_copy_completes_through_the_other_target_when_one_dies(tmp_path: Path) -> None:
    """One device (e7.0) served by two vblades with two MACs in two namespaces: kill one in the
    middle of a copy and every write is still acknowledged, through the survivor."""
    rng = random.Random("failover-mac")
    with Lab() as lab:
        first, second = make_side(lab), make_side(lab)
        path = tmp_path / "shared.img"
        make_disk(path, 48 * MiB, rng)
        with ExitStack() as stack:
            targets = [
                stack.enter_context(serve(lab, side, "vblade", [(7, 0, path)], tmp_path))[0]
                for side in (first, second)
            ]
            service, recorder = stack.enter_context(
                initiator([first.here.ifname, second.here.ifname], deadsecs=10)
            )
            service.wait_for_device("e7.0", 20)
            wait_until(lambda: len(service.device_info("e7.0").targets) == 2, 10, "both targets known")
            data = rng.randbytes(32 * MiB)
            copy_in_chunks(service, "e7.0", data, MiB, midway=lambda: targets[0].proc.kill())
            assert not targets[0].alive()
            assert service.read("e7.0", 0, len(data)).result(timeout=60) == data
            assert path.read_bytes()[: len(data)] == data
            info = service.device_info("e7.0")
            assert info.state == "up"
            assert all(t.writes > 0 for t in info.targets), info.targets
            survivor = next(t for t in info.targets if t.mac == second.there.mac)
            assert survivor.taint == 0
            assert service.counters.retransmits > 0
            assert recorder.diagnostics(DiagnosticKind.RETRANSMIT)


def test_copy_completes_through_the_other_interface_when_one_goes_down(tmp_path: Path) -> None:
    """One target reached through two local interfaces (a bridge on its side): frames use both,
    and when one interface goes down mid-copy the copy finishes through the other, the I/O thread
    lives on (a receive may hear ENETDOWN first) and the stats count the link going down. When
    it comes back, the scan takes it again, a discovery finds the target through it, and frames
    go out on it again."""
    rng = random.Random("failover-if")
    with Lab() as lab:
        ns = lab.netns("aoebr")
        bridge = lab.bridge(ns)
        links = [lab.veth(None, ns) for _ in range(2)]
        for _here, there in links:
            lab.attach(there, bridge)
        side = Side(ns, links[0][0], bridge)
        path = tmp_path / "disk.img"
        make_disk(path, 40 * MiB, rng)
        with ExitStack() as stack:
            stack.enter_context(serve(lab, side, "vblade", [(8, 1, path)], tmp_path))
            names = [here.ifname for here, _there in links]
            service, _recorder = stack.enter_context(initiator(names, deadsecs=10))
            service.wait_for_device("e8.1", 20)
            wait_until(
                lambda: set(service.device_info("e8.1").netif.split(",")) == set(names),
                10,
                "both interfaces in use",
            )
            data = rng.randbytes(32 * MiB)
            copy_in_chunks(service, "e8.1", data, MiB, midway=lambda: links[0][0].set_up(False))
            assert service.read("e8.1", 0, len(data)).result(timeout=60) == data
            assert path.read_bytes()[: len(data)] == data
            info = service.device_info("e8.1")
            assert (info.state, info.netif) == ("up", names[1])
            assert names[0] not in service.interfaces
            interfaces = {i.name: i for i in service.stats().interfaces}
            assert not interfaces[names[0]].in_use and interfaces[names[1]].in_use
            assert (interfaces[names[0]].counters.link_down, interfaces[names[1]].counters.link_down) == (
                1,
                0,
            )
            sent_before = interfaces[names[0]].counters.frames_sent

            links[0][0].set_up(True)
            wait_until(
                lambda: set(service.device_info("e8.1").netif.split(",")) == set(names),
                20,
                "the interface back in use",
            )
            more = rng.randbytes(8 * MiB)
            copy_in_chunks(service, "e8.1", more, MiB)
            assert service.read("e8.1", 0, len(more)).result(timeout=60) == more
            interfaces = {i.name: i for i in service.stats().interfaces}
            assert interfaces[names[0]].in_use and interfaces[names[0]].counters.frames_sent > sent_before
            assert interfaces[names[0]].counters.link_down == 1 and service.running


# -- a lossy wire ------------------------------------------------------------------------------
LOSSY_RULES = """
table netdev pyaoe_lossy {{
    chain requests {{
        type filter hook ingress device "{ifname}" priority 0;
        ether type 0x88a2 numgen random mod 100 < {drop} drop
    }}
    chain answers {{
        type filter hook egress device "{ifname}" priority 0;
        ether type 0x88a2 meta mark != 0x42 numgen random mod 100 < {dup} meta mark set 0x42 dup to "{ifname}"
    }}
}}
"""


def test_copy_over_a_wire_that_loses_and_duplicates_frames(tmp_path: Path) -> None:
    """nftables in the target's namespace drops 5 % of the requests and duplicates 5 % of the
    answers: a 256 MiB copy still lands intact, and the retransmits show in the err lines."""
    rng = random.Random("lossy")
    size = 256 * MiB
    with Lab() as lab:
        side = make_side(lab, mtu=9000)
        rules = LOSSY_RULES.format(ifname=side.there.ifname, drop=5, dup=5)
        nft = lab.run(side.ns, ["nft", "-f", "-"], input=rules)
        assert nft.returncode == 0, nft.stderr
        path = tmp_path / "disk.img"
        path.write_bytes(bytes(size))
        with ExitStack() as stack:
            stack.enter_context(serve(lab, side, "pyaoe", [(9, 9, path)], tmp_path))
            service, recorder = stack.enter_context(initiator([side.here.ifname], deadsecs=30))
            service.wait_for_device("e9.9", 20)
            data = b"".join(rng.randbytes(MiB) for _ in range(size // MiB))
            copy_in_chunks(service, "e9.9", data, 4 * MiB)
            assert digest(path.read_bytes()) == digest(data)
            assert service.read("e9.9", size - 5 * MiB - 3, 5 * MiB).result(60) == data[-5 * MiB - 3 : -3]
            counters = service.counters
            retransmits = recorder.diagnostics(DiagnosticKind.RETRANSMIT)
            assert counters.retransmits > 0
            assert len(retransmits) == counters.retransmits
            assert "retransmit" in retransmits[0] and "e9.9" in retransmits[0]
            # Duplicated answers arrive for frames already done: counted, never harmful.
            assert counters.unexpected_responses > 0


# -- interfaces --------------------------------------------------------------------------------
def test_no_iflist_means_every_up_ethernet_interface_but_loopback(tmp_path: Path) -> None:
    """Started inside a namespace with no iflist, the initiator uses the up veths there (not lo,
    not a down one), finds devices behind each, and follows set_iflist."""
    rng = random.Random("iflist")
    with Lab() as lab:
        home = lab.netns("aoeini")
        sides = []
        for _ in range(2):
            ns = lab.netns("aoetg")
            here, there = lab.veth(home, ns)
            sides.append(Side(ns, here, there))
        down, _ = lab.veth(home, None)
        down.set_up(False)
        paths = [tmp_path / f"disk{i}.img" for i in range(2)]
        for path in paths:
            make_disk(path, MiB, rng)
        with ExitStack() as stack:
            for i, side in enumerate(sides):
                stack.enter_context(serve(lab, side, "vblade", [(3, i, paths[i])], tmp_path))
            service = InitiatorService(InitiatorConfig(deadsecs=5))
            with in_netns(home):
                service.start()  # its sockets and its thread live in ``home``
            stack.callback(service.stop)
            names = {side.here.ifname for side in sides}
            assert set(service.interfaces) == names
            assert service.iflist == ()
            assert {service.wait_for_device(f"e3.{i}", 20).netif for i in range(2)} == names
            assert service.read("e3.1", 3, 10).result(10) == paths[1].read_bytes()[3:13]

            only = sides[0].here.ifname
            service.set_iflist(only)
            iflist: tuple[str, ...] = service.iflist
            assert (iflist, set(service.interfaces)) == ((only,), {only})
            assert service.config.iflist == (only,)
            assert service.device_info("e3.1").netif == "none"
            with pytest.raises(OSError):
                service.read("e3.1", 0, 512).result(15)
            service.set_iflist([])
            assert set(service.interfaces) == names
            with pytest.raises(ValueError):
                service.set_iflist(["x" * 15] * 100)


def test_mtu_changes_follow_the_interface(tmp_path: Path) -> None:
    """The payload follows the local MTU: 1024 bytes at 1500, 8704 once it is raised to 9000
    (new buffers), 1024 again when lowered; I/O works at each step."""
    rng = random.Random("mtu")
    with Lab() as lab:
        side = make_side(lab, mtu=9000)
        side.here.set_mtu(1500)
        path = tmp_path / "disk.img"
        model = make_disk(path, 4 * MiB, rng)
        with (
            serve(lab, side, "vblade", [(4, 2, path)], tmp_path),
            initiator([side.here.ifname]) as (
                service,
                _recorder,
            ),
        ):
            assert service.wait_for_device("e4.2", 20).payload == 1024
            for mtu, payload in ((9000, 8704), (1500, 1024), (9000, 8704)):
                side.here.set_mtu(mtu)

                def payload_is(expected: int = payload) -> bool:
                    return service.device_info("e4.2").payload == expected

                wait_until(payload_is, 10, f"payload {payload}")
                assert service.interfaces[side.here.ifname][1] == mtu
                data = rng.randbytes(MiB + 1)
                model[100 : 100 + len(data)] = data
                service.write("e4.2", 100, data).result(20)
                assert service.read("e4.2", 0, len(model)).result(20) == model
            # No frame was lost to an MTU change (one built for the old MTU and refused): a
            # retransmit is allowed only when the original was answered too, i.e. when a busy
            # machine made the timer fire early (the late answer counts as unexpected).
            counters = service.counters
            assert counters.retransmits <= counters.unexpected_responses, counters


# -- the API's edges ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_vblade(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Side, Path]]:
    """Debian's vblade serving e6.6 (8 MiB of random bytes) for the tests below."""
    tmp = tmp_path_factory.mktemp("one")
    path = tmp / "disk.img"
    make_disk(path, 8 * MiB, random.Random("one"))
    with Lab() as lab:
        side = make_side(lab)
        with serve(lab, side, "vblade", [(6, 6, path)], tmp):
            yield lab, side, path


def test_requests_fail_cleanly_on_misuse_and_on_stop(one_vblade: tuple[Lab, Side, Path]) -> None:
    _lab, side, path = one_vblade
    disk = path.read_bytes()
    with initiator([side.here.ifname], deadsecs=3) as (service, _recorder):
        info = service.wait_for_device("e6.6", 20)
        assert (info.sectors, info.state, info.mac) == (len(disk) // 512, "up", side.there.mac.hex())
        with pytest.raises(DeviceUnavailable):
            service.read("e99.9", 0, 1).result(5)
        with pytest.raises(ValueError):
            service.read("e6.6", len(disk) - 10, 11).result(5)
        with pytest.raises(ValueError):
            service.write((6, 6), -1, b"x").result(5)
        with pytest.raises(DeviceUnavailable):
            service.revalidate("e99.9")
        with pytest.raises(TimeoutError):
            service.wait_for_device("e99.9", 0.2)
        assert service.read("e6.6", 5, 0).result(5) == b""
        buffer = bytearray(1000)
        assert service.read_into("e6.6", 513, buffer).result(5) == 1000
        assert buffer == disk[513:1513]
        whole = memoryview(bytearray(3 * MiB))[MiB:]  # whole sectors: straight from the frames
        assert service.read_into("e6.6", 4096, whole).result(5) == 2 * MiB
        assert whole == disk[4096 : 4096 + 2 * MiB]
        service.flush_cache("e6.6").result(5)

        service.open_device("e6.6")
        assert service.device_info("e6.6").open_count == 1
        service.close_device("e6.6")
        service.revalidate("e6.6")
        assert service.wait_for_device("e6.6", 10).sectors == len(disk) // 512
        assert service.flush_devices("") == []  # nothing is down

        # Stopping fails what is still pending, and everything after. With no interface left
        # the read can only wait (deadsecs is 3 s): it is pending when stop() comes.
        service.set_iflist("pyaoe-none0")
        pending = service.read("e6.6", 0, 4096)
        service.stop()
        with pytest.raises(DeviceUnavailable, match="stopped") as stopped:
            pending.result(5)
        assert stopped.value.errno == errno.EIO
        with pytest.raises(DeviceUnavailable):
            service.read("e6.6", 0, 1).result(5)
        assert not service.running


def test_an_engine_failure_stops_the_service_and_fails_what_waits(one_vblade: tuple[Lab, Side, Path]) -> None:
    """Fail-stop: an unexpected error on the I/O thread fails every waiting request with EIO
    and says why on the err stream; later calls fail at once."""
    _lab, side, _path = one_vblade
    with initiator([side.here.ifname]) as (service, recorder):
        service.wait_for_device("e6.6", 20)

        def broken(*args: object) -> list[int]:
            raise RuntimeError("boom")

        def install(now: float) -> None:
            engine: Any = service._io.engine
            engine.frames_to_send_into = broken
            engine.frames_to_send = broken

        # A read waits (no interface: nowhere to send it); then the engine's sending breaks.
        service.set_iflist("pyaoe-none0")
        waiting = service.read("e6.6", 0, 4096)
        service.call(install)
        with pytest.raises(DeviceUnavailable, match="boom") as failure:
            waiting.result(10)
        assert failure.value.errno == errno.EIO
        wait_until(lambda: not service.running, 5, "the I/O thread ended")
        (line,) = recorder.diagnostics(DiagnosticKind.INFO)[-1:]
        assert "failed" in line and "boom" in line
        with pytest.raises(DeviceUnavailable):
            service.read("e6.6", 0, 1).result(5)


def test_a_listener_that_raises_is_counted_and_logged_and_the_io_goes_on(
    one_vblade: tuple[Lab, Side, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _lab, side, path = one_vblade

    def broken(event: InitiatorEvent) -> None:
        raise ValueError(f"listener bug on {type(event).__name__}")

    service = InitiatorService(InitiatorConfig(iflist=(side.here.ifname,)))
    service.add_listener(broken)  # before start: it hears the discovery's events
    service.start()
    try:
        service.wait_for_device("e6.6", 20)
        assert service.read("e6.6", 0, 4096).result(10) == path.read_bytes()[:4096]
        assert service.running and service.listener_errors >= 1
    finally:
        service.stop()
    failures = [r for r in caplog.records if r.getMessage().startswith("an initiator listener failed")]
    assert len(failures) == service.listener_errors
    assert failures[0].exc_info is not None and "listener bug" in str(failures[0].exc_info[1])


def test_async_initiator_runs_reads_and_writes_concurrently(one_vblade: tuple[Lab, Side, Path]) -> None:
    _lab, side, path = one_vblade
    rng = random.Random("async")

    async def main() -> bytearray:
        async with AsyncInitiator(InitiatorConfig(iflist=(side.here.ifname,))) as ini:
            info = await ini.wait_for_device("e6.6", 20)
            size = info.sectors * 512
            model = bytearray(await ini.read("e6.6", 0, size))
            assert model == path.read_bytes()
            ops: list[tuple[Awaitable[Any], bytes | None]] = []
            for _ in range(48):
                offset, length = rng.randrange(size - 70000), rng.randint(1, 70000)
                if rng.random() < 0.5:
                    data = rng.randbytes(length)
                    model[offset : offset + length] = data
                    ops.append((ini.write("e6.6", offset, data), None))
                else:
                    ops.append((ini.read("e6.6", offset, length), bytes(model[offset : offset + length])))
            # All submitted before any is awaited: they are in flight together.
            tasks = [asyncio.ensure_future(op) for op, _ in ops]
            results = await asyncio.gather(*tasks)
            for result, (_op, expected) in zip(results, ops, strict=True):
                assert result == expected
            assert await ini.read("e6.6", 0, size) == model
            await ini.flush_cache("e6.6")
            assert [d.name for d in await ini.devices()] == ["e6.6"]
            return model

    model = asyncio.run(main())
    assert path.read_bytes() == model
