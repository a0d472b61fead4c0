"""pyaoe.service.state: keep each export's config string, mask list and reserve list on disk.

One small JSON file per export in a state directory, replaced atomically (write, fsync, rename),
so a restarted target answers as it did before (vblade forgets all three; ggaoed keeps them).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pyaoe.protocol import MAX_CONFIG_STRING, MAX_SECTOR_COUNT, format_mac, parse_mac
from pyaoe.target import Export, ExportState
from pyaoe.target.export import MAX_MASKS

__all__ = ["StateStore"]

log = logging.getLogger(__name__)


class StateStore:
    """Exports' protocol state under ``directory`` (made if missing)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, shelf: int, slot: int) -> Path:
        return self.directory / f"e{shelf}.{slot}.json"

    def load(self, shelf: int, slot: int) -> ExportState | None:
        """The saved state of eSHELF.SLOT, or None when there is none (or it is unreadable)."""
        path = self.path(shelf, slot)
        try:
            doc = json.loads(path.read_text())
            state = ExportState(
                config_string=bytes.fromhex(doc.get("config_string_hex", "")),
                mask_list=list(dict.fromkeys(parse_mac(m) for m in doc.get("mask_list", []))),
                reserve_list=list(dict.fromkeys(parse_mac(m) for m in doc.get("reserve_list", []))),
            )
            # A hand-edited file must not make answers the wire cannot carry.
            if len(state.config_string) > MAX_CONFIG_STRING:
                raise ValueError(
                    f"config string of {len(state.config_string)} bytes is over {MAX_CONFIG_STRING}"
                )
            if len(state.mask_list) > MAX_MASKS or len(state.reserve_list) > MAX_SECTOR_COUNT:
                raise ValueError("mask or reserve list too long")
            return state
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("%s: ignoring unreadable saved state: %s", path, exc)
            return None

    def save(self, export: Export) -> None:
        """Write ``export``'s state; used as Export.on_state_change."""
        state = export.state
        doc = {
            "config_string_hex": state.config_string.hex(),
            "config_string": state.config_string.decode("utf-8", "replace"),
            "mask_list": [format_mac(m) for m in state.mask_list],
            "reserve_list": [format_mac(m) for m in state.reserve_list],
        }
        path = self.path(export.config.shelf, export.config.slot)
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dirfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError as exc:
            log.error("%s: could not save state: %s", path, exc)
