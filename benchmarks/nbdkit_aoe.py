"""An nbdkit Python plugin serving one AoE device through pyaoe's initiator library: the rival design
to `pyaoe nbd` that benchmarks/nbd_gateway.py measures (the README says which won, and why).

Run: PYTHONPATH=src nbdkit -f -U SOCKET python benchmarks/nbdkit_aoe.py iflist=IF device=e1.2
It runs inside nbdkit's embedded interpreter (Debian's python3), which must be able to import pyaoe.
"""

# nbdkit's Python plugin API: module-level functions, version 2 (buffers passed in).
from __future__ import annotations

import nbdkit  # type: ignore[import-not-found]  # provided by nbdkit at run time

from pyaoe import Initiator, InitiatorConfig

API_VERSION = 2
_settings = {"iflist": "", "device": "e1.1"}
_state: dict[str, object] = {}


def thread_model() -> int:
    return int(nbdkit.THREAD_MODEL_PARALLEL)


def config(key: str, value: str) -> None:
    if key not in _settings:
        raise RuntimeError(f"unknown parameter {key}")
    _settings[key] = value


def get_ready() -> None:
    ini = Initiator(InitiatorConfig(iflist=tuple(_settings["iflist"].split(",")))).start()
    info = ini.wait_for_device(_settings["device"], 20.0)
    _state["ini"] = ini
    _state["size"] = info.sectors * 512


def _ini() -> Initiator:
    ini = _state["ini"]
    assert isinstance(ini, Initiator)
    return ini


def open(readonly: bool) -> int:  # the name nbdkit calls
    return 1


def get_size(h: int) -> int:
    size = _state["size"]
    assert isinstance(size, int)
    return size


def can_multi_conn(h: int) -> bool:
    return True


def can_flush(h: int) -> bool:
    return True


def pread(h: int, buf: bytearray, offset: int, flags: int) -> None:
    _ini().read_into(_settings["device"], offset, buf)


def pwrite(h: int, buf: bytes, offset: int, flags: int) -> None:
    _ini().write(_settings["device"], offset, buf)


def flush(h: int, flags: int) -> None:
    _ini().flush_cache(_settings["device"])


def unload() -> None:
    if "ini" in _state:
        _ini().stop()
