"""Tests of pyaoe.protocol.ethernet: MAC parsing and formatting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.protocol import format_mac, parse_mac
from pyaoe.protocol.ethernet import is_multicast

MAC = bytes.fromhex("001122334455")


@pytest.mark.parametrize(
    "text",
    [
        "00:11:22:33:44:55",
        "001122334455",
        "00-11-22-33-44-55",
        "00:11:22:33:44:55".upper(),
        "0:11:22:33:44:55",
        "  00:11:22:33:44:55\n",
        "0011.2233.4455",
    ],
)
def test_parse_mac_accepts(text: str) -> None:
    assert parse_mac(text) == MAC


def test_parse_mac_upper_case_hex() -> None:
    assert parse_mac("AA:BB:CC:DD:EE:FF") == bytes.fromhex("aabbccddeeff")
    assert parse_mac("AABBCCDDEEFF") == bytes.fromhex("aabbccddeeff")
    assert parse_mac("aA-bB-cC-dD-eE-fF") == bytes.fromhex("aabbccddeeff")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "junk",
        "00:11:22:33:44",
        "00:11:22:33:44:55:66",
        "00:11:22:33:44:5g",
        "0011223344",
        "00112233445566",
        "00:11-22:33:44:55",
        "000:11:22:33:44:55",
        "00::22:33:44:55",
        "0x:11:22:33:44:55",
        "00 11 22 33 44 55",
        "00:11:22:33:44:55:",
        "g01122334455",
        "eth0",
    ],
)
def test_parse_mac_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError, match="not a MAC address"):
        parse_mac(text)


@settings(max_examples=200)
@given(st.binary(min_size=6, max_size=6), st.sampled_from([":", "-", ""]))
def test_format_then_parse_round_trip(mac: bytes, sep: str) -> None:
    text = format_mac(mac, sep)
    assert parse_mac(text) == mac
    assert parse_mac(text.upper()) == mac


@settings(max_examples=200)
@given(st.text(max_size=20))
def test_parse_mac_raises_only_value_error(text: str) -> None:
    try:
        mac = parse_mac(text)
    except ValueError:
        return
    assert len(mac) == 6


def test_format_mac() -> None:
    assert format_mac(MAC) == "00:11:22:33:44:55"
    assert format_mac(MAC, "") == "001122334455"
    assert format_mac(MAC, "-") == "00-11-22-33-44-55"


def test_is_multicast() -> None:
    assert is_multicast(b"\xff" * 6)
    assert is_multicast(bytes.fromhex("01005e000001"))
    assert not is_multicast(MAC)
    assert not is_multicast(bytes.fromhex("020000000001"))
