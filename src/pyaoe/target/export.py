"""pyaoe.target.export: one export's fixed settings and its changeable protocol state.

ExportConfig is what the command line says; ExportState holds the config string, mask list and
reserve list that AoE commands edit (and that a service may persist).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyaoe.protocol import MAX_SHELF, MAX_SLOT, SECTOR_SIZE, build_identify
from pyaoe.target.backend import Backend

__all__ = [
    "ExportConfig",
    "ExportState",
    "ExportCounters",
    "Export",
    "FIRMWARE_VERSION",
    "MAX_MASKS",
    "DEFAULT_BUFCNT",
]

#: The firmware version pyaoe's target reports in Query Config responses.
FIRMWARE_VERSION = 0x0100
#: Mask list size, as vblade (Nmasks).
MAX_MASKS = 32
#: Buffer count advertised by default, as vblade's -b default.
DEFAULT_BUFCNT = 16


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """Settings fixed when an export starts."""

    #: Major address, 0-65534.
    shelf: int
    #: Minor address, 0-254.
    slot: int
    #: Buffer count advertised in Query Config (vblade -b).
    bufcnt: int = DEFAULT_BUFCNT
    firmware_version: int = FIRMWARE_VERSION
    #: IDENTIFY strings.
    model: str = "pyaoe AoE target"
    serial: str = ""
    firmware: str = "pyaoe"
    #: When set, only these MACs may edit the mask list and the reserve list, and they may do so
    #: even from outside the mask list (vblade lets the first host that speaks lock everyone out).
    admin_macs: frozenset[bytes] = frozenset()
    #: Report a volatile write cache in IDENTIFY (false with synchronous writes, vblade -s).
    write_cache: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.shelf <= MAX_SHELF:
            raise ValueError(f"shelf {self.shelf} is out of range 0-{MAX_SHELF}")
        if not 0 <= self.slot <= MAX_SLOT:
            raise ValueError(f"slot {self.slot} is out of range 0-{MAX_SLOT}")
        if not 1 <= self.bufcnt <= 0xFFFF:
            raise ValueError(f"buffer count {self.bufcnt} is out of range 1-65535")

    @property
    def name(self) -> str:
        return f"e{self.shelf}.{self.slot}"


@dataclass(slots=True)
class ExportState:
    """What AoE commands change: config string, mask list, reserve list."""

    config_string: bytes = b""
    mask_list: list[bytes] = field(default_factory=list)
    reserve_list: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class ExportCounters:
    """What an export has done, for logs, benchmarks and fault reports."""

    #: Requests the engine's general path answered (the fast path counts only reads and
    #: writes, to keep its per-frame work small).
    requests: int = 0
    #: READ and WRITE commands done, by either path.
    reads: int = 0
    writes: int = 0
    sectors_read: int = 0
    sectors_written: int = 0
    flushes: int = 0
    #: Other requests the general path answered, by kind.
    identifies: int = 0
    other_ata: int = 0
    config_queries: int = 0
    mask_requests: int = 0
    reserve_requests: int = 0
    unknown_commands: int = 0
    #: Errors by kind: answered with the AoE error flag, with an ATA error status, storage
    #: failures (also ATA errors on the wire), frames dropped (mask list, undecodable).
    aoe_errors: int = 0
    ata_errors: int = 0
    io_errors: int = 0
    dropped: int = 0
    #: Frames the engine failed to answer because its own code raised (a bug): the serving loop
    #: survives them, but each is counted here, and the fuzzers fail when this moves.
    failures: int = 0


class Export:
    """An export: its settings, its state and the backend holding its bytes."""

    __slots__ = ("backend", "config", "counters", "identify_page", "on_state_change", "sectors", "state")

    def __init__(
        self,
        config: ExportConfig,
        backend: Backend,
        state: ExportState | None = None,
        on_state_change: Callable[[Export], None] | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.state = state if state is not None else ExportState()
        #: Called after a request changed the state (a service persists it there).
        self.on_state_change = on_state_change
        self.counters = ExportCounters()
        self.sectors = backend.size // SECTOR_SIZE
        if self.sectors <= 0:
            raise ValueError(f"{config.name}: 0-sector export is too small")
        self.identify_page = build_identify(
            self.sectors,
            model=config.model,
            serial=config.serial,
            firmware=config.firmware,
            write_cache=config.write_cache,
        )

    @property
    def readonly(self) -> bool:
        return self.backend.readonly

    def state_changed(self) -> None:
        """Tell whoever keeps the state (see on_state_change) that it changed."""
        if self.on_state_change is not None:
            self.on_state_change(self)

    def is_admin(self, mac: bytes) -> bool:
        """Whether ``mac`` may edit the mask list and the reserve list."""
        return not self.config.admin_macs or mac in self.config.admin_macs
