"""A target under fuzzing with an independent oracle: frames go through the fast path and the
engine exactly as the serving loop sends them, and every answer and every byte is checked.

TargetHarness serves three windows of one backing file ([offset, offset+length) as -o/-l make
them) and keeps a model of the whole file: a frame may change the file only where the oracle,
reading the raw bytes and the access state just before the frame, says a valid write lands.
The hypothesis fuzzers, the random campaign and the atheris harness all feed it.
"""

from __future__ import annotations

import os
import random
import struct
import tempfile
from dataclasses import dataclass, field

from pyaoe.protocol import (
    AOE_HLEN,
    ATA_HLEN,
    BROADCAST_MAC,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    CONFIG_HLEN,
    ETH_HLEN,
    ETH_P_AOE,
    ETH_ZLEN,
    MAX_CONFIG_STRING,
    SECTOR_SIZE,
    AoeError,
    AtaArg,
    AtaErrorBit,
    AtaStatus,
    Command,
    decode_frame,
    sectors_per_frame,
)
from pyaoe.storage.file import FileBackend
from pyaoe.target import Export, ExportConfig, ExportState, TargetEngine
from pyaoe.target.export import MAX_MASKS
from pyaoe.target.fastpath import NOT_HANDLED, FastPath

__all__ = [
    "TARGET_MAC",
    "HOST_A",
    "HOST_B",
    "ADMIN",
    "ATTACKER",
    "SOURCES",
    "ADDRESSES",
    "TargetHarness",
    "Verdict",
    "LAYOUT",
    "LOCKED_LAYOUT",
    "Layout",
    "initial_content",
    "export_table",
]

TARGET_MAC = bytes.fromhex("020000000001")
HOST_A = bytes.fromhex("02000000000a")
HOST_B = bytes.fromhex("02000000000b")
ADMIN = bytes.fromhex("0200000000ad")
ATTACKER = bytes.fromhex("0266666666ff")
SOURCES = (HOST_A, HOST_B, ADMIN, ATTACKER)

#: The backing file: 128 sectors, three windows in it and bytes outside all of them.
FILE_SECTORS = 128
#: (shelf, slot) -> (offset, length, readonly, initial state, admin MACs)
Layout = dict[tuple[int, int], tuple[int, int, bool, ExportState, frozenset[bytes]]]
LAYOUT: Layout = {
    # vblade's defaults: no admin list, anyone may claim the mask and reserve lists.
    (1, 2): (16, 64, False, ExportState(), frozenset()),
    # -r: a read-only window.
    (1, 3): (88, 16, True, ExportState(), frozenset()),
    # -m HOST_A,HOST_B --admin ADMIN: the admin is not on the mask list.
    (2, 2): (112, 8, False, ExportState(mask_list=[HOST_A, HOST_B]), frozenset({ADMIN})),
}
#: The same windows with an administrator everywhere: nobody else can change who may do I/O.
LOCKED_LAYOUT: Layout = {key: (*value[:4], frozenset({ADMIN})) for key, value in LAYOUT.items()}
ADDRESSES = tuple(LAYOUT)
_VALID_ATA_ERRORS = {0, int(AtaErrorBit.ABRT), int(AtaErrorBit.IDNF), int(AtaErrorBit.UNC)}
_DRDY = int(AtaStatus.DRDY)
_HEAD = struct.Struct("!6s6sHBBHBBI")
_WRITES = {0x30: 0x0FFFFFFF, 0x34: (1 << 48) - 1}
_READS = {0x20: 0x0FFFFFFF, 0x24: (1 << 48) - 1}


@dataclass
class Verdict:
    """What the oracle expects of one frame."""

    #: The exports that must stay silent (frame not for them, or from a masked-out host).
    silent: bool = True
    #: (file offset, data) the frame must write, or None.
    write: tuple[int, bytes] | None = None
    #: (file offset, length) a successful read must return, or None.
    read: tuple[int, int] | None = None
    addressed: list[tuple[int, int]] = field(default_factory=list)


def initial_content(seed: int = 0) -> bytearray:
    """What the backing file holds before any write."""
    return bytearray(random.Random(seed).randbytes(FILE_SECTORS * SECTOR_SIZE))


def export_table(layout: Layout, path: str, netif: str) -> str:
    """The layout as `pyaoe target --config` TOML, serving ``path`` on ``netif``."""
    out = []
    for (shelf, slot), (offset, length, readonly, state, admins) in layout.items():
        out.append(
            f'[[export]]\nshelf = {shelf}\nslot = {slot}\nnetif = "{netif}"\nfile = "{path}"\n'
            f"offset = {offset}\nlength = {length}\nreadonly = {str(readonly).lower()}\n"
            f"mask = {[m.hex(':') for m in state.mask_list]}\nadmin = {[m.hex(':') for m in admins]}\n"
        )
    return "\n".join(out).replace("'", '"')


class TargetHarness:
    """Three exports of one temporary file behind a TargetEngine and its FastPath."""

    def __init__(
        self,
        mtu: int = 9000,
        seed: int = 0,
        *,
        mac: bytes = TARGET_MAC,
        layout: Layout | None = None,
    ) -> None:
        self.mtu = mtu
        self.mac = mac
        self.layout = layout if layout is not None else LAYOUT
        self.max_sectors = sectors_per_frame(mtu)
        fd, self.path = tempfile.mkstemp(prefix="pyaoe-fuzz-", suffix=".img")
        os.close(fd)
        self.model = initial_content(seed)
        with open(self.path, "wb") as f:
            f.write(self.model)
        # Read back through a descriptor: the file may be unlinked while in use (atheris).
        self._fd = os.open(self.path, os.O_RDONLY)
        self.exports: dict[tuple[int, int], Export] = {}
        self.windows: dict[tuple[int, int], tuple[int, int]] = {}
        for (shelf, slot), (offset, length, readonly, state, admins) in self.layout.items():
            backend = FileBackend(self.path, offset=offset, length=length, readonly=readonly)
            copy = ExportState(state.config_string, list(state.mask_list), list(state.reserve_list))
            config = ExportConfig(shelf=shelf, slot=slot, admin_macs=admins)
            self.exports[(shelf, slot)] = Export(config, backend, copy)
            self.windows[(shelf, slot)] = (offset * SECTOR_SIZE, length * SECTOR_SIZE)
        self.engine = TargetEngine(mac, mtu, self.exports.values())
        self.fast = FastPath(self.engine)
        # Room for any frame and the largest reply, as the serving loop's buffers have.
        self.buffer = bytearray(1 << 17)
        self.frames = 0
        self.writes = 0
        self.replies = 0
        self.fast_answers = 0

    def close(self) -> None:
        for export in self.exports.values():
            export.backend.close()  # type: ignore[attr-defined]
        os.close(self._fd)
        if os.path.exists(self.path):
            os.unlink(self.path)

    # -- the oracle ------------------------------------------------------------------------
    def verdict(self, frame: bytes) -> Verdict:
        """What ``frame`` may do, from its raw bytes and the exports' state right now."""
        verdict = Verdict()
        if len(frame) < AOE_HLEN:
            return verdict
        dst, src, ethertype, verflags, _err, shelf, slot, command, _tag = _HEAD.unpack_from(frame)
        if ethertype != ETH_P_AOE or verflags & 0x08 or dst not in (self.mac, BROADCAST_MAC):
            return verdict
        for key, export in self.exports.items():
            if shelf not in (key[0], BROADCAST_SHELF) or slot not in (key[1], BROADCAST_SLOT):
                continue
            state = export.state
            admin_control = (
                export.config.admin_macs
                and src in export.config.admin_macs
                and command in (Command.MAC_MASK_LIST, Command.RESERVE_RELEASE)
            )
            if state.mask_list and src not in state.mask_list and not admin_control:
                continue
            verdict.addressed.append(key)
        if not verdict.addressed:
            return verdict
        verdict.silent = False
        if verflags >> 4 != 1 or command != Command.ATA or len(frame) < ATA_HLEN:
            return verdict
        if shelf == BROADCAST_SHELF or slot == BROADCAST_SLOT:
            return verdict  # no data moves through a broadcast
        (key,) = verdict.addressed
        export = self.exports[key]
        if export.state.reserve_list and src not in export.state.reserve_list:
            return verdict
        count, ata = frame[AOE_HLEN + 2], frame[AOE_HLEN + 3]
        lba = int.from_bytes(frame[AOE_HLEN + 4 : AOE_HLEN + 10], "little")
        base, size = self.windows[key]
        if ata in _WRITES:
            lba &= _WRITES[ata]
            length = count * SECTOR_SIZE
            if (
                count <= self.max_sectors
                and (lba + count) * SECTOR_SIZE <= size
                and len(frame) - ATA_HLEN >= length
                and not export.readonly
            ):
                verdict.write = (base + lba * SECTOR_SIZE, frame[ATA_HLEN : ATA_HLEN + length])
        elif ata in _READS:
            lba &= _READS[ata]
            if count <= self.max_sectors and (lba + count) * SECTOR_SIZE <= size:
                verdict.read = (base + lba * SECTOR_SIZE, count * SECTOR_SIZE)
        return verdict

    # -- feeding -----------------------------------------------------------------------------
    def serve(self, frame: bytes) -> list[bytes]:
        """The serving loop's path: answer in place when the fast path can, else the engine."""
        n = min(len(frame), len(self.buffer))
        buf = self.buffer
        buf[:n] = frame[:n]
        view = memoryview(buf)
        got = self.fast.answer_batch((view,), (n,))[0]
        if got != NOT_HANDLED:
            self.fast_answers += 1
            return [bytes(buf[:got])]
        return self.engine.handle_frame(view[:n], 0.0)

    def feed(self, frame: bytes) -> list[bytes]:
        """Serve one frame and check everything the oracle says; returns the replies."""
        self.frames += 1
        verdict = self.verdict(frame)
        before = {k: _snapshot(e.state) for k, e in self.exports.items()}
        replies = self.serve(frame)
        self.replies += len(replies)
        if verdict.silent:
            assert replies == [], f"answered a frame it must ignore: {frame[:40].hex()}"
        wrote = False
        for raw in replies:
            wrote |= self._check_reply(frame, raw, verdict)
        if verdict.write is not None:
            offset, data = verdict.write
            self.model[offset : offset + len(data)] = data
            self.writes += 1
            assert wrote, f"a valid write was not acknowledged: {frame[:40].hex()}"
        else:
            assert not wrote, f"acknowledged a write the oracle refuses: {frame[:40].hex()}"
        self._check_state(frame, before)
        return replies

    def check_storage(self) -> None:
        """The whole file, inside and outside every window, is what the model says."""
        data = os.pread(self._fd, len(self.model) + 1, 0)
        if data != self.model:
            first = next(i for i in range(len(data)) if data[i] != self.model[i])
            where = [k for k, (b, s) in self.windows.items() if b <= first < b + s]
            raise AssertionError(f"file byte {first} changed (window {where or 'none'})")

    # -- checks --------------------------------------------------------------------------------
    def _check_reply(self, frame: bytes, raw: bytes, verdict: Verdict) -> bool:
        """Check one reply; True when it acknowledges a write."""
        assert ETH_ZLEN <= len(raw) <= self.mtu + ETH_HLEN, f"reply of {len(raw)} bytes"
        dst, src, ethertype, verflags, error, shelf, slot, command, tag = _HEAD.unpack_from(raw)
        assert ethertype == ETH_P_AOE and verflags & 0x08 and verflags >> 4 == 1
        assert (dst, src, tag, command) == (frame[6:12], self.mac, _HEAD.unpack_from(frame)[8], frame[19])
        assert (shelf, slot) in verdict.addressed
        if verflags & 0x04:
            assert error in set(AoeError), f"AoE error {error}"
            return False
        assert error == 0
        reply = decode_frame(raw)  # every non-error reply decodes
        if command != Command.ATA:
            return False
        arg = reply.arg
        assert isinstance(arg, AtaArg)
        assert arg.cmd_status in (_DRDY, _DRDY | int(AtaStatus.ERR)), hex(arg.cmd_status)
        assert (arg.err_feature == 0) == (arg.cmd_status == _DRDY)
        assert arg.err_feature in _VALID_ATA_ERRORS
        ok = arg.cmd_status == _DRDY
        ata = frame[AOE_HLEN + 3]
        if ok and verdict.read is not None and ata in _READS:
            offset, length = verdict.read
            assert arg.data[:length] == bytes(self.model[offset : offset + length]), "read wrong data"
        return ok and ata in _WRITES

    def _check_state(
        self, frame: bytes, before: dict[tuple[int, int], tuple[bytes, tuple[bytes, ...], tuple[bytes, ...]]]
    ) -> None:
        src = frame[6:12] if len(frame) >= 12 else b""
        for key, export in self.exports.items():
            state = export.state
            config_string, masks, reserves = before[key]
            assert len(state.config_string) <= MAX_CONFIG_STRING
            assert len(state.mask_list) <= MAX_MASKS and len(set(state.mask_list)) == len(state.mask_list)
            assert len(state.reserve_list) <= 255
            admins = export.config.admin_macs
            if admins and src not in admins:
                assert (tuple(state.mask_list), tuple(state.reserve_list)) == (masks, reserves), (
                    f"{export.config.name}: a non-admin changed the mask or reserve list"
                )
            if state.config_string != config_string:
                # Only a set on an empty string, or a force set, and only the string sent.
                ccmd = frame[AOE_HLEN + 5] & 0x0F
                assert frame[19] == Command.QUERY_CONFIG and (ccmd == 4 or (ccmd == 3 and not config_string))
                length = int.from_bytes(frame[CONFIG_HLEN - 2 : CONFIG_HLEN], "big")
                assert state.config_string == frame[CONFIG_HLEN : CONFIG_HLEN + length]


def _snapshot(state: ExportState) -> tuple[bytes, tuple[bytes, ...], tuple[bytes, ...]]:
    return state.config_string, tuple(state.mask_list), tuple(state.reserve_list)
