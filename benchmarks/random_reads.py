"""A batch of random reads as the target's fast path sees them (32 reads of 4 KiB at random
offsets of a file in the page cache, into 32 frame buffers), three ways: one os.preadv each
(what FileBackend does), all 32 in one io_uring submission (PyPI liburing), and copies out of
an mmap of the file (no system call at all). Prints ns a read for each, medians of paired
repetitions (the three in turn, rotating), and the ratios to preadv.

Run: .venv/bin/python benchmarks/random_reads.py [--reps 30] [--batches 2000]
(liburing is a benchmark-only dependency: pip install liburing)
"""

from __future__ import annotations

import argparse
import mmap
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

FILE_BYTES = 64 << 20
READ = 4096
BATCH = 32


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()
    import liburing as uring

    with tempfile.NamedTemporaryFile(dir="/var/tmp") as f:
        f.write(os.urandom(FILE_BYTES))
        f.flush()
        fd = os.open(f.name, os.O_RDONLY)
        rng = random.Random(7)
        offsets = [[rng.randrange(FILE_BYTES // READ) * READ for _ in range(BATCH)] for _ in range(64)]
        frames = [memoryview(bytearray(9014)) for _ in range(BATCH)]
        views = [frame[36 : 36 + READ] for frame in frames]
        mapped = mmap.mmap(fd, FILE_BYTES, prot=mmap.PROT_READ)
        whole = memoryview(mapped)
        ring = uring.Ring()
        uring.io_uring_queue_init(64, ring)
        cqe = uring.Cqe()

        def preadv(batch: list[int]) -> None:
            for view, offset in zip(views, batch, strict=True):
                os.preadv(fd, (view,), offset)

        # The liburing binding takes frame views only through its Iovec type: made once a buffer.
        iovecs = [uring.Iovec([view]) for view in views]

        def io_uring(batch: list[int]) -> None:
            for iovec, offset in zip(iovecs, batch, strict=True):
                uring.io_uring_prep_readv(uring.io_uring_get_sqe(ring), fd, iovec, offset)
            uring.io_uring_submit_and_wait(ring, BATCH)
            uring.io_uring_wait_cqe(ring, cqe)
            ready = uring.io_uring_cq_ready(ring)
            for i in range(ready):
                if cqe[i].res != READ:
                    raise OSError(-cqe[i].res, "io_uring read failed")
            uring.io_uring_cq_advance(ring, ready)

        def from_mmap(batch: list[int]) -> None:
            for view, offset in zip(views, batch, strict=True):
                view[:] = whole[offset : offset + READ]

        ways: dict[str, Callable[[list[int]], None]] = {
            "preadv": preadv,
            "io_uring": io_uring,
            "mmap": from_mmap,
        }
        # Each way must read the same bytes.
        for name, way in ways.items():
            way(offsets[0])
            expected = [bytes(whole[o : o + READ]) for o in offsets[0]]
            if [bytes(v) for v in views] != expected:
                raise SystemExit(f"{name} read the wrong bytes")
        figures: dict[str, list[float]] = {name: [] for name in ways}
        names = list(ways)
        for rep in range(args.reps):
            for name in names[rep % 3 :] + names[: rep % 3]:
                way = ways[name]
                start = time.perf_counter()
                for k in range(args.batches):
                    way(offsets[k & 63])
                figures[name].append((time.perf_counter() - start) / (args.batches * BATCH) * 1e9)
        base = figures["preadv"]
        with open("/proc/loadavg") as load:
            print(f"load average: {' '.join(load.read().split()[:3])}")
        for name, values in figures.items():
            ratio = statistics.median(b / v for b, v in zip(base, values, strict=True))
            print(f"{name:<9} {statistics.median(values):7.0f} ns a read   speed vs preadv {ratio:.2f}x")
        uring.io_uring_queue_exit(ring)
        whole.release()
        mapped.close()
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
