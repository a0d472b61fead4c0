"""pyaoe.bench.initiator_load: the load of the "initiator-api" rows: QD threads doing I/O through
the pyaoe initiator's library client, printing the same JSON line as aoeload.

Run by the benchmark as its own process (so its CPU and peak RSS are measured like aoeload's):
  python -m pyaoe.bench.initiator_load -i IF -e SHELF.SLOT -m read|write -p seq|rand -b BYTES -q QD -t S -w S

HOOK for the initiator's authors: open_client() below is the one place that knows the client's
API. The rows say "not available" until pyaoe.service.initiator has HOOK_NAME; give it that
function (or change open_client) and the rows fill themselves in. PYAOE_BENCH_CLIENT=module:function
points the rows at another client with the same signature (a stand-in, or another library).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from pyaoe.bench.procstat import cpu_seconds, vmhwm_kib

__all__ = [
    "BlockClient",
    "HOOK_ENV",
    "HOOK_MODULE",
    "HOOK_NAME",
    "unavailable_reason",
    "open_client",
    "run_load",
    "main",
]

HOOK_MODULE = "pyaoe.service.initiator"
HOOK_NAME = "open_block_client"
HOOK_ENV = "PYAOE_BENCH_CLIENT"


class BlockClient(Protocol):
    """What the benchmark needs of an initiator client: blocking, thread-safe byte I/O on one
    AoE device (several threads call read/write at once: that is the queue depth)."""

    #: Device size in bytes.
    size: int

    def read(self, offset: int, length: int) -> bytes: ...

    def write(self, offset: int, data: bytes) -> None: ...

    def close(self) -> None: ...


def _hook() -> tuple[str, str]:
    """(module, function) of the client opener: PYAOE_BENCH_CLIENT, else pyaoe's own."""
    value = os.environ.get(HOOK_ENV)
    if value:
        module, _, name = value.partition(":")
        return module, name or HOOK_NAME
    return HOOK_MODULE, HOOK_NAME


def unavailable_reason() -> str | None:
    """None when the hook exists, else why the initiator-api rows cannot run."""
    module_name, name = _hook()
    try:
        found = importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        found = False
    if not found:
        return f"{module_name} does not exist yet"
    if not callable(getattr(importlib.import_module(module_name), name, None)):
        return f"{module_name} has no {name}() yet"
    return None


def open_client(ifname: str, shelf: int, slot: int, timeout: float) -> BlockClient:
    """HOOK: a client of AoE device e{shelf}.{slot} reached through interface ``ifname``, up and
    identified (size known) within ``timeout`` seconds. Adapt this call to the initiator's API."""
    module_name, name = _hook()
    opener = getattr(importlib.import_module(module_name), name)
    client: BlockClient = opener(iflist=[ifname], shelf=shelf, slot=slot, timeout=timeout)
    return client


def run_load(
    client: BlockClient,
    *,
    mode: str,
    pattern: str,
    io_bytes: int,
    queue_depth: int,
    seconds: float,
    warmup: float,
    seed: int = 1,
) -> dict[str, Any]:
    """Keep ``queue_depth`` I/Os in flight for ``warmup`` + ``seconds``; aoeload's figures for the
    measured window (CPU and RSS of this process)."""
    if io_bytes <= 0 or io_bytes % 512 or io_bytes > client.size:
        raise ValueError(f"bad I/O size {io_bytes} for a {client.size}-byte device")
    blocks = client.size // io_bytes
    payload = bytes((i * 131 + 7) & 0xFF for i in range(io_bytes))
    stop = threading.Event()
    lock = threading.Lock()
    state = {"next": 0, "errors": 0, "total_ios": 0}
    done: list[list[tuple[float, float]]] = [[] for _ in range(queue_depth)]

    def next_offset(rng: random.Random) -> int:
        if pattern == "rand":
            return rng.randrange(blocks) * io_bytes
        with lock:
            block = state["next"] % blocks
            state["next"] = block + 1
        return block * io_bytes

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        mine = done[index]
        while not stop.is_set():
            offset = next_offset(rng)
            start = time.perf_counter()
            try:
                if mode == "write":
                    client.write(offset, payload)
                else:
                    client.read(offset, io_bytes)
            except OSError:
                with lock:
                    state["errors"] += 1
                continue
            end = time.perf_counter()
            mine.append((end, end - start))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(queue_depth)]
    for thread in threads:
        thread.start()
    # The window is timed by the clock, not by counting: the threads run free meanwhile.
    time.sleep(warmup)
    t0, cpu0 = time.perf_counter(), cpu_seconds(os.getpid())
    time.sleep(seconds)
    t1, cpu1 = time.perf_counter(), cpu_seconds(os.getpid())
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    latencies = sorted(lat for mine in done for end, lat in mine if t0 <= end < t1)
    total_ios = sum(len(mine) for mine in done)
    ios, elapsed = len(latencies), t1 - t0
    return {
        "ok": ios > 0,
        "mode": mode,
        "pattern": pattern,
        "io_bytes": io_bytes,
        "queue_depth": queue_depth,
        "seconds": elapsed,
        "ios": ios,
        "bytes": ios * io_bytes,
        "iops": ios / elapsed,
        "mbps": ios * io_bytes / elapsed / 1e6,
        "p50_us": _percentile(latencies, 0.50) * 1e6,
        "p99_us": _percentile(latencies, 0.99) * 1e6,
        "retransmits": int(getattr(client, "retransmits", 0)),
        "errors": state["errors"],
        "total_ios": total_ios,
        "total_bytes": total_ios * io_bytes,
        "cpu_s": cpu1 - cpu0,
        "vmhwm_kib": vmhwm_kib(os.getpid()),
        **({} if ios else {"error": "no I/O completed"}),
    }


def _percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyaoe.bench.initiator_load")
    parser.add_argument("-i", dest="ifname", required=True)
    parser.add_argument("-e", dest="target", required=True, help="SHELF.SLOT")
    parser.add_argument("-m", dest="mode", choices=("read", "write"), default="read")
    parser.add_argument("-p", dest="pattern", choices=("seq", "rand"), default="seq")
    parser.add_argument("-b", dest="io_bytes", type=int, required=True)
    parser.add_argument("-q", dest="queue_depth", type=int, default=1)
    parser.add_argument("-t", dest="seconds", type=float, default=3.0)
    parser.add_argument("-w", dest="warmup", type=float, default=0.0)
    args = parser.parse_args(argv)
    shelf, _, slot = args.target.partition(".")
    try:
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        client = open_client(args.ifname, int(shelf), int(slot), timeout=10.0)
        try:
            result = run_load(
                client,
                mode=args.mode,
                pattern=args.pattern,
                io_bytes=args.io_bytes,
                queue_depth=args.queue_depth,
                seconds=args.seconds,
                warmup=args.warmup,
            )
        finally:
            client.close()
    except Exception as exc:  # every failure is one JSON line, as aoeload's are
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
