"""The initiator's stats from the engine's own events: retransmits by path (target MAC and the
interface they went out on) read from the real retransmit lines of an engine on a lossy wire,
errors by kind per device, and the snapshot's sums agreeing with the engine's counters."""

from __future__ import annotations

from pyaoe.initiator import DeviceAddress, Diagnostic, InitiatorConfig
from pyaoe.protocol import format_mac
from pyaoe.service.initiator.stats import EventTally, InterfaceCounters, snapshot
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target import Export, ExportConfig, TargetEngine
from pyaoe.testing import EnginePair, LossyWire, engine_pair

TARGET_MAC = bytes.fromhex("0200000000a1")
ETH0, ETH1 = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
SIZE = 256 * 1024
E1_0 = DeviceAddress(1, 0)


def pair_over_two_interfaces(loss: float, deadsecs: float = 60.0) -> EnginePair:
    target = TargetEngine(
        mac=TARGET_MAC, mtu=1500, exports=[Export(ExportConfig(shelf=1, slot=0), MemoryBackend(SIZE))]
    )
    pair = engine_pair(
        [target],
        config=InitiatorConfig(deadsecs=deadsecs),
        interfaces={"eth0": (ETH0, 1500), "eth1": (ETH1, 1500)},
        wire=LossyWire(seed=7, loss=loss, delay=0.0005),
    )
    pair.segments["eth1"] = "eth0"  # both interfaces reach the target
    return pair


def tally_of(pair: EnginePair) -> EventTally:
    tally = EventTally()
    for event in pair.events_of(Diagnostic):
        tally.diagnostic(event, pair.initiator.interfaces)
    return tally


def test_retransmits_are_counted_by_target_and_interface() -> None:
    pair = pair_over_two_interfaces(loss=0.1)
    pair.wait_up("e1.0")
    pair.run_until(lambda: len(pair.initiator.device_info("e1.0").targets[0].interfaces) == 2)
    for offset in range(0, SIZE, 16 * 1024):
        pair.write("e1.0", offset, bytes(16 * 1024))
    engine = pair.initiator
    stats = snapshot(engine.devices(), tally_of(pair), engine.interfaces, {}, engine.counters, 0, 0)
    (device,) = stats.devices
    (path,) = device.paths
    assert engine.counters.retransmits > 0
    assert device.retransmits == path.retransmits == engine.counters.retransmits
    assert path.target == format_mac(TARGET_MAC)
    assert set(path.retransmits_by_interface) == {"eth0", "eth1"}
    assert sum(path.retransmits_by_interface.values()) == engine.counters.retransmits
    assert device.errors == {"aoe": 0, "ata": 0, "down": 0}
    assert device.frames_sent == path.frames_sent > SIZE // 1024


def test_a_device_going_down_is_an_error_of_its_own_and_flush_forgets_it() -> None:
    pair = pair_over_two_interfaces(loss=0.0, deadsecs=2.0)
    pair.wait_up("e1.0")
    pair.set_alive(0, False)
    pair.initiator.submit_read("e1.0", 0, 4096)
    pair.run_for(1.5)
    # Past deadsecs in one step: a clock stopped exactly on first_sent + deadsecs can find
    # now - first_sent a rounding short of deadsecs (the engine then resends at once, forever).
    pair.clock.advance(1.0)
    pair.settle()
    tally = tally_of(pair)
    engine = pair.initiator
    stats = snapshot(engine.devices(), tally, engine.interfaces, {}, engine.counters, 0, 0)
    (device,) = stats.devices
    assert (device.state, device.errors["down"]) == ("down", 1)
    assert device.retransmits >= 1
    engine.flush("e1.0")
    tally.forget(E1_0)
    assert tally.devices == {}


def test_interfaces_in_use_and_gone_are_both_shown() -> None:
    counters = {"eth0": InterfaceCounters(frames_sent=5), "old0": InterfaceCounters(link_down=1)}
    pair = pair_over_two_interfaces(loss=0.0)
    engine = pair.initiator
    stats = snapshot([], EventTally(), {"eth0": (ETH0, 1500)}, counters, engine.counters, 3, 1)
    shown = {
        i.name: (i.in_use, i.mac, i.counters.frames_sent, i.counters.link_down) for i in stats.interfaces
    }
    assert shown == {"eth0": (True, format_mac(ETH0), 5, 0), "old0": (False, "", 0, 1)}
    counters["eth0"].frames_sent += 1  # the loop goes on counting: the snapshot does not move
    assert stats.interfaces[0].counters.frames_sent == 5
    data = stats.as_dict()
    assert data["initiator"]["requests_in_flight"] == 3 and data["initiator"]["listener_errors"] == 1
