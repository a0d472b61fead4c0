"""pyaoe.cli.common: what every command shares: one-line errors, exit codes, number parsing.

OneLineParser turns argparse's usage-plus-error into a single `prog: message` line.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from typing import NoReturn

__all__ = ["CommandError", "OneLineParser", "die", "parse_int", "setup_logging"]

_SYSLOG_SOCKET = "/dev/log"
# A sign, then hexadecimal after 0x, a lone 0, decimal, or (refused) decimal with leading zeros.
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0|[1-9][0-9]*|(?P<octal>0[0-9]+))")


class CommandError(Exception):
    """A mistake on the command line or in the environment, reported as one line."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def die(prog: str, message: str, code: int = 1) -> NoReturn:
    print(f"{prog}: {message}", file=sys.stderr)
    sys.exit(code)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one stderr line and exit ``error_code`` (vblade: 1)."""

    def __init__(self, *args: object, error_code: int = 1, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.error_code = error_code

    def error(self, message: str) -> NoReturn:
        die(self.prog, f"{message} (try --help)", self.error_code)


def parse_int(text: str, what: str, low: int, high: int | None = None) -> int:
    """An integer in [low, high]: decimal, or hexadecimal after 0x.

    A decimal with a leading zero is refused rather than guessed at: vblade 25 reads "010" as
    10 in its shelf, slot and -b (atoi) but as 8 in -o and -l (strtoll, base 0).
    """
    number = _NUMBER.fullmatch(text.strip())
    if number is None:
        raise CommandError(f"{what} must be a number, not {text!r}")
    if number["octal"]:
        raise CommandError(f"{what} {text!r} has a leading zero (octal or decimal?): write it without one")
    value = int(text, 0)
    if value < low or (high is not None and value > high):
        bounds = f"{low}-{high}" if high is not None else f">= {low}"
        raise CommandError(f"{what} {value} is out of range ({bounds})")
    return value


def setup_logging(verbose: bool = False, syslog_ident: str | None = None) -> None:
    """Log to stderr, or to syslog as ``syslog_ident`` when detached."""
    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger()
    root.handlers.clear()
    handler: logging.Handler
    if syslog_ident:
        from logging.handlers import SysLogHandler

        # SysLogHandler does not fail when nothing listens at /dev/log: it prints a traceback
        # for every message instead. Without syslog, log to stderr.
        if os.path.exists(_SYSLOG_SOCKET):
            handler = SysLogHandler(address=_SYSLOG_SOCKET)
        else:
            handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{syslog_ident}[%(process)d]: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
