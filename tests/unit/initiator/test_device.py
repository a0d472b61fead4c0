"""Device and Target: payload, target choice, taint, interface rotation, the sysfs snapshot."""

from __future__ import annotations

from pyaoe.initiator.address import DeviceAddress
from pyaoe.initiator.device import MAX_INTERFACES, MAX_TAINT, Device, DeviceState, Target
from pyaoe.initiator.events import DeviceChanged, Diagnostic, DiagnosticKind
from pyaoe.initiator.rtt import RttEstimator
from pyaoe.protocol import LBA28_MAX, build_identify, parse_identify

MAC_A = bytes.fromhex("0200000000aa")
MAC_B = bytes.fromhex("0200000000bb")


def make_device(*targets: tuple[bytes, int, list[str]]) -> Device:
    device = Device(DeviceAddress(1, 2), minor=0)
    for mac, bufcnt, ifaces in targets:
        target = Target(device, mac, bufcnt, maxout=128, rtt=RttEstimator())
        target.sector_count = 17
        for name in ifaces:
            target.paths.add(name)
        device.targets.append(target)
    return device


def test_payload_is_the_smaller_of_mtu_and_target_sector_count_over_every_path() -> None:
    device = make_device((MAC_A, 16, ["eth0", "eth1"]), (MAC_B, 16, ["eth0"]))
    assert device.compute_payload({"eth0": 9000, "eth1": 9000}) == 17 * 512
    # One slow interface lowers its target, and the device takes the smallest target.
    assert device.compute_payload({"eth0": 9000, "eth1": 1500}) == 1024
    assert device.targets[1].payload == 17 * 512


def test_target_sector_count_zero_means_two() -> None:
    device = make_device((MAC_A, 16, ["eth0"]))
    device.targets[0].sector_count = 0
    assert device.compute_payload({"eth0": 9000}) == 1024


def test_mtu_4200_carries_eight_sectors() -> None:
    device = make_device((MAC_A, 16, ["eth0"]))
    assert device.compute_payload({"eth0": 4200}) == 4096


def test_targets_take_frames_in_turn_while_they_have_room() -> None:
    device = make_device((MAC_A, 4, ["eth0"]), (MAC_B, 4, ["eth0"]))
    picked = []
    for _ in range(4):
        target = device.pick_target()
        assert target is not None
        target.nout += 1
        picked.append(target.mac)
    assert picked == [MAC_A, MAC_B, MAC_A, MAC_B]
    # Both windows (2 frames each) are full now.
    assert device.pick_target() is None


def test_tainted_target_is_passed_over_while_an_untainted_one_exists() -> None:
    device = make_device((MAC_A, 4, ["eth0"]), (MAC_B, 4, ["eth0"]))
    device.targets[0].scorn()
    assert device.targets[0].taint == 3
    picked = [device.pick_target() for _ in range(3)]
    assert {t.mac for t in picked if t is not None} == {MAC_B} and None not in picked
    device.targets[1].nout = device.targets[1].window.maxout
    assert device.pick_target() is None  # the clean one is full: wait, do not use the tainted one


def test_all_tainted_targets_are_still_used() -> None:
    device = make_device((MAC_A, 4, ["eth0"]), (MAC_B, 4, ["eth0"]))
    for t in device.targets:
        t.scorn()
    assert device.pick_target() is not None


def test_taint_grows_about_threefold_and_is_capped() -> None:
    device = make_device((MAC_A, 4, ["eth0"]))
    target = device.targets[0]
    seen = []
    for _ in range(8):
        target.scorn()
        seen.append(target.taint)
    assert seen[:4] == [3, 12, 39, 120]
    assert seen[-1] == MAX_TAINT


def test_target_without_interfaces_is_not_used() -> None:
    device = make_device((MAC_A, 4, []))
    assert device.pick_target() is None


def test_a_target_remembers_at_most_eight_interfaces() -> None:
    device = make_device((MAC_A, 4, [f"eth{i}" for i in range(8)]))
    device.targets[0].paths.add("eth9")
    assert len(device.targets[0].ifaces) == MAX_INTERFACES


def test_state_strings_are_the_drivers() -> None:
    device = make_device((MAC_A, 4, ["eth0"]))
    assert device.state_string == "down"  # discovered, not identified yet
    device.state = DeviceState.UP
    assert device.state_string == "up"
    device.open_count = 1
    assert device.state_string == "up"
    device.state = DeviceState.DOWN
    assert device.state_string == "down,closewait"
    device.open_count = 0
    assert device.state_string == "down"


def test_snapshot_shows_first_mac_as_twelve_hex_digits_and_netifs_comma_separated() -> None:
    device = make_device((MAC_A, 4, ["eth0", "eth1"]), (MAC_B, 4, ["eth1", "eth2"]))
    device.compute_payload({"eth0": 1500, "eth1": 1500, "eth2": 1500})
    info = device.info()
    assert info.name == "e1.2"
    assert info.mac == "0200000000aa"
    assert info.netif == "eth0,eth1,eth2"
    assert info.payload == 1024
    assert [t.mac for t in info.targets] == [MAC_A, MAC_B]


def test_snapshot_of_a_device_without_targets_says_none() -> None:
    info = Device(DeviceAddress(0, 0), minor=0).info()
    assert (info.mac, info.netif, info.state) == ("none", "none", "down")


def test_a_resend_or_flush_keeps_its_target_while_it_answers_and_has_room() -> None:
    device = make_device((MAC_A, 4, ["eth0"]), (MAC_B, 4, ["eth0"]))
    a, b = device.targets
    assert device.choose_target(a) is a
    a.nout = a.window.maxout
    assert device.choose_target(a) is None  # full: wait for it rather than move
    a.nout = 0
    a.scorn()
    assert device.choose_target(a) is b  # tainted while b is not: b
    gone = Target(device, bytes(6), 4, maxout=128, rtt=RttEstimator())
    assert device.choose_target(gone) in (a, b)


def test_identify_brings_a_device_up_and_reports_a_new_capacity() -> None:
    device = make_device((MAC_A, 4, ["eth0"]))
    events = device.apply_identify(parse_identify(build_identify(4096)), MAC_A)
    assert device.state is DeviceState.UP and device.sectors == 4096 and device.lba48
    assert [type(e).__name__ for e in events] == ["DeviceUp", "Diagnostic"]
    assert device.apply_identify(parse_identify(build_identify(4096)), MAC_A) == []
    (line, changed) = device.apply_identify(parse_identify(build_identify(8192)), MAC_A)
    assert isinstance(changed, DeviceChanged) and changed.sectors == 8192 and changed.what == "capacity"
    assert line == Diagnostic(
        DiagnosticKind.INFO, "aoe: 0200000000aa e1.2 v0000 has 8192 sectors", device.address
    )


def test_without_lba48_only_two_to_the_28_sectors_are_used() -> None:
    """Words 60-61 hold 32 bits; LBA28 registers address 2**28 sectors, so a larger claim is
    cut (a read beyond would otherwise carry a wrong LBA)."""
    page = bytearray(build_identify(LBA28_MAX + 1))
    page[83 * 2 + 1] &= ~0x04  # word 83 bit 10: no LBA48
    page[60 * 2 : 62 * 2] = (0xFFFFFFFF).to_bytes(4, "little")
    info = parse_identify(bytes(page))
    assert not info.lba48 and info.sectors == 0xFFFFFFFF
    device = make_device((MAC_A, 4, ["eth0"]))
    device.apply_identify(info, MAC_A)
    assert device.sectors == LBA28_MAX + 1
