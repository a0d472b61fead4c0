"""pyaoe.cli.control: what the aoetools share: their error lines and exit codes, and writing a
request into a control file (discover, interfaces, revalidate, flush) of either initiator's tree.

aoetools 36 print "tool: message" or "tool Error: message"; those exact lines are kept here.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pyaoe.cli.common import OneLineParser
from pyaoe.cli.tree import AoeTree

__all__ = ["AoetoolsError", "check_control", "run_tool", "tool_arguments", "write_control"]

_HELP = ("-h", "--help", "--version")
_ROOT = "--root"


class AoetoolsError(Exception):
    """A failure reported as aoetools 36 reports it: these whole lines on stderr, then ``code``."""

    def __init__(self, *lines: str, code: int = 1) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.code = code


def run_tool(body: Callable[[Sequence[str]], int], argv: Sequence[str] | None) -> int:
    """Run a command's body; an AoetoolsError becomes its lines on stderr and its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return body(args)
    except AoetoolsError as exc:
        sys.stdout.flush()
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        # `aoe-stat | head -1`: the reader went away; say nothing, as the shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def tool_arguments(parser: OneLineParser, argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """pyaoe's own options, read by ``parser`` from the front of ``argv`` only (-h/--help,
    --version, --root DIR, --root=DIR), and the arguments after them, verbatim, as aoetools'
    script gets its "$@".

    aoetools 36 have no options of their own but aoe-flush's -a and aoe-interfaces' -c, and take
    anything else (-x, --, a second name) as an ordinary argument; so do these, after the front.
    """
    own: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _HELP or arg.startswith(_ROOT + "="):
            own.append(arg)
            i += 1
        elif arg == _ROOT:
            own.extend(argv[i : i + 2])
            i += 2
        else:
            break
    return parser.parse_args(own), list(argv[i:])


def check_control(tree: AoeTree, name: str, prog: str, *, period: bool = True) -> Path:
    """The control file ``name``, refused as aoetools refuse it: missing or not writable; for the
    kernel's tree, not a character device. (pyaoe's control files are regular files in FUSE.)

    ``period``: aoe-revalidate's message alone has no full stop.
    """
    path = tree.control(name)
    if not os.access(path, os.W_OK):
        missing = tree.missing_initiator()
        if missing:
            raise AoetoolsError(f"{prog}: {missing}")
        stop = "." if period else ""
        raise AoetoolsError(f"{prog}: {path} does not exist or is not writeable{stop}")
    if tree.control_files_are_devices and not stat.S_ISCHR(path.stat().st_mode):
        raise AoetoolsError(
            f"{prog}: {path} is not a character device file",
            f"{prog}: use udev or aoe-mkdevs to create it",
        )
    return path


def write_control(path: Path, data: bytes) -> None:
    """One request: open ``path``, write ``data`` in one write(2), close (raises OSError).

    Opened without O_CREAT or O_TRUNC: a control file is never made, and a FUSE control file sees
    nothing but the write. Each request gets its own open, as each `printf > file` in the
    shell tools does, so a driver sees one request per write.
    """
    fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        view = memoryview(data)
        while True:
            written = os.write(fd, view)
            view = view[written:]
            if not view or written == 0:
                break
    finally:
        os.close(fd)
    if view:
        raise OSError(f"short write to {path}")
