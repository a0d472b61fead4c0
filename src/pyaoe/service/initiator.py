"""pyaoe.service.initiator: the AoE initiator's I/O side, as the library API and a foreground run.

InitiatorService (one I/O thread driving InitiatorEngine) and its faces Initiator, AsyncInitiator
and BlockClient; `python -m pyaoe.service.initiator` runs it headless, err lines on stdout.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence

from pyaoe.initiator import Diagnostic, InitiatorConfig, InitiatorEvent
from pyaoe.initiator.options import DEFAULT_DEADSECS, DEFAULT_MAXOUT
from pyaoe.service.initiator_api import AsyncInitiator, BlockClient, Initiator, open_block_client
from pyaoe.service.initiator_loop import DeviceRef, InitiatorService, Listener

__all__ = [
    "InitiatorService",
    "Initiator",
    "AsyncInitiator",
    "BlockClient",
    "open_block_client",
    "DeviceRef",
    "Listener",
    "main",
]


def _positive(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the initiator in the foreground until SIGTERM/SIGINT, printing its err lines."""
    parser = argparse.ArgumentParser(
        prog="python -m pyaoe.service.initiator",
        description="Run pyaoe's AoE initiator without a file system: discover devices and print "
        "the err stream (devices up/down, retransmits, AoE errors) until SIGTERM.",
    )
    parser.add_argument("--iflist", default="", help="interfaces to use (default: all up Ethernet ones)")
    parser.add_argument("--deadsecs", type=_positive, default=DEFAULT_DEADSECS)
    parser.add_argument("--maxout", type=int, default=DEFAULT_MAXOUT)
    parser.add_argument("--dyndevs", type=int, choices=(0, 1), default=1)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    try:
        config = InitiatorConfig(
            iflist=tuple(args.iflist.replace(",", " ").split()),
            deadsecs=args.deadsecs,
            maxout=args.maxout,
            dyndevs=bool(args.dyndevs),
        )
    except ValueError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    service = InitiatorService(config)
    lock = threading.Lock()

    def say(line: str) -> None:
        # One write per line, under a lock: the I/O thread and this one both print.
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def print_line(event: InitiatorEvent) -> None:
        if isinstance(event, Diagnostic):
            say(event.text)

    def started() -> None:
        say(f"pyaoe initiator running on {' '.join(service.interfaces) or 'no interface yet'}")

    service.add_listener(print_line)
    try:
        service.run(ready=started)
    except OSError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
