"""pyaoe.cli.initiator: `pyaoe initiator`, the userland AoE initiator daemon: what the Linux aoe
driver exposes (/dev/etherd and its /sys), as a FUSE file system mounted at --root.

pyaoe initiator [--root DIR] [--iflist IF[,IF...]] [--deadsecs N] [--maxout N] [--dyndevs 0|1]
                [--control-socket PATH] [--metrics [HOST:]PORT] [--pidfile PATH] [--syslog]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from pyaoe.cli.common import CommandError, OneLineParser, parse_int, setup_logging
from pyaoe.initiator import InitiatorConfig, parse_iflist
from pyaoe.initiator.options import DEFAULT_DEADSECS, DEFAULT_MAXOUT
from pyaoe.service.initiator_control import DEFAULT_SOCKET

__all__ = ["main", "build_parser", "PROG", "DEFAULT_ROOT", "FUSE_MISSING"]

PROG = "pyaoe initiator"
#: No letter "p" anywhere in it: Debian's aoe-stat skips every path that has one.
DEFAULT_ROOT = "/run/aoe"

log = logging.getLogger("pyaoe.initiator")

_DESCRIPTION = """\
Discover AoE devices and serve them, as the Linux aoe driver does, in a FUSE file system at DIR:
DIR/etherd holds the devices (eX.Y, a file of the device's size; eX.YpN, its MBR/GPT partitions)
and the control files (discover, err, interfaces, revalidate, flush); DIR/sys is shaped like
/sys (block/etherd!eX.Y/{state,mac,netif,payload,size,firmware-version,dev} and
module/aoe/parameters), so `sysfs_dir=DIR/sys aoe-stat` works. `pyaoe ctl --initiator` talks to it
over --control-socket; --metrics serves Prometheus metrics. Runs in the foreground until SIGTERM or
SIGINT, which let the requests in flight finish, unmount and exit 0; SIGHUP rescans the
interfaces and sends a discovery (there is no file to re-read). Under systemd (Type=notify) it
says READY=1 once the tree is mounted and the first discovery went out. Needs root (packet
sockets, FUSE with allow_other). `losetup -f --show DIR/etherd/eX.Y` gives a block device to mkfs
and mount."""


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog=PROG, description=_DESCRIPTION)
    parser.add_argument(
        "--root",
        metavar="DIR",
        default=DEFAULT_ROOT,
        help=f"mount point, made if missing (default {DEFAULT_ROOT})",
    )
    parser.add_argument(
        "--iflist",
        metavar="IF[,IF...]",
        default="",
        help="network interfaces AoE may use, comma or space separated (default: every Ethernet one)",
    )
    parser.add_argument(
        "--deadsecs",
        metavar="N",
        default=str(int(DEFAULT_DEADSECS)),
        help=f"a device goes down once a frame has waited N seconds; 0 retries forever "
        f"(default {int(DEFAULT_DEADSECS)})",
    )
    parser.add_argument(
        "--maxout",
        metavar="N",
        default=str(DEFAULT_MAXOUT),
        help=f"most frames outstanding to one target (default {DEFAULT_MAXOUT})",
    )
    parser.add_argument(
        "--dyndevs",
        metavar="0|1",
        default="1",
        help="1: dynamic minor numbers (default); 0: static ones, slots 0-15 only",
    )
    parser.add_argument(
        "--control-socket",
        metavar="PATH",
        default=DEFAULT_SOCKET,
        help=f"answer pyaoe ctl --initiator here (default {DEFAULT_SOCKET}; 'none': no control socket)",
    )
    parser.add_argument(
        "--metrics",
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (every address without HOST)",
    )
    parser.add_argument("--pidfile", metavar="PATH", help="write the daemon's pid here while it runs")
    parser.add_argument("--syslog", action="store_true", help="log to syslog instead of stderr")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    return parser


def _deadsecs(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CommandError(f"deadsecs must be a number of seconds, not {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise CommandError(f"deadsecs {text} is out of range (>= 0)")
    return value


def config_from(args: argparse.Namespace) -> InitiatorConfig:
    """The engine settings from parsed options (CommandError for a bad one)."""
    try:
        iflist = parse_iflist(str(args.iflist))
    except ValueError as exc:
        raise CommandError(f"--iflist: {exc}") from None
    return InitiatorConfig(
        iflist=iflist,
        deadsecs=_deadsecs(str(args.deadsecs)),
        maxout=parse_int(str(args.maxout), "maxout", 1, 65535),
        dyndevs=bool(parse_int(str(args.dyndevs), "dyndevs", 0, 1)),
    )


def _check_privileges() -> None:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        raise CommandError("packet sockets need root (CAP_NET_RAW)") from None
    if not os.path.exists("/dev/fuse"):
        raise CommandError("/dev/fuse is missing (is the fuse module loaded?)")


#: The FUSE binding and its event loop: the `fuse` extra, not a plain dependency, because pyfuse3
#: has no wheels and builds against libfuse3 (a compiler and libfuse3-dev), which a user who only
#: serves exports should not need.
FUSE_MODULES = ("pyfuse3", "trio")
FUSE_MISSING = (
    "{module} is not installed; the FUSE tree needs the fuse extra: pip install 'pyaoe[fuse]' "
    "(pyfuse3 builds against libfuse3: apt-get install libfuse3-dev pkg-config gcc)"
)


def _run(args: argparse.Namespace) -> int:
    config = config_from(args)
    # Imported here so that --help and option mistakes work without pyfuse3 and trio, and a
    # missing one is one line.
    try:
        from pyaoe.fuse.daemon import MountError, prepare_mount_point, serve
        from pyaoe.fuse.filesystem import EtherdFileSystem
    except ModuleNotFoundError as exc:
        if exc.name not in FUSE_MODULES:
            raise
        raise CommandError(FUSE_MISSING.format(module=exc.name)) from None
    from pyaoe.service.initiator import InitiatorService
    from pyaoe.service.initiator_daemon import InitiatorDaemon

    _check_privileges()
    root = Path(str(args.root)).absolute()
    service = InitiatorService(config)
    fs = EtherdFileSystem(service)  # listens before the first discovery
    daemon = InitiatorDaemon(service, root, hooks=fs.controls.revalidated)
    made = False
    try:
        # Mistakes first, each one line, before anything is mounted or sent.
        try:
            made = prepare_mount_point(root)
        except MountError as exc:
            raise CommandError(str(exc)) from None
        daemon.prepare(str(args.control_socket), DEFAULT_SOCKET, args.metrics, args.pidfile)
        daemon.start()
        try:
            service.start()
        except OSError as exc:
            raise CommandError(f"cannot start the initiator: {exc}") from None
        log.info(
            "interfaces %s, deadsecs %g, maxout %d, dyndevs %d; mounting at %s",
            " ".join(config.iflist) or "all",
            config.deadsecs,
            config.maxout,
            int(config.dyndevs),
            root,
        )
        try:
            signum = serve(
                fs, root, ready=lambda _fs: daemon.ready(), hangup=daemon.hangup, drain=daemon.drain
            )
        except MountError as exc:
            raise CommandError(str(exc)) from None
        if not service.running:
            raise CommandError("the initiator's I/O thread stopped (see the log above); unmounted")
    finally:
        daemon.close()
        service.stop()
        if made:
            try:
                root.rmdir()
            except OSError as exc:
                log.warning("cannot remove %s: %s", root, exc.strerror)
    if signum is not None:
        log.info("stopped by %s", signal.Signals(signum).name)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    setup_logging(bool(args.verbose), syslog_ident="pyaoe-initiator" if args.syslog else None)
    if not args.verbose:
        logging.getLogger("pyfuse3").setLevel(logging.WARNING)
    try:
        return _run(args)
    except CommandError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
