"""Initiator engine cost per frame, without any network: a stub target answers in-process.

Run: .venv/bin/python benchmarks/initiator_engine.py [--mtu 1500] [--write] [--requests 256] [--repeat 5]
     [--size 1048576] [--depth 4] [--views | --batch] [--into] [--send-into]
Prints frames per second of engine work: CPU time of this thread (so other processes on the
machine matter less), the stub target's time subtracted; the best and the median of the repeats.
With --views the answers reach the engine as memoryview slices of reused receive buffers, a
batch at a time, as the I/O service hands them over from recvmmsg; with --batch the same
buffers go to receive_frames() with their lengths; by default each answer is a bytes object.
With --into, reads go to the caller's (reused) buffers through submit_read_into(); with
--send-into, frames are written into 64 reused send buffers by frames_to_send_into().
"""

from __future__ import annotations

import argparse
import statistics
import time

from pyaoe.initiator import InitiatorConfig, InitiatorEngine, RequestDone
from pyaoe.protocol import Command, ConfigArg, Frame, Header, HeaderFlag, build_identify, encode_frame
from pyaoe.testing import INITIATOR_MAC

TARGET_MAC = bytes.fromhex("0200000000aa")
IDENTIFY = build_identify(1 << 30)
PAYLOAD = bytes(9000)
#: Frames per recvmmsg batch in the I/O service (service.initiator.ports.BATCH).
RX_BATCH = 64
clock = time.thread_time


def answer(request: bytes | bytearray | memoryview) -> bytes:
    """The stub target: addresses swapped, R set, status DRDY; reads get zeros."""
    header = bytearray(request[:36])
    header[0:6], header[6:12] = request[6:12], request[0:6]
    header[14] = 0x18
    header[27] = 0x40
    if request[27] == 0xEC:
        return bytes(header) + IDENTIFY
    if request[27] in (0x20, 0x24):
        return bytes(header) + PAYLOAD[: request[26] * 512]
    return bytes(header) + bytes(24)


def ready_engine(mtu: int) -> InitiatorEngine:
    """An engine with device e1.0 up behind the stub target."""
    engine = InitiatorEngine(InitiatorConfig(discover_interval=0), {"eth0": (INITIATOR_MAC, mtu)})
    engine.handle_timer(0.0)
    engine.frames_to_send(0.0)
    header = Header(
        dst=INITIATOR_MAC,
        src=TARGET_MAC,
        shelf=1,
        slot=0,
        command=Command.QUERY_CONFIG,
        tag=0,
        flags=HeaderFlag.RESPONSE,
    )
    engine.receive_frame(
        encode_frame(Frame(header, ConfigArg(buffer_count=64, sector_count=255))), "eth0", 0.0
    )
    ((_, identify),) = engine.frames_to_send(0.0)
    engine.receive_frame(answer(identify), "eth0", 0.0)
    while engine.next_event() is not None:
        pass
    return engine


def run(args: argparse.Namespace) -> tuple[int, float, int]:
    """One run: (frames answered, engine CPU seconds, payload bytes per frame)."""
    engine = ready_engine(args.mtu)
    size = args.size
    data = bytes(size)
    # The caller's buffers for --into, one per request in flight, reused.
    targets = [bytearray(size) for _ in range(args.depth + 1)] if args.into else []
    # Receive buffers, as the I/O service's recvmmsg fills them (a batch at a time).
    rx = [memoryview(bytearray(args.mtu + 64)) for _ in range(RX_BATCH)]
    # Send buffers, as the I/O service's sendmmsg batch has them (for --send-into).
    tx = [memoryview(bytearray(args.mtu + 64)) for _ in range(RX_BATCH)]
    now = 1.0
    frames = submitted = done = in_flight = 0
    stub = 0.0
    start = clock()
    while done < args.requests:
        while in_flight < args.depth and submitted < args.requests:
            offset = (submitted % 64) * size
            if args.write:
                engine.submit_write("e1.0", offset, data)
            elif args.into:
                engine.submit_read_into("e1.0", offset, targets[submitted % len(targets)])
            else:
                engine.submit_read("e1.0", offset, size)
            submitted += 1
            in_flight += 1
        if args.send_into:
            replies = []
            while True:
                sizes = engine.frames_to_send_into(now, "eth0", tx)
                t0 = clock()
                replies += [answer(tx[i][:n]) for i, n in enumerate(sizes)]
                stub += clock() - t0
                if len(sizes) < len(tx):
                    break
        else:
            sent = engine.frames_to_send(now)
            t0 = clock()
            replies = [answer(frame) for _, frame in sent]
            stub += clock() - t0
        if args.views or args.batch:
            for first in range(0, len(replies), RX_BATCH):
                t0 = clock()
                lengths = []
                for i, reply in enumerate(replies[first : first + RX_BATCH]):
                    rx[i][: len(reply)] = reply
                    lengths.append(len(reply))
                stub += clock() - t0
                if args.batch:
                    engine.receive_frames(rx, "eth0", now, lengths)
                else:
                    for i, length in enumerate(lengths):
                        engine.receive_frame(rx[i][:length], "eth0", now)
        else:
            for reply in replies:
                engine.receive_frame(reply, "eth0", now)
        frames += len(replies)
        engine.get_timer()
        while (event := engine.next_event()) is not None:
            if isinstance(event, RequestDone):
                done += 1
                in_flight -= 1
        now += 0.0001
    elapsed = clock() - start - stub
    return frames, elapsed, engine.devices()[0].payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--requests", type=int, default=256, help="requests per run")
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes per request (default 1 MiB)")
    parser.add_argument("--depth", type=int, default=4, help="requests in flight")
    parser.add_argument("--repeat", type=int, default=5, help="runs (best and median reported)")
    parser.add_argument(
        "--views", action="store_true", help="answers as memoryview slices of a reused buffer"
    )
    parser.add_argument(
        "--batch",
        action="store_true",
        help="as --views, through receive_frames(buffers, ifname, now, lengths)",
    )
    parser.add_argument(
        "--into", action="store_true", help="reads with submit_read_into(), into reused buffers"
    )
    parser.add_argument(
        "--send-into", action="store_true", help="frames taken with frames_to_send_into(), 64 buffers a call"
    )
    args = parser.parse_args()

    results = [run(args) for _ in range(args.repeat)]
    frames, _, payload = results[0]
    per_frame = sorted(elapsed / count for count, elapsed, _ in results)
    best, median = per_frame[0], statistics.median(per_frame)
    print(
        f"MTU {args.mtu} {'write' if args.write else 'read'}{' views' if args.views else ''}"
        f"{' batch' if args.batch else ''}{' into' if args.into else ''}"
        f"{' send-into' if args.send_into else ''}: "
        f"{args.size}-byte requests, {frames} frames x {args.repeat} runs, "
        "engine CPU time per frame (send + answer): "
        f"best {best * 1e6:.2f} us = {1 / best:,.0f} frames/s = {payload / best / 1e6:,.0f} MB/s; "
        f"median {median * 1e6:.2f} us = {1 / median:,.0f} frames/s"
    )


if __name__ == "__main__":
    main()
