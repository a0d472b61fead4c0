"""pyaoe.service.target_control: the verbs `pyaoe ctl` sends a running target, and their handlers.

TARGET_VERBS is what the client parses; register() binds each verb to its handler on a daemon's
ControlServer. Handlers run in the serving loop, between two batches.
"""

from __future__ import annotations

from typing import Any

from pyaoe.errors import ConfigError
from pyaoe.protocol import MAX_CONFIG_STRING, SECTOR_SIZE, format_mac
from pyaoe.service.control import Arg, ControlServer, Reply, Table, Verb
from pyaoe.service.target_config import parse_export_name, settings_from_table
from pyaoe.service.target_daemon import TargetDaemon
from pyaoe.service.target_stats import errors_by_kind, export_stats, requests_by_kind
from pyaoe.target import Export
from pyaoe.target.export import MAX_MASKS
from pyaoe.values import parse_mac_list

__all__ = ["DEFAULT_SOCKET", "TARGET_VERBS", "register"]

DEFAULT_SOCKET = "/run/pyaoe/target.sock"

_EXPORT = Arg(("export",), {"metavar": "eX.Y", "help": "the export, e.g. e1.2"})
_MACS = {"metavar": "MAC[,MAC...]", "action": "append"}

TARGET_VERBS = (
    Verb("list", "exports: interfaces, file, size, flags, config string"),
    Verb(
        "stats",
        "counters: requests by command, bytes, errors by kind; frames, in flight and latency by interface",
        (Arg(("export",), {"metavar": "eX.Y", "nargs": "?", "help": "one export in detail"}),),
    ),
    Verb("reload", "re-read the --config file: add, remove and change exports (as SIGHUP does)"),
    Verb(
        "add",
        "serve one more export until the next reload (vblade's arguments and options)",
        (
            Arg(("shelf",)),
            Arg(("slot",)),
            Arg(("netif",), {"metavar": "netif[,netif...]"}),
            Arg(("file",)),
            Arg(("-b",), {"dest": "bufcnt", "metavar": "bufcnt", "help": "buffer count to advertise"}),
            Arg(("-d",), {"dest": "direct", "action": "store_true", "help": "O_DIRECT"}),
            Arg(("-s",), {"dest": "sync", "action": "store_true", "help": "O_SYNC"}),
            Arg(("-r",), {"dest": "readonly", "action": "store_true", "help": "read-only"}),
            Arg(("-m",), {"dest": "mask", **_MACS, "help": "allow only these initiator MACs"}),
            Arg(("--admin",), {**_MACS, "help": "only these MACs may edit the mask and reserve lists"}),
            Arg(("-o",), {"dest": "offset", "metavar": "offset", "help": "first sector of the file"}),
            Arg(("-l",), {"dest": "length", "metavar": "length", "help": "sectors to export"}),
            Arg(("--config-string",), {"dest": "config_string", "metavar": "TEXT"}),
        ),
    ),
    Verb("remove", "stop serving one export until the next reload (flushed first)", (_EXPORT,)),
    Verb(
        "config",
        "show, set or clear an export's config string (aoecfg's job, locally)",
        (
            _EXPORT,
            Arg(("--set",), {"metavar": "TEXT", "help": "replace it (whatever it was)"}),
            Arg(("--clear",), {"action": "store_true", "help": "make it empty"}),
        ),
    ),
    Verb(
        "mask",
        "show or edit an export's mask list (the initiators it answers)",
        (
            _EXPORT,
            Arg(("--set",), {**_MACS, "help": "replace the list"}),
            Arg(("--add",), {**_MACS, "help": "add these"}),
            Arg(("--delete",), {**_MACS, "help": "remove these"}),
            Arg(("--clear",), {"action": "store_true", "help": "empty it: answer everyone"}),
        ),
    ),
    Verb(
        "reserve",
        "show, set or clear an export's reserve list (who may do I/O)",
        (
            _EXPORT,
            Arg(("--set",), {**_MACS, "help": "replace the list"}),
            Arg(("--clear",), {"action": "store_true", "help": "release: empty it"}),
        ),
    ),
)


def _flags(export: Export, daemon: TargetDaemon) -> str:
    settings = daemon.settings[(export.config.shelf, export.config.slot)]
    names = [
        n for n, on in (("ro", export.readonly), ("sync", settings.sync), ("direct", settings.direct)) if on
    ]
    return ",".join(names or ["rw"])


def _find(daemon: TargetDaemon, args: dict[str, Any]) -> Export:
    key = parse_export_name(str(args.get("export")))
    export = daemon.exports.get(key)
    if export is None:
        raise ConfigError(f"e{key[0]}.{key[1]}: no such export")
    return export


class _Verbs:
    """Each verb's handler, bound to one daemon."""

    def __init__(self, daemon: TargetDaemon) -> None:
        self.daemon = daemon

    def verb_list(self, _args: dict[str, Any]) -> Reply:
        rows = []
        data = []
        for key, export in sorted(self.daemon.exports.items()):
            settings = self.daemon.settings[key]
            size = export.sectors * SECTOR_SIZE
            flags = _flags(export, self.daemon)
            item: dict[str, object] = {
                "export": export.config.name,
                "interfaces": list(settings.netifs),
                "file": settings.file,
                "sectors": export.sectors,
                "bytes": size,
                "flags": flags.split(","),
                "bufcnt": export.config.bufcnt,
                "config_string": export.state.config_string.decode("utf-8", "replace"),
                "mask_list": [format_mac(m) for m in export.state.mask_list],
                "reserve_list": [format_mac(m) for m in export.state.reserve_list],
            }
            data.append(item)
            rows.append(
                (
                    item["export"],
                    ",".join(settings.netifs),
                    settings.file,
                    f"{size / 1e9:.3f}GB",
                    flags,
                    export.config.bufcnt,
                    item["config_string"],
                )
            )
        columns = ("export", "interfaces", "file", "size", "flags", "bufcnt", "config string")
        return Reply(data=data, tables=[Table(columns, rows)])

    def verb_stats(self, args: dict[str, Any]) -> Reply:
        ports = self.daemon.service.ports
        port_rows = []
        port_data = {}
        for ifname, port in sorted(ports.items()):
            c = port.counters.as_dict()
            c["receive_queue_bytes"] = port.receive_queue_bytes()
            c["ignored"] = port.engine.ignored
            port_data[ifname] = c
        if args.get("export"):
            export = _find(self.daemon, args)
            netifs = self.daemon.settings[(export.config.shelf, export.config.slot)].netifs
            data = {"export": export.config.name, **export_stats(export)}
            interfaces = {n: port_data[n] for n in netifs if n in port_data}
            data["interfaces"] = interfaces
            counters = export.counters
            rows: list[tuple[object, ...]] = [
                (f"requests {k}", v) for k, v in requests_by_kind(counters).items()
            ]
            rows += [(f"errors {k}", v) for k, v in errors_by_kind(counters).items()]
            rows += [("bytes read", data["bytes_read"]), ("bytes written", data["bytes_written"])]
            for name, c in interfaces.items():
                rows += [(f"{name} {k.replace('_', ' ')}", v) for k, v in c.items()]
            return Reply(data=data, tables=[Table(("counter", export.config.name), rows)])
        export_rows = []
        exports = []
        for _key, export in sorted(self.daemon.exports.items()):
            stats = export_stats(export)
            requests: dict[str, int] = stats["requests"]  # type: ignore[assignment]
            errors: dict[str, int] = stats["errors"]  # type: ignore[assignment]
            exports.append({"export": export.config.name, **stats})
            export_rows.append(
                (
                    export.config.name,
                    sum(requests.values()),
                    requests["read"],
                    requests["write"],
                    stats["bytes_read"],
                    stats["bytes_written"],
                    sum(errors.values()),
                )
            )
        for ifname, c in port_data.items():
            port_rows.append(
                (
                    ifname,
                    c["frames_in"],
                    c["frames_out"],
                    c["send_failures"],
                    c["in_flight"],
                    c["receive_queue_bytes"],
                    _micros(c["latency_p50_us"]),
                    _micros(c["latency_p99_us"]),
                )
            )
        return Reply(
            data={"exports": exports, "interfaces": port_data},
            tables=[
                Table(
                    ("export", "requests", "reads", "writes", "bytes read", "bytes written", "errors"),
                    export_rows,
                    "exports",
                ),
                Table(
                    (
                        "interface",
                        "frames in",
                        "frames out",
                        "not sent",
                        "in flight",
                        "queued B",
                        "p50",
                        "p99",
                    ),
                    port_rows,
                    "interfaces (latency: batch received to replies sent)",
                ),
            ],
        )

    def verb_reload(self, _args: dict[str, Any]) -> Reply:
        changes = self.daemon.reload()
        return Reply(data=changes.as_dict(), message=f"reloaded: {changes.summary()}")

    def verb_add(self, args: dict[str, Any]) -> Reply:
        table = {k: v for k, v in args.items() if v not in (None, False)}
        if "netif" in table and isinstance(table["netif"], str):
            table["netif"] = [n for n in table["netif"].split(",") if n]
        settings = settings_from_table(table)
        if settings.key in self.daemon.settings:
            raise ConfigError(f"{settings.name} is already served")
        changes = self.daemon.apply([*self.daemon.settings.values(), settings])
        return Reply(data=changes.as_dict(), message=f"{settings.name} added")

    def verb_remove(self, args: dict[str, Any]) -> Reply:
        export = _find(self.daemon, args)
        key = (export.config.shelf, export.config.slot)
        changes = self.daemon.apply([s for k, s in self.daemon.settings.items() if k != key])
        return Reply(data=changes.as_dict(), message=f"{export.config.name} removed")

    def verb_config(self, args: dict[str, Any]) -> Reply:
        export = _find(self.daemon, args)
        if args.get("set") is not None and args.get("clear"):
            raise ConfigError("give --set or --clear, not both")
        state = export.state
        new = state.config_string
        if args.get("set") is not None:
            new = str(args["set"]).encode()
        elif args.get("clear"):
            new = b""
        if len(new) > MAX_CONFIG_STRING:
            raise ConfigError(f"config string of {len(new)} bytes is over {MAX_CONFIG_STRING}")
        if new != state.config_string:
            state.config_string = new
            export.state_changed()
        text = new.decode("utf-8", "replace")
        return Reply(data={"export": export.config.name, "config_string": text}, message=text)

    def _macs(self, args: dict[str, Any], option: str) -> list[bytes] | None:
        values = args.get(option)
        if values is None:
            return None
        if not isinstance(values, list):
            raise ConfigError(f"--{option} takes MAC addresses")
        return parse_mac_list(values, f"--{option}")

    def _mac_reply(self, export: Export, macs: list[bytes], what: str) -> Reply:
        text = [format_mac(m) for m in macs]
        return Reply(
            data={"export": export.config.name, what: text},
            tables=[Table((what.replace("_", " "),), [(m,) for m in text])],
        )

    def verb_mask(self, args: dict[str, Any]) -> Reply:
        export = _find(self.daemon, args)
        replace, add, delete = (self._macs(args, o) for o in ("set", "add", "delete"))
        if args.get("clear") and (replace is not None or add or delete):
            raise ConfigError("--clear goes alone")
        masks = list(export.state.mask_list)
        if args.get("clear"):
            masks = []
        if replace is not None:
            masks = list(dict.fromkeys(replace))
        masks += [mac for mac in dict.fromkeys(add or ()) if mac not in masks]
        masks = [mac for mac in masks if mac not in (delete or ())]
        if len(masks) > MAX_MASKS:
            raise ConfigError(f"a mask list holds at most {MAX_MASKS} MACs, not {len(masks)}")
        if masks != export.state.mask_list:
            export.state.mask_list = masks
            export.state_changed()
        return self._mac_reply(export, export.state.mask_list, "mask_list")

    def verb_reserve(self, args: dict[str, Any]) -> Reply:
        export = _find(self.daemon, args)
        new = self._macs(args, "set")
        if new is not None and args.get("clear"):
            raise ConfigError("give --set or --clear, not both")
        if args.get("clear"):
            new = []
        if new is not None and list(dict.fromkeys(new)) != export.state.reserve_list:
            export.state.reserve_list = list(dict.fromkeys(new))
            export.state_changed()
        return self._mac_reply(export, export.state.reserve_list, "reserve_list")


def _micros(value: object) -> str:
    return "-" if value is None else f"{value}µs"


def register(server: ControlServer, daemon: TargetDaemon) -> None:
    """Bind every verb of TARGET_VERBS to its handler for ``daemon``."""
    verbs = _Verbs(daemon)
    for verb in TARGET_VERBS:
        server.register(verb, getattr(verbs, f"verb_{verb.name}"))
