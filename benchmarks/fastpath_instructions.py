"""Instructions a frame of the target's fast path (FastPath.answer_batch with a FileBackend on a
file in the page cache), counted by valgrind's cachegrind: repeatable on a shared machine, where
timings are not. User-space instructions only: the system calls' kernel work is not counted.

Run: .venv/bin/python benchmarks/fastpath_instructions.py [seq|rand] [--batches 4000]
seq: batches of 16 sequential 2-sector reads (MTU 1500: one preadv a batch); rand: batches of 32
random 8-sector reads (MTU 9000: one preadv a frame). It runs itself under cachegrind with 0 and
with N batches and prints (difference) / frames. --inner runs the loop without valgrind.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import subprocess
import sys
import tempfile

from pyaoe.protocol import AtaArg, AtaCommand, AtaFlag, Command, Frame, Header, encode_frame
from pyaoe.storage.file import FileBackend
from pyaoe.target import Export, ExportConfig, TargetEngine
from pyaoe.target.fastpath import NOT_HANDLED, FastPath

TARGET = bytes.fromhex("020000000001")
HOST = bytes.fromhex("02000000000a")
FILE_BYTES = 64 << 20


def read_request(lba: int, count: int) -> bytes:
    header = Header(dst=TARGET, src=HOST, shelf=1, slot=2, command=Command.ATA, tag=7)
    arg = AtaArg(
        aflags=int(AtaFlag.EXTENDED), sector_count=count, cmd_status=AtaCommand.READ_SECTORS_EXT, lba=lba
    )
    return encode_frame(Frame(header, arg))


def inner(mode: str, batches: int, path: str) -> None:
    backend = FileBackend(path)
    engine = TargetEngine(TARGET, 9000 if mode == "rand" else 1500, [Export(ExportConfig(1, 2), backend)])
    fast = FastPath(engine)
    rng = random.Random(1)
    if mode == "seq":
        frames = [read_request(1000 + 2 * i, 2) for i in range(16)]
    else:
        frames = [read_request(rng.randrange(FILE_BYTES // 4096) * 8, 8) for _ in range(32)]
    buffers = [memoryview(ctypes.create_string_buffer(9216)).cast("B") for _ in frames]
    lengths = [len(f) for f in frames]
    for _ in range(batches):
        for buf, frame in zip(buffers, frames, strict=True):
            buf[: len(frame)] = frame
        if NOT_HANDLED in fast.answer_batch(buffers, lengths):
            raise SystemExit("a frame was not answered by the fast path")


def instructions(argv: list[str]) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    line = next(x for x in out.splitlines() if "I   refs" in x or "I refs" in x)
    return int(line.split()[-1].replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("seq", "rand"))
    parser.add_argument("--batches", type=int, default=4000)
    parser.add_argument("--inner", metavar="FILE")
    args = parser.parse_args()
    if args.inner:
        inner(args.mode, args.batches, args.inner)
        return 0
    with tempfile.NamedTemporaryFile(dir="/var/tmp") as f:
        f.write(os.urandom(FILE_BYTES))
        f.flush()
        me = [sys.executable, __file__, args.mode, "--inner", f.name]
        inner(args.mode, 1, f.name)  # the pages in the cache
        empty = instructions([*me, "--batches", "0"])
        full = instructions([*me, "--batches", str(args.batches)])
    frames = args.batches * (16 if args.mode == "seq" else 32)
    print(f"{args.mode}: {(full - empty) / frames:,.0f} instructions a frame (user space; {frames:,} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
