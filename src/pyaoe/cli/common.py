"""pyaoe.cli.common: what every command shares: one-line errors, exit codes, number parsing.

OneLineParser turns argparse's usage-plus-error into a single `prog: message` line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from pyaoe import __version__
from pyaoe.errors import ConfigError
from pyaoe.values import parse_int

__all__ = ["CommandError", "OneLineParser", "die", "parse_int", "setup_logging", "version_line"]

_SYSLOG_SOCKET = "/dev/log"


#: A mistake on the command line or in the environment, reported as one line (exit ``code``).
CommandError = ConfigError


def die(prog: str, message: str, code: int = 1) -> NoReturn:
    print(f"{prog}: {message}", file=sys.stderr)
    sys.exit(code)


def version_line(prog: str) -> str:
    """What ``--version`` prints, the same for every command."""
    return f"{prog} (pyaoe) {__version__}"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one stderr line and exit ``error_code`` (vblade: 1).

    Every command gets ``--version`` here, so no command can miss it.
    """

    def __init__(self, *args: object, error_code: int = 1, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.error_code = error_code
        self.add_argument(
            "--version", action="version", version=version_line(self.prog), help="print the version and exit"
        )

    def error(self, message: str) -> NoReturn:
        die(self.prog, f"{message} (try --help)", self.error_code)


def setup_logging(verbose: bool = False, syslog_ident: str | None = None, detaching: bool = False) -> None:
    """Log to stderr, or to syslog as ``syslog_ident`` (``detaching``: stderr is about to become
    /dev/null, so without syslog the lines are lost, and that is said now)."""
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
            # Said once, while stderr may still be a terminal: a detached daemon's stderr is
            # /dev/null, so its log lines would otherwise vanish without a word.
            where = "will be lost" if detaching else "go to stderr"
            print(
                f"{syslog_ident}: {_SYSLOG_SOCKET} is missing (no syslog): log lines {where}", file=sys.stderr
            )
            handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{syslog_ident}[%(process)d]: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
