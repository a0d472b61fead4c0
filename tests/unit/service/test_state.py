"""The saved export state (--state-dir): survives a restart, loses to the command line, and a
file the wire cannot carry is refused."""

from __future__ import annotations

import json
from pathlib import Path

from pyaoe.service.state import StateStore
from pyaoe.service.target_config import ExportSettings, open_export
from pyaoe.target import Export

A = bytes.fromhex("020000000001")
B = bytes.fromhex("020000000002")


def _export(tmp_path: Path, store: StateStore, **kw: object) -> Export:
    disk = tmp_path / "disk.img"
    if not disk.exists():
        disk.write_bytes(bytes(1 << 16))
    return open_export(ExportSettings.build(shelf=1, slot=2, netifs=["lo"], file=str(disk), **kw), store)  # type: ignore[arg-type]


def test_state_saved_on_change_is_restored(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    export = _export(tmp_path, store)
    export.state.config_string = b"hello"
    export.state.mask_list.append(A)
    export.state_changed()
    restored = _export(tmp_path, store).state
    assert restored.config_string == b"hello"
    assert restored.mask_list == [A]


def test_command_line_mask_and_string_win_over_saved_state(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    export = _export(tmp_path, store)
    export.state.mask_list.append(A)
    export.state.reserve_list.append(A)
    export.state_changed()
    state = _export(tmp_path, store, masks=[B.hex(":")], config_string="new").state
    assert state.mask_list == [B]
    assert state.config_string == b"new"
    assert state.reserve_list == [A]  # nothing on the command line says otherwise


def test_saved_state_the_wire_cannot_carry_is_ignored(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.path(1, 2).write_text(json.dumps({"config_string_hex": "41" * 1025}))
    assert store.load(1, 2) is None
    store.path(1, 2).write_text("{not json")
    assert store.load(1, 2) is None
