"""pyaoe.cli.copy: `pyaoe copy`: push an image onto an AoE device or an NBD export, or pull one off.

pyaoe copy [--iflist IF[,IF...]] [--verify] [-q] SRC DST   (each: a file, a block device,
aoe:eX.Y or an NBD URI)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Sequence

from pyaoe.cli.common import CommandError, OneLineParser
from pyaoe.copy.endpoints import Endpoint, describe, open_endpoint
from pyaoe.copy.engine import checksum, copy
from pyaoe.copy.progress import open_progress

__all__ = ["main", "build_parser"]

PROG = "pyaoe copy"


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="Copy a disk image between files, block devices, AoE devices (aoe:eX.Y) and NBD "
        "exports (nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH), with several requests in "
        "flight. A regular-file destination is left sparse where the source reads zeroes; a device "
        "gets the zeroes written. AoE ends need root.",
    )
    parser.add_argument(
        "--iflist",
        metavar="IF[,IF...]",
        default="",
        help="interfaces for AoE ends (default: all up Ethernet)",
    )
    parser.add_argument(
        "--verify", action="store_true", help="read both ends back and compare SHA-256 checksums"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the initiator's warnings")
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=10.0,
        help="seconds to wait for an AoE device or an NBD server",
    )
    parser.add_argument("src", metavar="SRC")
    parser.add_argument("dst", metavar="DST")
    return parser


def _same_file(a: str, b: str) -> bool:
    if describe(a) != "file" or describe(b) != "file":
        return a == b
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _open(spec: str, writing: bool, iflist: str, timeout: float, size: int | None = None) -> Endpoint:
    try:
        return open_endpoint(spec, writing=writing, iflist=iflist, timeout=timeout, size=size)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CommandError(f"cannot open {spec}: {why}") from None


def _run(a: argparse.Namespace) -> int:
    src_spec: str = a.src
    dst_spec: str = a.dst
    if _same_file(src_spec, dst_spec):
        raise CommandError(f"{src_spec} and {dst_spec} are the same")
    if "aoe" in (describe(src_spec), describe(dst_spec)):
        if os.geteuid() != 0:
            raise CommandError("AoE ends need root (raw Ethernet sockets)")
        for name in a.iflist.replace(",", " ").split():
            try:
                socket.if_nametoindex(name)
            except OSError:
                raise CommandError(f"--iflist: there is no interface {name}") from None
    with contextlib.ExitStack() as stack:
        src = _open(src_spec, False, a.iflist, a.timeout)
        stack.callback(src.close)
        size = src.size
        dst = _open(dst_spec, True, a.iflist, a.timeout, size=size)
        stack.callback(dst.close)
        if dst.size < size:
            raise CommandError(f"{dst_spec} ({dst.size} bytes) is smaller than {src_spec} ({size} bytes)")
        bar = open_progress(size, "copy", quiet=a.quiet)
        start = time.monotonic()
        try:
            result = copy(src, dst, size, progress=bar.update if bar else None)
        except OSError as exc:
            raise CommandError(f"copy failed: {exc.strerror or exc}") from None
        finally:
            if bar is not None:
                bar.close()
        elapsed = max(time.monotonic() - start, 1e-9)
        zeroes = "left as holes" if dst.sparse else "written"
        print(
            f"{PROG}: {size} bytes in {elapsed:.1f} s ({size / elapsed / 1e6:.1f} MB/s); "
            f"{result.zero_bytes >> 20} MiB of zeroes {zeroes}",
            flush=True,
        )
        if not a.verify:
            return 0
        sums = []
        for end in (src, dst):
            bar = open_progress(size, f"verify {end.name}", quiet=a.quiet)
            try:
                sums.append(checksum(end, size, progress=bar.update if bar else None))
            except OSError as exc:
                raise CommandError(f"verify: cannot read {end.name}: {exc.strerror or exc}") from None
            finally:
                if bar is not None:
                    bar.close()
        if sums[0] != sums[1]:
            print(
                f"{PROG}: verify FAILED: {src_spec} sha256 {sums[0]}, {dst_spec} sha256 {sums[1]}",
                file=sys.stderr,
            )
            return 1
        print(f"{PROG}: verified: sha256 {sums[0]} on both ends", flush=True)
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The initiator's warnings (retransmits, a device down) only with -v: a copy reports its
    # failure itself, in one line.
    logging.basicConfig(
        level=logging.WARNING if args.verbose else logging.ERROR, format="%(name)s: %(message)s"
    )
    try:
        if args.timeout <= 0:
            raise CommandError("--timeout must be positive")
        return _run(args)
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
