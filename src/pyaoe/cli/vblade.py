"""pyaoe.cli.vblade: `vblade` and `vbladed` with vblade 25's command line, and `pyaoe target`.

vblade [-b bufcnt] [-d] [-s] [-r] [-m mac[,mac...]] [-o offset] [-l length] shelf slot netif filename
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from pyaoe.cli.common import CommandError, OneLineParser, setup_logging
from pyaoe.service.daemon import Pidfile
from pyaoe.service.state import StateStore
from pyaoe.service.target import HANDLED_SIGNALS
from pyaoe.service.target_config import ExportSettings, read_config
from pyaoe.service.target_control import DEFAULT_SOCKET
from pyaoe.service.target_control import register as register_verbs
from pyaoe.service.target_daemon import TargetDaemon
from pyaoe.target import DEFAULT_BUFCNT, Export

__all__ = ["main", "main_daemon", "main_target", "build_parser"]

log = logging.getLogger("pyaoe.target")

_USAGE = (
    "%(prog)s [-b bufcnt] [-d] [-s] [-r] [-m mac[,mac...]] [-o offset] [-l length] shelf slot netif filename"
)


_DESCRIPTION = "Export a file or block device as AoE target e{shelf}.{slot} on a network interface."
_TARGET_DESCRIPTION = (
    "Export files or block devices as AoE targets: vblade's options, several interfaces, many exports "
    "from a TOML file (--config), reloaded live on SIGHUP or `pyaoe ctl reload`, a control socket for "
    "`pyaoe ctl`, and Prometheus metrics. SIGTERM and SIGINT finish the requests taken, fsync and exit 0."
)


def build_parser(prog: str, extended: bool = False, daemon: bool = False) -> OneLineParser:
    """vblade's parser (``daemon``: vbladed's, with --pidfile); ``extended``: pyaoe target's."""
    parser = OneLineParser(
        prog=prog,
        usage=_USAGE if not extended else None,
        description=_TARGET_DESCRIPTION if extended else _DESCRIPTION,
    )
    parser.add_argument(
        "-b", dest="bufcnt", metavar="bufcnt", help=f"buffer count to advertise (default {DEFAULT_BUFCNT})"
    )
    parser.add_argument("-d", dest="direct", action="store_true", help="open the file with O_DIRECT")
    parser.add_argument(
        "-s",
        dest="sync",
        action="store_true",
        help="open the file with O_SYNC: every write is on disk when acknowledged",
    )
    parser.add_argument("-r", dest="readonly", action="store_true", help="export read-only")
    parser.add_argument(
        "-m",
        dest="masks",
        metavar="mac[,mac...]",
        action="append",
        default=[],
        help="allow only these initiator MACs",
    )
    parser.add_argument(
        "-o", dest="offset", metavar="offset", help="skip this many sectors at the start of the file"
    )
    parser.add_argument("-l", dest="length", metavar="length", help="export this many sectors")
    if extended:
        parser.add_argument(
            "--admin",
            metavar="mac[,mac...]",
            action="append",
            default=[],
            help="only these MACs may edit the mask and reserve lists, even from outside the mask list",
        )
        parser.add_argument("--config-string", metavar="TEXT", help="initial config string")
        parser.add_argument("-c", "--config", metavar="FILE", help="serve the exports listed in a TOML file")
        parser.add_argument(
            "--state-dir",
            metavar="DIR",
            help="keep config strings, mask and reserve lists here across restarts",
        )
        parser.add_argument(
            "--control-socket",
            metavar="PATH",
            default=DEFAULT_SOCKET,
            help=f"answer pyaoe ctl here (default {DEFAULT_SOCKET}; 'none': no control socket)",
        )
        parser.add_argument(
            "--metrics",
            metavar="[HOST:]PORT",
            help="serve Prometheus metrics at http://HOST:PORT/metrics (every address without HOST)",
        )
        parser.add_argument("--syslog", action="store_true", help="log to syslog instead of stderr")
        parser.add_argument("-v", "--verbose", action="store_true", help="log more")
        parser.add_argument("args", nargs="*", metavar="shelf slot netif[,netif...] filename")
    else:
        parser.add_argument("shelf")
        parser.add_argument("slot")
        parser.add_argument("netif")
        parser.add_argument("filename")
    if extended or daemon:
        parser.add_argument("--pidfile", metavar="PATH", help="write the serving process's pid here")
    return parser


def _settings_from_args(
    args: argparse.Namespace, positional: Sequence[str], extended: bool
) -> ExportSettings:
    if len(positional) != 4:
        raise CommandError("expected 4 arguments: shelf slot netif filename")
    shelf, slot, netif, filename = positional
    return ExportSettings.build(
        shelf=shelf,
        slot=slot,
        netifs=[n for n in netif.split(",") if n] if extended else [netif],
        file=filename,
        bufcnt=args.bufcnt,
        direct=args.direct,
        sync=args.sync,
        readonly=args.readonly,
        masks=args.masks,
        admins=getattr(args, "admin", ()),
        offset=args.offset,
        length=args.length,
        config_string=getattr(args, "config_string", None),
    )


def _state_store(directory: str) -> StateStore:
    try:
        return StateStore(directory)
    except OSError as exc:
        raise CommandError(f"cannot use state directory {directory}: {exc.strerror}") from None


def _start(prog: str, args: argparse.Namespace, extended: bool) -> TargetDaemon:
    """Check the settings, open every file and socket; CommandError with one line otherwise."""
    store = _state_store(args.state_dir) if extended and args.state_dir else None
    config_path = args.config if extended else None
    if config_path:
        if args.args:
            raise CommandError("give either --config or shelf slot netif filename, not both")
        settings = read_config(config_path)
    else:
        positional = args.args if extended else [args.shelf, args.slot, args.netif, args.filename]
        settings = [_settings_from_args(args, positional, extended)]
    daemon = TargetDaemon(config_path=config_path, store=store)
    daemon.apply(settings)
    return daemon


def _services(daemon: TargetDaemon, args: argparse.Namespace) -> list[Callable[[], None]]:
    """Bind the control socket and the metrics port (errors now, while they can be said);
    returns what starts their threads, to call once the process is where it will serve."""
    starts: list[Callable[[], None]] = []
    path = getattr(args, "control_socket", None)
    if path and path != "none":
        try:
            daemon.serve_control(path, register_verbs)
        except CommandError as exc:
            if path != DEFAULT_SOCKET:
                raise
            # Another target may hold the default socket; this one still serves.
            log.warning("%s; pyaoe ctl cannot reach this target (give --control-socket PATH)", exc)
    if getattr(args, "metrics", None):
        from pyaoe.service.metrics import MetricsServer
        from pyaoe.service.target_metrics import TargetCollector

        metrics = MetricsServer(args.metrics, HANDLED_SIGNALS)
        metrics.add(TargetCollector(daemon))
        starts.append(metrics.start)
        daemon.on_stop.append(metrics.close)
    return starts


def _run(prog: str, argv: Sequence[str] | None, extended: bool, daemon_mode: bool) -> int:
    parser = build_parser(prog, extended, daemon_mode)
    args = parser.parse_args(argv)
    daemon: TargetDaemon | None = None
    pidfile = Pidfile(args.pidfile) if getattr(args, "pidfile", None) else None
    try:
        daemon = _start(prog, args, extended)
        starts = _services(daemon, args)
        for start in starts:
            start()
    except CommandError as exc:
        if daemon is not None:
            daemon.close()
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.code
    # The daemon forks first, so that the pid in its startup line is the one serving.
    ready = _daemonize() if daemon_mode else None
    if pidfile is not None:
        try:
            pidfile.write()
        except OSError as exc:
            print(f"{prog}: cannot write pidfile {pidfile.path}: {exc.strerror}", file=sys.stderr)
            daemon.close()
            return 1
    lines = [_startup_line(export) for export in daemon.exports.values()]
    if ready is None:
        setup_logging(
            verbose=getattr(args, "verbose", False),
            syslog_ident=prog if getattr(args, "syslog", False) else None,
        )

    def started() -> None:
        # Said once SIGTERM is handled: whoever acts on the startup line stops a clean target.
        for line in lines:
            print(line, flush=True)
        if ready is not None:
            setup_logging(syslog_ident=prog, detaching=True)
            _detach(ready)
            for line in lines:
                log.info("%s", line)

    try:
        daemon.run(on_ready=started)
    finally:
        if pidfile is not None:
            pidfile.remove()
    return 0


def _startup_line(export: Export) -> str:
    """vblade's start-up line: `pid N: eX.Y, S sectors O_RDWR` (or O_RDONLY)."""
    mode = "O_RDONLY" if export.readonly else "O_RDWR"
    return f"pid {os.getpid()}: {export.config.name}, {export.sectors} sectors {mode}"


def _daemonize() -> int:
    """Go into the background as vbladed does; return a descriptor for _detach().

    The foreground process waits until the daemon has printed its startup line and let go of
    stdout, then exits 0 (1 if the daemon died first), so `vbladed ... | read line` works.
    """
    sys.stdout.flush()
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        started = os.read(read_end, 1)
        os._exit(0 if started else 1)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    return write_end


def _detach(ready: int) -> None:
    """Put stdio on /dev/null (logs go to syslog) and release the waiting foreground process."""
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.write(ready, b"1")
    os.close(ready)


def main(argv: Sequence[str] | None = None) -> int:
    """`vblade`: one export, vblade 25's options."""
    return _run("vblade", argv, extended=False, daemon_mode=False)


def main_daemon(argv: Sequence[str] | None = None) -> int:
    """`vbladed`: vblade in the background, logging to syslog."""
    return _run("vbladed", argv, extended=False, daemon_mode=True)


def main_target(argv: Sequence[str] | None = None, prog: str = "pyaoe target") -> int:
    """`pyaoe target`: vblade's options plus several interfaces, --admin, and --config FILE."""
    return _run(prog, argv, extended=True, daemon_mode=False)


def vblade_parser() -> OneLineParser:
    return build_parser("vblade")


def vbladed_parser() -> OneLineParser:
    return build_parser("vbladed", daemon=True)


def target_parser() -> OneLineParser:
    return build_parser("pyaoe target", extended=True)


#: The parser of each command this module runs (for the manual pages).
PARSERS = {"main": vblade_parser, "main_daemon": vbladed_parser, "main_target": target_parser}


if __name__ == "__main__":
    sys.exit(main())
