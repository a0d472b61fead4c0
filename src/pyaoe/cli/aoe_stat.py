"""pyaoe.cli.aoe_stat: `aoe-stat [regex]`, aoetools 36's device status report, read from the
kernel's sysfs or pyaoe's tree: the same columns, GB rule, sorting, warnings and exit codes.

One row per device: name, size (GB), local interfaces, payload (when any device has one), state.
"""

from __future__ import annotations

import fnmatch
import locale
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyaoe.cli.bre import BreError, compile_bre
from pyaoe.cli.common import OneLineParser
from pyaoe.cli.control import AoetoolsError, run_tool, tool_arguments
from pyaoe.cli.tree import AoeTree, add_tree_option, read_attribute, select_tree

__all__ = ["PROG", "StatRow", "collect_rows", "format_rows", "format_size", "main", "sort_lines"]

PROG = "aoe-stat"
NA = "(NA)"
# aoetools' glob for device directories in $sysfs_dir/block, and its two row formats.
_DEVICE_GLOB = "*e[0-9]*.[0-9]*"
_FORMAT_PAYLOAD = ((10, ">"), (15, ">"), (10, ">"), (5, "<"), (14, "<"))
_FORMAT_PLAIN = ((10, ">"), (15, ">"), (6, ">"), (14, "<"))
_SECTOR_BYTES = 512
_GB = 1000 * 1000 * 1000

_DESCRIPTION = """\
Print one row per AoE device: name, size in GB (10^9 bytes, truncated to three decimals),
local network interfaces, payload bytes per frame (when the driver tells), and state (up,
down, down,closewait). Rows are sorted; REGEX (a grep basic regular expression, read as
`grep -e REGEX` reads it) keeps only the rows it matches; further arguments are ignored, as
aoetools ignores them. Exit 0 when a row was printed, 1 when none, 2 for a bad REGEX. Reads
$sysfs_dir (default /sys) for the kernel's driver, or pyaoe's tree (see --root). Unlike
aoetools' aoe-stat, a letter "p" in the sysfs path does not hide every device."""


@dataclass(frozen=True, slots=True)
class StatRow:
    """One device as aoe-stat shows it (missing attributes are None)."""

    name: str
    size: str
    netif: str
    payload: str | None
    state: str


def format_size(sectors: str | None) -> str:
    """aoetools' GB column: sectors*512 bytes in 10^9 units, truncated to three decimals."""
    if sectors is None:
        return NA
    text = sectors.strip()
    if not re.fullmatch(r"-?[0-9]+", text):
        return NA
    product = _SECTOR_BYTES * 1000 * int(text)
    thousandths = abs(product) // _GB * (-1 if product < 0 else 1)  # shell division truncates
    digits = f"{thousandths:04d}"
    return f"{digits[:-3]}.{digits[-3:]}GB"


def _collation_key(line: str) -> tuple[bytes | str, bytes]:
    raw = line.encode("utf-8", "surrogateescape")
    try:
        return locale.strxfrm(line), raw
    except (ValueError, OSError):
        return raw, raw


def sort_lines(lines: Sequence[str]) -> list[str]:
    """Lines in `sort`'s order: the locale's collation, ties broken byte by byte."""
    try:
        locale.setlocale(locale.LC_COLLATE, "")
    except locale.Error:
        locale.setlocale(locale.LC_COLLATE, "C")
    return sorted(lines, key=_collation_key)


def _device_dirs(tree: AoeTree) -> list[Path]:
    """Device directories, in `ls` order, partitions (names with a "p") left out."""
    try:
        names = os.listdir(tree.block_dir)
    except OSError:
        return []
    chosen = [
        n for n in names if not n.startswith(".") and fnmatch.fnmatchcase(n, _DEVICE_GLOB) and "p" not in n
    ]
    return [tree.block_dir / n for n in sort_lines(chosen)]


def _device_name(tree: AoeTree, entry: Path) -> str:
    # aoetools strips everything up to the last "!" of the path (etherd!e1.0 -> e1.0).
    text = f"{tree.sysfs_dir}/block/{entry.name}"
    return text.rsplit("!", 1)[1] if "!" in text else text


def _wrong_minor(tree: AoeTree, name: str, sysfs_minor: str) -> bool:
    """True when /dev/etherd/NAME is a block device whose minor differs from sysfs's dev file."""
    try:
        st = os.stat(tree.device(name))
    except OSError:
        return False
    if not stat.S_ISBLK(st.st_mode):
        return False
    return str(os.minor(st.st_rdev)) != sysfs_minor


def collect_rows(tree: AoeTree) -> tuple[list[StatRow], list[str]]:
    """Every device's row and the wrong-minor warnings, in directory order.

    Raises AoetoolsError when the tree has no block directory.
    """
    # For pyaoe's tree, what is missing and how to start it; for the kernel's, aoetools' words.
    missing = tree.missing_initiator()
    if missing is None and not os.path.isdir(tree.block_dir):
        missing = "sysfs is not mounted"
        if tree.kind == "pyaoe":
            missing = f"{tree.block_dir} is missing: {tree.root} is not a pyaoe initiator tree"
    if missing:
        raise AoetoolsError(f"{PROG} Error: {missing}")
    rows: list[StatRow] = []
    warnings: list[str] = []
    for entry in _device_dirs(tree):
        name = _device_name(tree, entry)
        dev = read_attribute(entry / "dev")
        if dev is not None:
            fields = dev.split("\n", 1)[0].split(":")
            minor = fields[1] if len(fields) > 1 else ""
            if _wrong_minor(tree, name, minor):
                node = tree.device(name)
                warnings.append(f"{PROG} Warning: device node {node} has wrong minor device number")
        rows.append(
            StatRow(
                name=name,
                size=format_size(read_attribute(entry / "size")),
                netif=_or_na(read_attribute(entry / "netif")),
                payload=read_attribute(entry / "payload"),
                state=_or_na(read_attribute(entry / "state")),
            )
        )
    return rows, warnings


def _or_na(value: str | None) -> str:
    return NA if value is None else value


def _pad(text: str, width: int, align: str) -> str:
    # printf pads by bytes, not characters.
    gap = " " * max(0, width - len(text.encode("utf-8", "surrogateescape")))
    return gap + text if align == ">" else text + gap


def format_rows(rows: Sequence[StatRow]) -> list[str]:
    """The rows as aoetools prints them before sorting (one string per row, no newline).

    The payload column appears when any device has a readable payload; a device without one
    then shows its state in the payload column, as aoetools' printf does.
    """
    with_payload = any(r.payload is not None for r in rows)
    spec = _FORMAT_PAYLOAD if with_payload else _FORMAT_PLAIN
    lines = []
    for r in rows:
        values = [r.name, r.size, r.netif]
        values += [r.payload, r.state] if r.payload is not None else [r.state]
        values += [""] * (len(spec) - len(values))
        lines.append(" ".join(_pad(v, w, a) for v, (w, a) in zip(values, spec, strict=True)))
    return lines


def build_parser() -> OneLineParser:
    # Exit 2 for a mistake in pyaoe's options: 1 would read as "no rows", and grep says 2.
    parser = OneLineParser(
        prog=PROG, usage="%(prog)s [--root DIR] [regex]", description=_DESCRIPTION, error_code=2
    )
    add_tree_option(parser)
    parser.add_argument(
        "regex", nargs="?", help="show only the rows this grep basic regular expression matches"
    )
    return parser


def _body(argv: Sequence[str]) -> int:
    args, rest = tool_arguments(build_parser(), argv)
    # aoetools reads only $1; `grep .` also drops the empty lines an attribute with newlines makes.
    pattern_text = rest[0] if rest else "."
    try:
        pattern = compile_bre(pattern_text)
    except BreError as exc:
        raise AoetoolsError(*(f"grep: {message}" for message in exc.messages), code=2) from None
    except OSError as exc:  # a C library without GNU regex
        raise AoetoolsError(f"{PROG}: {exc}", code=2) from None
    tree = select_tree(args.root)
    rows, warnings = collect_rows(tree)
    for warning in warnings:
        print(warning, file=sys.stderr)
    sys.stderr.flush()
    # The shell tool's pipeline sorts and filters lines, so an attribute holding a newline
    # makes two lines; split the same way.
    lines = "\n".join(format_rows(rows)).split("\n") if rows else []
    shown = [line for line in sort_lines(lines) if pattern.search(line)]
    out = sys.stdout.buffer
    for line in shown:
        out.write(line.encode("utf-8", "surrogateescape") + b"\n")
    out.flush()
    return 0 if shown else 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
