"""Tests of pyaoe.protocol.identify: the IDENTIFY DEVICE page a target builds and an initiator reads."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyaoe.errors import FrameError
from pyaoe.protocol import LBA28_MAX, LBA48_MAX, build_identify, parse_identify

#: Printable ASCII with no trailing blank (the page pads with blanks, and parsing cuts them).
ata_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=8).flatmap(
    lambda head: st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12).map(
        lambda tail: (tail + head).rstrip(" ")
    )
)


def words(page: bytes) -> tuple[int, ...]:
    return struct.unpack("<256H", page)


@settings(max_examples=200)
@given(
    sectors=st.one_of(st.integers(0, LBA28_MAX), st.integers(LBA28_MAX + 1, LBA48_MAX)),
    model=ata_text,
    serial=ata_text,
    firmware=ata_text.map(lambda s: s[:8].rstrip(" ")),
    write_cache=st.booleans(),
)
def test_identify_round_trip(sectors: int, model: str, serial: str, firmware: str, write_cache: bool) -> None:
    page = build_identify(sectors, model=model, serial=serial, firmware=firmware, write_cache=write_cache)
    assert len(page) == 512
    info = parse_identify(page)
    assert (info.sectors, info.model, info.serial, info.firmware) == (sectors, model, serial, firmware)
    assert info.lba48 and info.flush_cache and info.flush_cache_ext
    assert info.write_cache is write_cache
    assert not info.smart
    assert info.words == words(page)


@pytest.mark.parametrize("sectors", [0, 1, 2048, LBA28_MAX - 1, LBA28_MAX])
def test_small_capacity_is_in_both_places(sectors: int) -> None:
    w = words(build_identify(sectors))
    assert w[60] | (w[61] << 16) == sectors
    assert w[100] | (w[101] << 16) | (w[102] << 32) | (w[103] << 48) == sectors


@pytest.mark.parametrize("sectors", [LBA28_MAX + 1, 1 << 28, 1 << 32, 10 * (1 << 30), LBA48_MAX])
def test_large_capacity_clamps_words_60_61(sectors: int) -> None:
    w = words(build_identify(sectors))
    assert w[60] | (w[61] << 16) == 0x0FFFFFFF
    assert (w[60], w[61]) == (0xFFFF, 0x0FFF)
    assert w[100] | (w[101] << 16) | (w[102] << 32) | (w[103] << 48) == sectors
    assert parse_identify(build_identify(sectors)).sectors == sectors


def test_strings_are_byte_swapped_per_ata() -> None:
    page = build_identify(1000, model="pyaoe", serial="1.2:host", firmware="V1")
    # Each word holds two characters, the first in the high byte; stored little-endian, each
    # pair of bytes appears swapped. Blanks pad the field.
    assert page[27 * 2 : 27 * 2 + 40] == b"yp" + b"oa" + b" e" + b" " * 34
    assert page[10 * 2 : 10 * 2 + 20] == b".1" + b":2" + b"oh" + b"ts" + b" " * 12
    assert page[23 * 2 : 23 * 2 + 8] == b"1V" + b" " * 6


def test_words_83_86_feature_bits() -> None:
    w = words(build_identify(1 << 30))
    lba48, flush, flush_ext, valid = 1 << 10, 1 << 12, 1 << 13, 1 << 14
    for word in (83, 86):
        assert w[word] & lba48, word
        assert w[word] & flush, word
        assert w[word] & flush_ext, word
    for word in (83, 84, 87):
        assert w[word] & valid, word
        assert not w[word] & (1 << 15), word
    assert w[49] & (1 << 9)  # LBA supported


def test_write_cache_bit() -> None:
    assert words(build_identify(8, write_cache=True))[85] & (1 << 5)
    assert not words(build_identify(8, write_cache=False))[85] & (1 << 5)
    assert words(build_identify(8, write_cache=False))[82] & (1 << 5)


def test_long_and_non_ascii_strings() -> None:
    info = parse_identify(build_identify(8, model="m" * 50, serial="s\u00e9rial", firmware="123456789"))
    assert info.model == "m" * 40
    assert info.serial == "s?rial"
    assert info.firmware == "12345678"


def test_parse_lba28_only_page() -> None:
    # A device without LBA48 (word 83 bit 10 clear): capacity comes from words 60-61.
    w = list(words(build_identify(1 << 20)))
    w[83] &= ~(1 << 10)
    w[100] = 0xDEAD
    info = parse_identify(struct.pack("<256H", *w))
    assert not info.lba48
    assert info.sectors == 1 << 20


def test_parse_accepts_a_longer_buffer() -> None:
    # A read response's data may carry padding after the page.
    assert parse_identify(build_identify(77) + bytes(24)).sectors == 77


@pytest.mark.parametrize("length", [0, 1, 511])
def test_parse_short_page_raises_frame_error(length: int) -> None:
    with pytest.raises(FrameError) as info:
        parse_identify(build_identify(8)[:length])
    assert str(info.value)


@pytest.mark.parametrize("sectors", [-1, LBA48_MAX + 1])
def test_build_rejects_impossible_capacity(sectors: int) -> None:
    with pytest.raises(ValueError):
        build_identify(sectors)
