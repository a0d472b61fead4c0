"""The number rule every command shares (shelf, slot, -b, -o, -l, the initiator's and the bench's
options): decimal or 0x hexadecimal, and a leading zero refused rather than guessed at."""

from __future__ import annotations

import pytest

from pyaoe.cli.common import CommandError, parse_int


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("7", 7), (" 7 ", 7), ("+5", 5), ("-3", -3), ("0x10", 16), ("0XfF", 255)]
)
def test_numbers(text: str, value: int) -> None:
    assert parse_int(text, "n", -10) == value


@pytest.mark.parametrize("text", ["010", "00", "-07", "0009"])
def test_a_leading_zero_is_refused(text: str) -> None:
    """vblade 25 reads 010 as 10 (atoi: shelf, slot, -b) or as 8 (strtoll: -o, -l)."""
    with pytest.raises(CommandError) as refused:
        parse_int(text, "offset (-o)", -10)
    assert (
        str(refused.value)
        == f"offset (-o) {text!r} has a leading zero (octal or decimal?): write it without one"
    )


@pytest.mark.parametrize("text", ["", "abc", "1_000", "0o10", "0b1", "12abc", "0x", "1.5"])
def test_what_is_not_a_number(text: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse_int(text, "slot", 0)
    assert str(refused.value) == f"slot must be a number, not {text!r}"


def test_bounds() -> None:
    assert parse_int("254", "slot", 0, 254) == 254
    with pytest.raises(CommandError, match=r"^slot 255 is out of range \(0-254\)$"):
        parse_int("255", "slot", 0, 254)
    with pytest.raises(CommandError, match=r"^length \(-l\) 0 is out of range \(>= 1\)$"):
        parse_int("0", "length (-l)", 1)
