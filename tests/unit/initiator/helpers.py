"""Hand-built target answers for initiator engine tests (made with the codec, no target engine)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyaoe.initiator import InitiatorConfig, InitiatorEngine, InitiatorEvent
from pyaoe.protocol import (
    AtaArg,
    AtaCommand,
    Command,
    ConfigArg,
    Frame,
    Header,
    HeaderFlag,
    build_identify,
    command_lba,
    decode_frame,
    encode_frame,
    reply_header,
)

IMAC = bytes.fromhex("020000000001")
IMAC2 = bytes.fromhex("020000000002")
TMAC = bytes.fromhex("0200000000aa")
TMAC2 = bytes.fromhex("0200000000bb")


def make_engine(interfaces: dict[str, tuple[bytes, int]] | None = None, **options: object) -> InitiatorEngine:
    # These tests count the frames sent: no start-up discovery repeats unless a test asks.
    options.setdefault("discover_again", ())
    config = InitiatorConfig(**options)  # type: ignore[arg-type]
    return InitiatorEngine(config, interfaces or {"eth0": (IMAC, 1500)})


def drain(engine: InitiatorEngine) -> list[InitiatorEvent]:
    events = []
    while (event := engine.next_event()) is not None:
        events.append(event)
    return events


def ata(frame: bytes) -> tuple[Header, AtaArg]:
    decoded = decode_frame(frame)
    assert isinstance(decoded.arg, AtaArg)
    return decoded.header, decoded.arg


@dataclass
class HandTarget:
    """A target whose every answer is built explicitly with the codec."""

    mac: bytes = TMAC
    shelf: int = 1
    slot: int = 0
    sectors: int = 2048
    bufcnt: int = 16
    scnt: int = 2
    firmware_version: int = 0x4019
    store: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        if not self.store:
            self.store = bytearray(self.sectors * 512)

    def config_reply(
        self, dst: bytes = IMAC, *, shelf: int | None = None, slot: int | None = None, version: int = 1
    ) -> bytes:
        header = Header(
            dst=dst,
            src=self.mac,
            shelf=self.shelf if shelf is None else shelf,
            slot=self.slot if slot is None else slot,
            command=Command.QUERY_CONFIG,
            tag=0,
            flags=HeaderFlag.RESPONSE,
            version=version,
        )
        arg = ConfigArg(
            buffer_count=self.bufcnt, firmware_version=self.firmware_version, sector_count=self.scnt
        )
        return encode_frame(Frame(header, arg))

    def answer(
        self,
        request: bytes,
        *,
        status: int | None = None,
        error: int = 0,
        aoe_error: int = 0,
        src: bytes | None = None,
        tag: int | None = None,
        shelf: int | None = None,
        data: bytes | None = None,
    ) -> bytes:
        """The reply to an ATA request: executes reads, writes and IDENTIFY on ``store``."""
        header, arg = ata(request)
        reply = reply_header(
            header,
            src or self.mac,
            self.shelf if shelf is None else shelf,
            self.slot,
            aoe_error or None,
        )
        if tag is not None:
            reply = Header(
                dst=reply.dst,
                src=reply.src,
                shelf=reply.shelf,
                slot=reply.slot,
                command=reply.command,
                tag=tag,
                flags=reply.flags,
                error=reply.error,
            )
        out = b""
        if not aoe_error and status is None:
            command = arg.cmd_status
            if command in (AtaCommand.READ_SECTORS, AtaCommand.READ_SECTORS_EXT):
                lba = command_lba(command, arg.lba)
                out = bytes(self.store[lba * 512 : (lba + arg.sector_count) * 512])
            elif command in (AtaCommand.WRITE_SECTORS, AtaCommand.WRITE_SECTORS_EXT):
                lba = command_lba(command, arg.lba)
                self.store[lba * 512 : (lba + arg.sector_count) * 512] = arg.data[: arg.sector_count * 512]
            elif command == AtaCommand.IDENTIFY_DEVICE:
                out = build_identify(self.sectors)
        if data is not None:
            out = data
        reply_arg = AtaArg(
            aflags=arg.aflags,
            err_feature=error,
            sector_count=0,
            cmd_status=0x40 if status is None else status,
            lba=arg.lba,
            data=out,
        )
        return encode_frame(Frame(reply, reply_arg))


def bring_up(
    engine: InitiatorEngine, target: HandTarget, now: float = 0.0, ifname: str = "eth0"
) -> list[InitiatorEvent]:
    """Discovery, config reply and IDENTIFY answered: the device is up. Returns the events."""
    engine.handle_timer(now)
    sent = engine.frames_to_send(now)
    assert sent, "no discovery frames"
    mac = engine.interfaces[ifname][0]
    engine.receive_frame(target.config_reply(mac), ifname, now)
    ((ident_if, ident),) = engine.frames_to_send(now)
    engine.receive_frame(target.answer(ident), ident_if, now)
    return drain(engine)
