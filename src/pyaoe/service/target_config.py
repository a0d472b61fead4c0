"""pyaoe.service.target_config: what an export is configured as, read from a TOML file, a command
line or `pyaoe ctl add`, checked before anything opens, and opened into an Export.

ExportSettings is plain comparable data: a reload compares the old and new settings of each export.
"""

from __future__ import annotations

import logging
import socket
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from pyaoe import storage
from pyaoe.errors import ConfigError
from pyaoe.protocol import MAX_CONFIG_STRING, MAX_SHELF, MAX_SLOT
from pyaoe.service.state import StateStore
from pyaoe.target import DEFAULT_BUFCNT, Backend, Export, ExportConfig, ExportState
from pyaoe.target.export import MAX_MASKS
from pyaoe.values import parse_int, parse_mac_list

__all__ = [
    "ExportSettings",
    "TOML_KEYS",
    "export_name",
    "open_backend",
    "open_export",
    "parse_export_name",
    "read_config",
    "settings_from_table",
]

log = logging.getLogger(__name__)

#: The keys an [[export]] table (or [defaults]) may hold.
TOML_KEYS = frozenset(
    {"shelf", "slot", "netif", "file", "bufcnt", "direct", "sync", "readonly", "mask", "admin"}
    | {"offset", "length", "config_string"}
)
_REQUIRED = ("shelf", "slot", "netif", "file")


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """One export as configured (nothing opened yet). Equal settings mean an unchanged export."""

    shelf: int
    slot: int
    netifs: tuple[str, ...]
    file: str
    bufcnt: int = DEFAULT_BUFCNT
    direct: bool = False
    sync: bool = False
    readonly: bool = False
    masks: tuple[bytes, ...] = ()
    admins: frozenset[bytes] = frozenset()
    #: Window of the file in 512-byte sectors (vblade -o/-l); None: to the end.
    offset: int = 0
    length: int | None = None
    config_string: bytes | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.shelf, self.slot)

    @property
    def name(self) -> str:
        return export_name(self.shelf, self.slot)

    def differs_in(self, other: ExportSettings) -> set[str]:
        """The names of the settings that differ from ``other``'s."""
        return {f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)}

    @classmethod
    def build(
        cls,
        *,
        shelf: object,
        slot: object,
        netifs: Sequence[str],
        file: object,
        bufcnt: object = None,
        direct: object = False,
        sync: object = False,
        readonly: object = False,
        masks: Sequence[str] = (),
        admins: Sequence[str] = (),
        offset: object = None,
        length: object = None,
        config_string: object = None,
    ) -> ExportSettings:
        """Check every value as a person typed it (numbers as text or int); ConfigError if wrong."""
        if not netifs or not all(isinstance(n, str) and n for n in netifs):
            raise ConfigError("no network interface given")
        if not isinstance(file, str) or not file:
            raise ConfigError("no file given")
        text = None
        if config_string is not None:
            if not isinstance(config_string, str):
                raise ConfigError("config_string must be text")
            text = config_string.encode()
            if len(text) > MAX_CONFIG_STRING:
                raise ConfigError(f"config string of {len(text)} bytes is over {MAX_CONFIG_STRING}")
        for flag, value in (("direct", direct), ("sync", sync), ("readonly", readonly)):
            if not isinstance(value, bool):
                raise ConfigError(f"{flag} must be true or false, not {value!r}")
        return cls(
            shelf=parse_int(_text(shelf), "shelf", 0, MAX_SHELF),
            slot=parse_int(_text(slot), "slot", 0, MAX_SLOT),
            netifs=tuple(dict.fromkeys(netifs)),
            file=file,
            bufcnt=(
                parse_int(_text(bufcnt), "buffer count (-b)", 1, 0xFFFF)
                if bufcnt is not None
                else DEFAULT_BUFCNT
            ),
            direct=bool(direct),
            sync=bool(sync),
            readonly=bool(readonly),
            masks=_mask_list(_strings(masks, "mask")),
            admins=frozenset(parse_mac_list(_strings(admins, "admin"), "--admin")),
            offset=parse_int(_text(offset), "offset (-o)", 0) if offset is not None else 0,
            length=parse_int(_text(length), "length (-l)", 1) if length is not None else None,
            config_string=text,
        )


def _text(value: object) -> str:
    # TOML gives ints, a command line gives text; a bool is neither (True is not shelf 1).
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{value!r} is not a number")
    return str(value)


def _mask_list(values: Sequence[str]) -> tuple[bytes, ...]:
    """The -m MACs, each once, no more than a mask list holds (and --state-dir keeps)."""
    masks = tuple(dict.fromkeys(parse_mac_list(values, "-m")))
    if len(masks) > MAX_MASKS:
        # vblade 25's table has room for 32 (Nmasks) and writes more past its end.
        raise ConfigError(f"-m: {len(masks)} MAC addresses, more than the {MAX_MASKS} a mask list holds")
    return masks


def _strings(value: object, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{what} must be a list of MAC addresses")
    return list(value)


def export_name(shelf: int, slot: int) -> str:
    return f"e{shelf}.{slot}"


def parse_export_name(text: str) -> tuple[int, int]:
    """(shelf, slot) from "eX.Y" (or "X.Y"); ConfigError otherwise."""
    body = text[1:] if text.startswith("e") else text
    shelf, dot, slot = body.partition(".")
    if not dot:
        raise ConfigError(f"{text!r} is not an export name (eSHELF.SLOT, e.g. e1.2)")
    return parse_int(shelf, "shelf", 0, MAX_SHELF), parse_int(slot, "slot", 0, MAX_SLOT)


def settings_from_table(table: Mapping[str, Any]) -> ExportSettings:
    """One [[export]] table (with [defaults] merged in) or a `pyaoe ctl add` request."""
    unknown = sorted(set(table) - TOML_KEYS)
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(TOML_KEYS))})")
    for key in _REQUIRED:
        if key not in table:
            raise ConfigError(f"'{key}' is missing")
    netif = table["netif"]
    return ExportSettings.build(
        shelf=table["shelf"],
        slot=table["slot"],
        netifs=[netif] if isinstance(netif, str) else _strings(netif, "netif"),
        file=table["file"],
        bufcnt=table.get("bufcnt"),
        direct=table.get("direct", False),
        sync=table.get("sync", False),
        readonly=table.get("readonly", False),
        masks=_strings(table.get("mask", []), "mask"),
        admins=_strings(table.get("admin", []), "admin"),
        offset=table.get("offset"),
        length=table.get("length"),
        config_string=table.get("config_string"),
    )


def read_config(path: str) -> list[ExportSettings]:
    """Every export of a TOML file; ConfigError (one line, naming the file and the export) for
    anything wrong, before anything is opened."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    unknown = sorted(set(doc) - {"defaults", "export"})
    if unknown:
        raise ConfigError(f"{path}: unknown table or key '{unknown[0]}' (expected [defaults], [[export]])")
    defaults = doc.get("defaults", {})
    tables = doc.get("export", [])
    if not isinstance(defaults, dict) or not isinstance(tables, list):
        raise ConfigError(f"{path}: [defaults] must be a table and [[export]] an array of tables")
    if not tables:
        raise ConfigError(f"{path}: no [[export]] tables")
    settings: list[ExportSettings] = []
    where: dict[tuple[int, int], int] = {}
    for i, table in enumerate(tables, start=1):
        try:
            one = settings_from_table({**defaults, **table})
        except ConfigError as exc:
            raise ConfigError(f"{path}: export {i}: {exc}") from None
        if one.key in where:
            raise ConfigError(f"{path}: export {i}: {one.name} is already export {where[one.key]}")
        where[one.key] = i
        settings.append(one)
    return settings


def open_backend(settings: ExportSettings) -> Backend:
    """Open the storage ``settings.file`` names (a file, a block device or an NBD URI, through
    pyaoe.storage.open_backend); ConfigError with one line if it cannot be."""
    filename = settings.file
    try:
        return storage.open_backend(
            filename,
            offset=settings.offset,
            length=settings.length,
            readonly=settings.readonly,
            direct=settings.direct,
            sync=settings.sync,
        )
    except FileNotFoundError:
        raise ConfigError(f"cannot open {filename}: no such file or directory") from None
    except IsADirectoryError:
        raise ConfigError(f"cannot open {filename}: it is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot open {filename}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def close_backend(backend: Backend) -> None:
    """Close a backend that has a close() (every one pyaoe opens)."""
    close = getattr(backend, "close", None)
    if close is not None:
        close()


def _serial(shelf: int, slot: int) -> str:
    # vblade's IDENTIFY serial: "shelf.slot:hostname", 20 characters at most.
    return f"{shelf}.{slot}:{socket.gethostname()}"[:20]


def export_config(settings: ExportSettings) -> ExportConfig:
    return ExportConfig(
        shelf=settings.shelf,
        slot=settings.slot,
        bufcnt=settings.bufcnt,
        serial=_serial(settings.shelf, settings.slot),
        admin_macs=settings.admins,
        write_cache=not settings.sync,
    )


def open_export(
    settings: ExportSettings, store: StateStore | None, state: ExportState | None = None
) -> Export:
    """Open ``settings``' file into an Export. Its state is ``state`` when given (a reload keeps
    the live one), else the saved one from ``store``; the mask and config string ``settings``
    set win over a saved state: an operator who tightens -m must not be overridden silently by
    an older saved list."""
    backend = open_backend(settings)
    if state is None:
        state = store.load(settings.shelf, settings.slot) if store else None
        if state is None:
            state = ExportState()
        elif store is not None:
            log.info("%s: state restored from %s", settings.name, store.path(settings.shelf, settings.slot))
        if settings.config_string is not None:
            state.config_string = settings.config_string
        if settings.masks:
            state.mask_list = list(settings.masks)
    try:
        return Export(export_config(settings), backend, state, on_state_change=store.save if store else None)
    except ValueError as exc:
        close_backend(backend)
        raise ConfigError(f"{settings.file}: {exc}") from None
