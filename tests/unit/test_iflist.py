"""parse_iflist, the one reading of an interface list (pyaoe initiator --iflist, the interfaces
control file, InitiatorConfig, set_iflist), against the Linux driver's aoe_iflist rules: names
separated by spaces, tabs, newlines or commas, a NUL-terminated write as aoe-interfaces makes
it, and the driver's refusal of a list of 1024 bytes or more."""

from __future__ import annotations

import pytest

from pyaoe.initiator import InitiatorConfig, parse_iflist
from pyaoe.initiator.options import IFLIST_MAX
from pyaoe.net import aoe_interfaces


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("eth0", ("eth0",)),
        ("eth0 eth1", ("eth0", "eth1")),
        ("eth0,eth1", ("eth0", "eth1")),
        ("eth0, eth1", ("eth0", "eth1")),
        ("  eth0\teth1\n", ("eth0", "eth1")),
        ("eth0\veth1\feth2", ("eth0", "eth1", "eth2")),
        ("eth0 eth1\0", ("eth0", "eth1")),  # aoe-interfaces: printf '%s\0'
        ("eth0 eth0,eth1", ("eth0", "eth1")),
        ("", ()),
        (" , ", ()),
        ("br-lan.10", ("br-lan.10",)),
    ],
)
def test_a_string_is_split_as_the_driver_splits_aoe_iflist(text: str, names: tuple[str, ...]) -> None:
    assert parse_iflist(text) == names


def test_names_are_taken_as_they_are() -> None:
    assert parse_iflist(["eth1", "eth0", "eth1"]) == ("eth1", "eth0")
    assert parse_iflist(()) == ()
    for bad in (["eth0 eth1"], [""], ["a,b"]):
        with pytest.raises(ValueError, match="not an interface name"):
            parse_iflist(bad)


def test_a_list_of_1024_bytes_or_more_is_refused_with_the_drivers_message() -> None:
    fits = " ".join(f"n{i:05d}" for i in range(146)) + " x"
    assert len(fits) == IFLIST_MAX - 1
    assert len(parse_iflist(fits)) == 147
    with pytest.raises(ValueError, match=r"^could not set interface list: too many interfaces$"):
        parse_iflist(fits + "x")


def test_the_config_and_the_interface_scan_take_the_parsed_names() -> None:
    assert InitiatorConfig(iflist="eth0,eth1").iflist == ("eth0", "eth1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parse_iflist"):
        aoe_interfaces("eth0")  # a string would be taken letter by letter
