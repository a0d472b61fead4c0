"""pyaoe.values: numbers and MAC lists as a person types them (command line, TOML file, pyaoe ctl).

Each parser raises ConfigError with one line that names the value and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyaoe.errors import ConfigError
from pyaoe.protocol import parse_mac

__all__ = ["parse_int", "parse_mac_list"]


def parse_int(text: str, what: str, low: int, high: int | None = None) -> int:
    """An integer (decimal, or 0x/0 prefixed as strtol base 0) in [low, high]."""
    try:
        value = int(text, 0)
    except ValueError:
        try:
            value = int(text, 10)  # "010" is 10 to a human, 8 to strtol; base 0 refuses it
        except ValueError:
            raise ConfigError(f"{what} must be a number, not {text!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"{low}-{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{what} {value} is out of range ({bounds})")
    return value


def parse_mac_list(values: Iterable[str], what: str) -> list[bytes]:
    """MACs from strings that each hold one or several, comma separated; empty items skipped."""
    macs: list[bytes] = []
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(f"{what}: {value!r} is not a MAC address")
        for text in value.split(","):
            if not text:
                continue
            try:
                macs.append(parse_mac(text))
            except ValueError:
                raise ConfigError(f"{what}: {text!r} is not a MAC address") from None
    return macs
