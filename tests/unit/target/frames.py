"""Helpers for the target engine tests: build request frames, run them through an engine and
decode the replies, checking what every reply must satisfy (R set, at least 60 bytes)."""

from __future__ import annotations

from pyaoe.protocol import (
    AOE_VERSION,
    ETH_ZLEN,
    EXTENDED_COMMANDS,
    SECTOR_SIZE,
    AtaArg,
    AtaFlag,
    Command,
    ConfigArg,
    Frame,
    Header,
    MaskArg,
    ReserveArg,
    decode_frame,
    encode_frame,
    lba_register,
)
from pyaoe.protocol.frame import Arg
from pyaoe.protocol.header import decode_header
from pyaoe.storage.memory import MemoryBackend
from pyaoe.target import Backend, Export, ExportConfig, ExportState, TargetEngine

TARGET_MAC = bytes.fromhex("020000000001")
HOST_A = bytes.fromhex("02000000000a")
HOST_B = bytes.fromhex("02000000000b")
HOST_C = bytes.fromhex("02000000000c")
OTHER_MAC = bytes.fromhex("020000000099")
#: A tag as aoetools sends them (bit 31 set), echoed in every reply.
TAG = 0x8000_1234


def pattern(sectors: int, seed: int = 0) -> bytes:
    """Recognisable sector data: each sector different, none all zero."""
    return b"".join(bytes((seed + s + i) % 251 + 1 for i in range(SECTOR_SIZE)) for s in range(sectors))


def make_export(
    shelf: int = 1,
    slot: int = 2,
    *,
    sectors: int = 64,
    backend: Backend | None = None,
    readonly: bool = False,
    state: ExportState | None = None,
    **config: object,
) -> Export:
    backend = backend if backend is not None else MemoryBackend(sectors * SECTOR_SIZE, readonly=readonly)
    return Export(ExportConfig(shelf=shelf, slot=slot, **config), backend, state)  # type: ignore[arg-type]


def make_engine(*exports: Export, mtu: int = 1500) -> TargetEngine:
    return TargetEngine(TARGET_MAC, mtu, exports or (make_export(),))


def request(
    command: int,
    arg: Arg,
    *,
    shelf: int = 1,
    slot: int = 2,
    src: bytes = HOST_A,
    dst: bytes = TARGET_MAC,
    tag: int = TAG,
    version: int = AOE_VERSION,
    flags: int = 0,
) -> bytes:
    header = Header(
        dst=dst, src=src, shelf=shelf, slot=slot, command=command, tag=tag, flags=flags, version=version
    )
    return encode_frame(Frame(header, arg))


def ata_arg(
    command: int,
    lba: int = 0,
    count: int = 1,
    data: bytes = b"",
    *,
    aflags: int | None = None,
    registers: int | None = None,
) -> AtaArg:
    """An ATA argument as the Linux initiator builds it (E flag and LBA register bytes by the
    command's width); ``aflags`` and ``registers`` override what goes on the wire."""
    ext = command in EXTENDED_COMMANDS
    if aflags is None:
        aflags = int((AtaFlag.EXTENDED if ext else 0) | (AtaFlag.WRITE if data else 0))
    if registers is None:
        registers = lba_register(lba, ext)
    return AtaArg(aflags=aflags, sector_count=count, cmd_status=command, lba=registers, data=data)


def ata(
    command: int,
    lba: int = 0,
    count: int = 1,
    data: bytes = b"",
    *,
    aflags: int | None = None,
    registers: int | None = None,
    **kw: object,
) -> bytes:
    arg = ata_arg(command, lba, count, data, aflags=aflags, registers=registers)
    return request(Command.ATA, arg, **kw)  # type: ignore[arg-type]


def config(arg: ConfigArg, **kw: object) -> bytes:
    return request(Command.QUERY_CONFIG, arg, **kw)  # type: ignore[arg-type]


def mask(arg: MaskArg, **kw: object) -> bytes:
    return request(Command.MAC_MASK_LIST, arg, **kw)  # type: ignore[arg-type]


def reserve(arg: ReserveArg, **kw: object) -> bytes:
    return request(Command.RESERVE_RELEASE, arg, **kw)  # type: ignore[arg-type]


def replies(engine: TargetEngine, frame: bytes, src: bytes = HOST_A) -> list[Frame]:
    """Every reply ``engine`` makes to ``frame``, decoded and checked: padded to 60 bytes, R set,
    version 1, addressed back to the sender from the engine's MAC, tag and command echoed."""
    sent = decode_header(frame)
    out = []
    for raw in engine.handle_frame(frame):
        assert len(raw) >= ETH_ZLEN, f"reply of {len(raw)} bytes is shorter than the Ethernet minimum"
        reply = decode_frame(raw)
        h = reply.header
        assert h.is_response and h.version == AOE_VERSION
        assert (h.dst, h.src, h.tag, h.command) == (sent.src, TARGET_MAC, sent.tag, sent.command)
        out.append(reply)
    return out


def one_reply(engine: TargetEngine, frame: bytes) -> Frame:
    got = replies(engine, frame)
    assert len(got) == 1, f"expected one reply, got {len(got)}"
    return got[0]


def no_reply(engine: TargetEngine, frame: bytes) -> None:
    assert engine.handle_frame(frame) == []


def ata_reply(engine: TargetEngine, frame: bytes) -> tuple[Header, AtaArg]:
    reply = one_reply(engine, frame)
    assert isinstance(reply.arg, AtaArg)
    return reply.header, reply.arg
