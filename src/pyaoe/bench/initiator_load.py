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
from collections.abc import Callable, Sequence
from concurrent.futures import Future
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
    measured window (CPU and RSS of this process).

    A client with submit_read()/submit_write() (futures, as pyaoe's BlockClient has) is driven
    by completion callbacks: each finished I/O starts the next, with no thread in between, the
    way an asynchronous application would use it. Any other client gets ``queue_depth``
    threads calling its blocking read()/write().
    """
    if io_bytes <= 0 or io_bytes % 512 or io_bytes > client.size:
        raise ValueError(f"bad I/O size {io_bytes} for a {client.size}-byte device")
    blocks = client.size // io_bytes
    payload = bytes((i * 131 + 7) & 0xFF for i in range(io_bytes))
    stop = threading.Event()
    lock = threading.Lock()
    state = {"next": 0, "errors": 0}
    done: list[list[tuple[float, float]]] = [[] for _ in range(queue_depth)]

    def next_offset(rng: random.Random) -> int:
        if pattern == "rand":
            return rng.randrange(blocks) * io_bytes
        with lock:
            block = state["next"] % blocks
            state["next"] = block + 1
        return block * io_bytes

    def count_error() -> None:
        with lock:
            state["errors"] += 1

    submit = getattr(client, f"submit_{mode}", None)
    if callable(submit):
        chains = [
            _Chain(submit, mode, payload, io_bytes, next_offset, random.Random(seed * 1000 + i), done[i])
            for i in range(queue_depth)
        ]
        for chain in chains:
            chain.stop, chain.count_error = stop, count_error
        # Each chain is started from a thread of its own: with a client that completes at once,
        # the starting thread runs that chain's I/Os until the stop.
        starters = [threading.Thread(target=chain.kick, daemon=True) for chain in chains]
        for starter in starters:
            starter.start()

        def finish() -> bool:
            for starter in starters:
                starter.join(timeout=30)
            return all(chain.idle.wait(30) for chain in chains)

    else:

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
                    count_error()
                    continue
                end = time.perf_counter()
                mine.append((end, end - start))

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(queue_depth)]
        for thread in threads:
            thread.start()

        def finish() -> bool:
            for thread in threads:
                thread.join(timeout=30)
            return True

    # The window is timed by the clock, not by counting: the I/Os run free meanwhile.
    time.sleep(warmup)
    t0, cpu0 = time.perf_counter(), cpu_seconds(os.getpid())
    time.sleep(seconds)
    t1, cpu1 = time.perf_counter(), cpu_seconds(os.getpid())
    stop.set()
    finish()
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


class _Chain:
    """One slot of the queue: an I/O whose completion callback starts the next one.

    A future that is already done runs its callback inside add_done_callback(); kick() then
    only notes that another I/O is due and the running kick() loops, so the stack never grows.
    ``idle`` is set while no I/O of the chain is in flight.
    """

    def __init__(
        self,
        submit: Callable[..., Future[Any]],
        mode: str,
        payload: bytes,
        io_bytes: int,
        next_offset: Callable[[random.Random], int],
        rng: random.Random,
        done: list[tuple[float, float]],
    ) -> None:
        self.submit, self.mode, self.payload, self.io_bytes = submit, mode, payload, io_bytes
        self.next_offset, self.rng, self.done = next_offset, rng, done
        #: Set by run_load: when to stop, and what to call for a failed I/O.
        self.stop = threading.Event()
        self.count_error: Callable[[], None] = lambda: None
        self.lock = threading.Lock()
        self.busy = self.again = False
        self.started = 0.0
        self.idle = threading.Event()
        self.idle.set()

    def kick(self) -> None:
        with self.lock:
            if self.busy:
                self.again = True
                return
            self.busy = True
        while True:
            if self.stop.is_set():
                with self.lock:
                    self.busy = False
                self.idle.set()
                return
            offset = self.next_offset(self.rng)
            self.idle.clear()
            self.started = time.perf_counter()
            future = self.submit(offset, self.payload if self.mode == "write" else self.io_bytes)
            future.add_done_callback(self._finished)
            with self.lock:
                if self.again:
                    self.again = False
                    continue
                self.busy = False
                return

    def _finished(self, future: Future[Any]) -> None:
        end = time.perf_counter()
        if future.exception() is not None:
            self.count_error()
        else:
            self.done.append((end, end - self.started))
        self.idle.set()
        self.kick()


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
