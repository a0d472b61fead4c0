"""pyaoe.values: numbers and MAC lists as a person types them (command line, TOML file, pyaoe ctl).

Each parser raises ConfigError with one line that names the value and what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyaoe.errors import ConfigError
from pyaoe.protocol import parse_mac

__all__ = ["parse_int", "parse_mac_list"]

# A sign, then hexadecimal after 0x, a lone 0, decimal, or (refused) decimal with leading zeros.
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0|[1-9][0-9]*|(?P<octal>0[0-9]+))")


def parse_int(text: str, what: str, low: int, high: int | None = None) -> int:
    """An integer in [low, high]: decimal, or hexadecimal after 0x.

    A decimal with a leading zero is refused rather than guessed at: vblade 25 reads "010" as
    10 in its shelf, slot and -b (atoi) but as 8 in -o and -l (strtoll, base 0).
    """
    number = _NUMBER.fullmatch(text.strip())
    if number is None:
        raise ConfigError(f"{what} must be a number, not {text!r}")
    if number["octal"]:
        raise ConfigError(f"{what} {text!r} has a leading zero (octal or decimal?): write it without one")
    value = int(text, 0)
    if value < low or (high is not None and value > high):
        bounds = f"{low}-{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{what} {value} is out of range ({bounds})")
    return value


def parse_mac_list(values: Iterable[str], what: str) -> list[bytes]:
    """MACs from strings that each hold one or several, comma separated, each refused with one
    line if malformed or empty.

    vblade 25 warns ("ignoring mask X, parseether failure") and serves on without it; when that
    was the only one, its export is open to every initiator: a refusal is safer.
    """
    macs: list[bytes] = []
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(f"{what}: {value!r} is not a MAC address")
        for text in value.split(","):
            try:
                macs.append(parse_mac(text))
            except ValueError:
                raise ConfigError(f"{what}: {text!r} is not a MAC address") from None
    return macs
