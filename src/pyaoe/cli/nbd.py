"""pyaoe.cli.nbd: `pyaoe nbd`: run the initiator and serve every AoE device as an NBD export.

pyaoe nbd [--iflist IF[,IF...]] [-r] (--socket PATH | --listen [HOST:]PORT)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pyaoe import AsyncInitiator, InitiatorConfig
from pyaoe.cli.common import CommandError, OneLineParser, parse_int, setup_logging
from pyaoe.initiator import DeviceDown, DeviceUp, InitiatorEvent
from pyaoe.initiator.options import DEFAULT_DEADSECS
from pyaoe.nbd.gateway import AoeExports
from pyaoe.nbd.server import NbdServer, warn_if_exposed
from pyaoe.protocol.nbd.wire import DEFAULT_PORT

__all__ = ["main", "build_parser", "parse_listen"]

PROG = "pyaoe nbd"
log = logging.getLogger("pyaoe.nbd")


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog=PROG,
        description="Run pyaoe's AoE initiator and serve every device it finds as an NBD export "
        "named eX.Y (partitions as eX.YpN), for QEMU, qemu-img, nbdcopy, nbdinfo or nbd-client. "
        "Needs root (raw Ethernet sockets).",
    )
    parser.add_argument(
        "--iflist", metavar="IF[,IF...]", default="", help="interfaces to use (default: all up Ethernet ones)"
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--socket", metavar="PATH", help="listen on this unix socket")
    where.add_argument(
        "--listen",
        metavar="[HOST:]PORT",
        help=f"listen on TCP (default host: loopback; port {DEFAULT_PORT} is NBD's)",
    )
    parser.add_argument(
        "--deadsecs",
        metavar="S",
        type=float,
        default=DEFAULT_DEADSECS,
        help=f"seconds without answers before a device is down (default {DEFAULT_DEADSECS:g})",
    )
    parser.add_argument("-r", "--read-only", action="store_true", help="offer every export read-only")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every connection and failure")
    return parser


def parse_listen(text: str) -> tuple[str, int]:
    """(host, port) from ``[HOST:]PORT`` ("[::1]:10809" for IPv6); loopback when no host."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host, parse_int(port, "--listen port", 0, 65535)


def _claim_socket_path(path: str) -> None:
    """Remove a stale socket left by a server that died; refuse a live one or a non-socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise CommandError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listens: left over
        return
    finally:
        probe.close()
    raise CommandError(f"{path}: another server is listening there")


@dataclass(frozen=True)
class _Plan:
    socket: str | None
    listen: tuple[str, int] | None
    read_only: bool


async def _serve(args: _Plan, config: InitiatorConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    initiator = AsyncInitiator(config)
    where = f"unix:{args.socket}" if args.socket else ""

    def on_event(event: InitiatorEvent) -> None:
        # On the initiator's thread: logging is thread-safe.
        if isinstance(event, DeviceUp):
            log.info("%s up: export %s (%d sectors)", event.device.name, event.device.name, event.sectors)
        elif isinstance(event, DeviceDown):
            log.warning(
                "%s down: %s (its requests fail with EIO until it is back)", event.device.name, event.reason
            )

    initiator.add_listener(on_event)
    try:
        await initiator.start()
    except OSError as exc:
        raise CommandError(f"cannot start the initiator: {exc.strerror or exc}") from None
    server = NbdServer(AoeExports(initiator), readonly=args.read_only)
    try:
        try:
            if args.socket:
                await server.listen_unix(args.socket)
            elif args.listen is not None:
                host, port = args.listen
                warn_if_exposed(host, lambda text: print(f"{PROG}: warning: {text}", file=sys.stderr))
                bound = await server.listen_tcp(host, port)
                where = ", ".join(f"{h}:{p}" for h, p in bound)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {args.socket or args.listen}: {exc.strerror or exc}"
            ) from None
        print(f"{PROG}: serving AoE devices as NBD exports on {where}", flush=True)
        await stop.wait()
    finally:
        await server.close()
        await initiator.stop()
        if args.socket:
            with contextlib.suppress(OSError):
                os.unlink(args.socket)
    c = server.counters
    log.info("%d connections, %d requests, %d failed", c.connections, c.requests, c.errors)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    setup_logging(verbose=a.verbose)
    try:
        if os.geteuid() != 0:
            raise CommandError("must run as root (the initiator uses raw Ethernet sockets)")
        listen = parse_listen(a.listen) if a.listen is not None else None
        if a.socket:
            _claim_socket_path(a.socket)
        try:
            config = InitiatorConfig(iflist=tuple(a.iflist.replace(",", " ").split()), deadsecs=a.deadsecs)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        return asyncio.run(_serve(_Plan(a.socket, listen, a.read_only), config))
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
