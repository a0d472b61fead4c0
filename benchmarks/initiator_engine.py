"""Initiator engine cost per frame, without any network: a stub target answers in-process.

Run: .venv/bin/python benchmarks/initiator_engine.py [--mtu 1500] [--write] [--requests 64]
Prints frames per second of engine work (the stub target's time is subtracted).
"""

from __future__ import annotations

import argparse
import time

from pyaoe.initiator import InitiatorConfig, InitiatorEngine, RequestDone
from pyaoe.protocol import Command, ConfigArg, Frame, Header, HeaderFlag, build_identify, encode_frame
from pyaoe.testing import INITIATOR_MAC

TARGET_MAC = bytes.fromhex("0200000000aa")
REQUEST_SIZE = 1 << 20
IDENTIFY = build_identify(1 << 30)
PAYLOAD = bytes(9000)


def answer(request: bytes) -> bytes:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mtu", type=int, default=1500)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4, help="requests in flight")
    args = parser.parse_args()

    engine = InitiatorEngine(InitiatorConfig(discover_interval=0), {"eth0": (INITIATOR_MAC, args.mtu)})
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

    data = bytes(REQUEST_SIZE)
    now = 1.0
    frames = submitted = done = in_flight = 0
    stub = 0.0
    start = time.perf_counter()
    while done < args.requests:
        while in_flight < args.depth and submitted < args.requests:
            offset = (submitted % 64) * REQUEST_SIZE
            if args.write:
                engine.submit_write("e1.0", offset, data, now)
            else:
                engine.submit_read("e1.0", offset, REQUEST_SIZE, now)
            submitted += 1
            in_flight += 1
        sent = engine.frames_to_send(now)
        t0 = time.perf_counter()
        replies = [answer(frame) for _, frame in sent]
        stub += time.perf_counter() - t0
        for reply in replies:
            engine.receive_frame(reply, "eth0", now)
            frames += 1
        engine.get_timer()
        while (event := engine.next_event()) is not None:
            if isinstance(event, RequestDone):
                done += 1
                in_flight -= 1
        now += 0.0001
    elapsed = time.perf_counter() - start - stub
    payload = engine.devices()[0].payload
    print(
        f"MTU {args.mtu} {'write' if args.write else 'read'}: {frames} frames "
        f"in {elapsed:.3f} s of engine time: "
        f"{frames / elapsed:,.0f} frames/s, {frames / elapsed * payload / 1e6:,.0f} MB/s, "
        f"{elapsed / frames * 1e6:.2f} us per frame (send + answer)"
    )


if __name__ == "__main__":
    main()
