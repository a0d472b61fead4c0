"""pyaoe.cli.vblade: `vblade` and `vbladed` with vblade 25's command line, and `pyaoe target`.

vblade [-b bufcnt] [-d] [-s] [-r] [-m mac[,mac...]] [-o offset] [-l length] shelf slot netif filename
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tomllib
from collections.abc import Sequence
from typing import Any

from pyaoe.cli.common import CommandError, OneLineParser, parse_int, setup_logging
from pyaoe.protocol import MAX_CONFIG_STRING, MAX_SHELF, MAX_SLOT, parse_mac
from pyaoe.service.state import StateStore
from pyaoe.service.target import ExportSpec, TargetService
from pyaoe.storage import open_backend
from pyaoe.target import DEFAULT_BUFCNT, Export, ExportConfig, ExportState

__all__ = ["main", "main_daemon", "main_target", "build_parser"]

log = logging.getLogger("pyaoe.target")

_USAGE = (
    "%(prog)s [-b bufcnt] [-d] [-s] [-r] [-m mac[,mac...]] [-o offset] [-l length] shelf slot netif filename"
)


def build_parser(prog: str, extended: bool = False) -> OneLineParser:
    parser = OneLineParser(
        prog=prog,
        usage=_USAGE if not extended else None,
        description="Export a file or block device as AoE target e{shelf}.{slot} on a network interface.",
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
        parser.add_argument("-v", "--verbose", action="store_true", help="log more")
        parser.add_argument("args", nargs="*", metavar="shelf slot netif[,netif...] filename")
    else:
        parser.add_argument("shelf")
        parser.add_argument("slot")
        parser.add_argument("netif")
        parser.add_argument("filename")
    return parser


def _mac_list(values: Sequence[str], what: str) -> list[bytes]:
    macs: list[bytes] = []
    for value in values:
        for text in value.split(","):
            if not text:
                continue
            try:
                macs.append(parse_mac(text))
            except ValueError:
                raise CommandError(f"{what}: {text!r} is not a MAC address") from None
    return macs


def _serial(shelf: int, slot: int) -> str:
    # vblade's IDENTIFY serial: "shelf.slot:hostname", 20 characters at most.
    return f"{shelf}.{slot}:{socket.gethostname()}"[:20]


def make_export_spec(
    *,
    shelf: str | int,
    slot: str | int,
    netifs: Sequence[str],
    filename: str,
    bufcnt: str | int | None = None,
    direct: bool = False,
    sync: bool = False,
    readonly: bool = False,
    masks: Sequence[str] = (),
    admins: Sequence[str] = (),
    offset: str | int | None = None,
    length: str | int | None = None,
    config_string: str | None = None,
    store: StateStore | None = None,
) -> ExportSpec:
    """Check one export's settings and open its file; raises CommandError with one clear line."""
    shelf_n = parse_int(str(shelf), "shelf", 0, MAX_SHELF)
    slot_n = parse_int(str(slot), "slot", 0, MAX_SLOT)
    bufcnt_n = (
        parse_int(str(bufcnt), "buffer count (-b)", 1, 0xFFFF) if bufcnt is not None else DEFAULT_BUFCNT
    )
    offset_n = parse_int(str(offset), "offset (-o)", 0) if offset is not None else 0
    length_n = parse_int(str(length), "length (-l)", 1) if length is not None else None
    mask_list = _mac_list(masks, "-m")
    admin_macs = frozenset(_mac_list(admins, "--admin"))
    if not netifs:
        raise CommandError("no network interface given")
    try:
        backend = open_backend(
            filename, offset=offset_n, length=length_n, readonly=readonly, direct=direct, sync=sync
        )
    except FileNotFoundError:
        raise CommandError(f"cannot open {filename}: no such file or directory") from None
    except IsADirectoryError:
        raise CommandError(f"cannot open {filename}: it is a directory") from None
    except OSError as exc:
        raise CommandError(f"cannot open {filename}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    config = ExportConfig(
        shelf=shelf_n,
        slot=slot_n,
        bufcnt=bufcnt_n,
        serial=_serial(shelf_n, slot_n),
        admin_macs=admin_macs,
        write_cache=not sync,
    )
    state = store.load(shelf_n, slot_n) if store else None
    if state is None:
        state = ExportState()
    elif store is not None:
        log.info("e%d.%d: state restored from %s", shelf_n, slot_n, store.path(shelf_n, slot_n))
    # What the command line says beats what was remembered: an operator who tightens -m must
    # not be overridden silently by an older saved list.
    if config_string is not None:
        state.config_string = config_string.encode()
    if mask_list:
        state.mask_list = list(dict.fromkeys(mask_list))
    if len(state.config_string) > MAX_CONFIG_STRING:
        raise CommandError(f"config string of {len(state.config_string)} bytes is over {MAX_CONFIG_STRING}")
    try:
        export = Export(config, backend, state, on_state_change=store.save if store else None)
    except ValueError as exc:
        raise CommandError(f"{filename}: {exc}") from None
    return ExportSpec(export, list(netifs))


#: The keys an [[export]] table (or [defaults]) may hold.
TOML_KEYS = frozenset(
    {"shelf", "slot", "netif", "file", "bufcnt", "direct", "sync", "readonly", "mask", "admin"}
    | {"offset", "length", "config_string"}
)


def _specs_from_toml(path: str, store: StateStore | None) -> list[ExportSpec]:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CommandError(f"{path}: {exc}") from None
    unknown = sorted(set(doc) - {"defaults", "export"})
    if unknown:
        raise CommandError(f"{path}: unknown table or key '{unknown[0]}' (expected [defaults], [[export]])")
    defaults = doc.get("defaults", {})
    exports = doc.get("export", [])
    if not isinstance(defaults, dict) or not isinstance(exports, list):
        raise CommandError(f"{path}: [defaults] must be a table and [[export]] an array of tables")
    if not exports:
        raise CommandError(f"{path}: no [[export]] tables")
    specs = []
    for i, table in enumerate(exports):
        entry: dict[str, Any] = {**defaults, **table}
        where = f"{path}: export {i + 1}"
        unknown = sorted(set(entry) - TOML_KEYS)
        if unknown:
            raise CommandError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(TOML_KEYS))})")
        for key in ("shelf", "slot", "netif", "file"):
            if key not in entry:
                raise CommandError(f"{where}: '{key}' is missing")
        netif = entry["netif"]
        try:
            specs.append(
                make_export_spec(
                    shelf=entry["shelf"],
                    slot=entry["slot"],
                    netifs=[netif] if isinstance(netif, str) else list(netif),
                    filename=entry["file"],
                    bufcnt=entry.get("bufcnt"),
                    direct=bool(entry.get("direct", False)),
                    sync=bool(entry.get("sync", False)),
                    readonly=bool(entry.get("readonly", False)),
                    masks=list(entry.get("mask", [])),
                    admins=list(entry.get("admin", [])),
                    offset=entry.get("offset"),
                    length=entry.get("length"),
                    config_string=entry.get("config_string"),
                    store=store,
                )
            )
        except CommandError as exc:
            raise CommandError(f"{where}: {exc}") from None
    return specs


def _specs_from_args(
    args: argparse.Namespace, positional: Sequence[str], extended: bool, store: StateStore | None
) -> list[ExportSpec]:
    if len(positional) != 4:
        raise CommandError("expected 4 arguments: shelf slot netif filename")
    shelf, slot, netif, filename = positional
    return [
        make_export_spec(
            shelf=shelf,
            slot=slot,
            netifs=[n for n in netif.split(",") if n] if extended else [netif],
            filename=filename,
            bufcnt=args.bufcnt,
            direct=args.direct,
            sync=args.sync,
            readonly=args.readonly,
            masks=args.masks,
            admins=getattr(args, "admin", ()),
            offset=args.offset,
            length=args.length,
            config_string=getattr(args, "config_string", None),
            store=store,
        )
    ]


def _state_store(directory: str) -> StateStore:
    try:
        return StateStore(directory)
    except OSError as exc:
        raise CommandError(f"cannot use state directory {directory}: {exc.strerror}") from None


def _open_service(prog: str, specs: list[ExportSpec]) -> TargetService:
    service = TargetService(specs)
    try:
        service.open()
    except OSError as exc:
        for spec in specs:
            close = getattr(spec.export.backend, "close", None)
            if close:
                close()
        raise CommandError(
            str(exc) if not exc.strerror else f"{exc.strerror}: {exc.filename or ''}".rstrip(": ")
        ) from None
    return service


def _run(prog: str, argv: Sequence[str] | None, extended: bool, daemon: bool) -> int:
    parser = build_parser(prog, extended)
    args = parser.parse_args(argv)
    try:
        store = _state_store(args.state_dir) if extended and args.state_dir else None
        if extended and args.config:
            if args.args:
                raise CommandError("give either --config or shelf slot netif filename, not both")
            specs = _specs_from_toml(args.config, store)
        else:
            positional = args.args if extended else [args.shelf, args.slot, args.netif, args.filename]
            specs = _specs_from_args(args, positional, extended, store)
        service = _open_service(prog, specs)
    except CommandError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.code
    # The daemon forks first, so that the pid in its startup line is the one serving.
    ready = _daemonize() if daemon else None
    lines = [_startup_line(spec.export) for spec in specs]
    for line in lines:
        print(line, flush=True)
    if ready is not None:
        setup_logging(syslog_ident=prog)
        _detach(ready)
        for line in lines:
            log.info("%s", line)
    else:
        setup_logging(verbose=getattr(args, "verbose", False))
    service.run()
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
    return _run("vblade", argv, extended=False, daemon=False)


def main_daemon(argv: Sequence[str] | None = None) -> int:
    """`vbladed`: vblade in the background, logging to syslog."""
    return _run("vbladed", argv, extended=False, daemon=True)


def main_target(argv: Sequence[str] | None = None, prog: str = "pyaoe target") -> int:
    """`pyaoe target`: vblade's options plus several interfaces, --admin, and --config FILE."""
    return _run(prog, argv, extended=True, daemon=False)


if __name__ == "__main__":
    sys.exit(main())
