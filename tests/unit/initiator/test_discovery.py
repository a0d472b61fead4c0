"""Discovery: config replies make devices and targets; impossible addresses are refused."""

from __future__ import annotations

import pytest

from pyaoe.initiator.address import DeviceAddress, parse_device_name
from pyaoe.initiator.device import DeviceState
from pyaoe.initiator.discovery import (
    MAX_DEVICES,
    ConfigReply,
    DeviceTable,
    apply_config_reply,
    build_config_query,
    refusal,
)
from pyaoe.initiator.events import DeviceChanged, DeviceDiscovered, Diagnostic, InitiatorEvent
from pyaoe.initiator.options import InitiatorConfig
from pyaoe.protocol import Command, ConfigArg, decode_frame

MAC_A = bytes.fromhex("0200000000aa")
MAC_B = bytes.fromhex("0200000000bb")
MTUS = {"eth0": 1500, "eth1": 9000}


def reply(
    shelf: int = 1, slot: int = 2, src: bytes = MAC_A, ifname: str = "eth0", bufcnt: int = 16
) -> ConfigReply:
    return ConfigReply(src, ifname, shelf, slot, bufcnt, 0x4019, 17)


def test_first_reply_creates_the_device_and_asks_for_identify() -> None:
    table = DeviceTable()
    events: list[InitiatorEvent] = []
    device, identify = apply_config_reply(table, reply(), InitiatorConfig(), MTUS, events)
    assert device is not None and identify
    assert device.address == DeviceAddress(1, 2)
    assert device.state is DeviceState.NEW
    assert device.firmware_version == 0x4019
    assert device.payload == 1024
    assert isinstance(events[0], DeviceDiscovered)
    assert [e.text for e in events if isinstance(e, Diagnostic)] == [
        "aoe: e1.2: setting 1024 byte data frames"
    ]


def test_window_cap_is_the_smaller_of_bufcnt_and_maxout() -> None:
    table = DeviceTable()
    device, _ = apply_config_reply(table, reply(bufcnt=500), InitiatorConfig(maxout=128), MTUS, [])
    assert device is not None
    assert device.targets[0].window.nframes == 128
    device, _ = apply_config_reply(table, reply(src=MAC_B, bufcnt=8), InitiatorConfig(maxout=128), MTUS, [])
    assert device is not None
    assert device.targets[1].window.nframes == 8


def test_same_device_through_two_macs_and_two_interfaces_is_one_device() -> None:
    table = DeviceTable()
    config = InitiatorConfig()
    for src, ifname in ((MAC_A, "eth0"), (MAC_A, "eth1"), (MAC_B, "eth1")):
        apply_config_reply(table, reply(src=src, ifname=ifname), config, MTUS, [])
    assert len(table) == 1
    device = table.get(DeviceAddress(1, 2))
    assert device is not None
    assert [(t.mac, t.ifaces) for t in device.targets] == [(MAC_A, ["eth0", "eth1"]), (MAC_B, ["eth1"])]
    assert device.targets[1].payload == 17 * 512
    assert device.payload == 1024


def test_an_up_device_reports_a_new_target_as_a_change() -> None:
    table = DeviceTable()
    device, _ = apply_config_reply(table, reply(), InitiatorConfig(), MTUS, [])
    assert device is not None
    device.state = DeviceState.UP
    events: list[InitiatorEvent] = []
    apply_config_reply(table, reply(src=MAC_B), InitiatorConfig(), MTUS, events)
    changes = [e for e in events if isinstance(e, DeviceChanged)]
    assert [c.what for c in changes] == ["target"]


def test_an_open_device_is_not_identified_again_and_keeps_its_firmware_version() -> None:
    table = DeviceTable()
    device, _ = apply_config_reply(table, reply(), InitiatorConfig(), MTUS, [])
    assert device is not None
    device.open_count = 1
    newer = ConfigReply(MAC_A, "eth0", 1, 2, 16, 0x5000, 17)
    again, identify = apply_config_reply(table, newer, InitiatorConfig(), MTUS, [])
    assert again is device and not identify
    assert device.firmware_version == 0x4019


@pytest.mark.parametrize(
    ("shelf", "slot", "text"),
    [
        (0xFFFF, 1, "aoe: e65535.1: broadcast shelf number invalid"),
        (1, 0xFF, "aoe: e1.255: broadcast slot number invalid"),
        (0x0FFF, 1, "aoe: Warning: shelf address is all ones.  Check shelf dip switches."),
    ],
)
def test_broadcast_and_all_ones_addresses_are_refused(shelf: int, slot: int, text: str) -> None:
    table = DeviceTable()
    events: list[InitiatorEvent] = []
    device, identify = apply_config_reply(table, reply(shelf, slot), InitiatorConfig(), MTUS, events)
    assert device is None and not identify and len(table) == 0
    assert [e.text for e in events if isinstance(e, Diagnostic)] == [text]


def test_static_minors_allow_slots_0_to_15_only() -> None:
    assert refusal(1, 15, dyndevs=False) is None
    assert "only 16 slots per shelf" in (refusal(1, 16, dyndevs=False) or "")
    assert refusal(1, 16, dyndevs=True) is None
    assert refusal(4096, 0, dyndevs=False) is not None


def test_minor_numbers_dynamic_first_free_and_static_from_the_address() -> None:
    dynamic = DeviceTable(dyndevs=True)
    a = dynamic.create(DeviceAddress(7, 3))
    b = dynamic.create(DeviceAddress(1, 0))
    assert a is not None and b is not None
    assert (a.minor, b.minor) == (0, 16)
    dynamic.remove(a.address)
    c = dynamic.create(DeviceAddress(2, 2))
    assert c is not None and c.minor == 0
    static = DeviceTable(dyndevs=False)
    d = static.create(DeviceAddress(2, 3))
    assert d is not None and d.minor == (2 * 16 + 3) * 16


def test_device_names_parse_like_the_drivers() -> None:
    assert parse_device_name("e1.2") == DeviceAddress(1, 2)
    assert parse_device_name("7.0").name == "e7.0"
    for bad in ("e1", "ex.y", "e70000.1", "e1.255", ""):
        with pytest.raises(ValueError):
            parse_device_name(bad)


@pytest.mark.timeout(30)
def test_every_dynamic_minor_is_handed_out_first_free_first_without_a_scan() -> None:
    """Found by fuzzing a flood of config answers from new addresses: each new device scanned
    every minor in use, so filling the table took minutes of the I/O thread."""
    table = DeviceTable(dyndevs=True)
    addresses = [DeviceAddress(i // 200, i % 200) for i in range(MAX_DEVICES)]
    for i, address in enumerate(addresses):
        device = table.create(address)
        assert device is not None and device.minor == i * 16
    assert table.create(DeviceAddress(60000, 1)) is None  # every minor taken
    for i in (70, 5, 40000):
        table.remove(addresses[i])
    for i in (5, 70, 40000):  # the smallest free minor first, as the driver's bitmap search
        device = table.create(DeviceAddress(60001, i % 200))
        assert device is not None and device.minor == i * 16
    assert table.create(DeviceAddress(60002, 0)) is None


def test_config_query_is_a_broadcast_read_with_tag_zero_padded_to_sixty_bytes() -> None:
    frame = build_config_query(b"\x02" * 6, 0xFFFF, 0xFF)
    assert len(frame) == 60
    decoded = decode_frame(frame)
    assert decoded.header.dst == b"\xff" * 6 and decoded.header.command == Command.QUERY_CONFIG
    assert (decoded.header.shelf, decoded.header.slot, decoded.header.tag) == (0xFFFF, 0xFF, 0)
    assert decoded.arg == ConfigArg()
