"""Wireshark's AoE dissector reads what pyaoe's codec writes: frames of every kind, through tshark.

Builds requests and responses with pyaoe.protocol, writes them to a pcap file (Ethernet link
type), and checks every field tshark decodes against what each frame was meant to say.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyaoe.protocol import (
    BROADCAST_MAC,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    AoeError,
    AtaArg,
    AtaCommand,
    AtaErrorBit,
    AtaFlag,
    AtaStatus,
    Command,
    ConfigArg,
    ConfigCommand,
    Directive,
    DirectiveCommand,
    Frame,
    Header,
    HeaderFlag,
    MaskArg,
    MaskCommand,
    ReserveArg,
    ReserveCommand,
    build_identify,
    encode_frame,
    lba_register,
    reply_header,
)

pytestmark = pytest.mark.interop

INITIATOR = bytes.fromhex("020000a0e001")
TARGET = bytes.fromhex("020000a0e002")
SHELF, SLOT = 7, 3

FIELDS = [
    "frame.number",
    "aoe.version",
    "aoe.response",
    "aoe.flags_error",
    "aoe.error",
    "aoe.major",
    "aoe.minor",
    "aoe.cmd",
    "aoe.tag",
    "aoe.aflags.e",
    "aoe.aflags.w",
    "aoe.sector_count",
    "aoe.err_feature",
    "aoe.ata.cmd",
    "aoe.ata.status",
    "aoe.lba",
    "aoe.response_to",
    "_ws.malformed",
]


@dataclass
class Case:
    """One frame and the fields tshark must show for it ('' = field absent)."""

    name: str
    frame: bytes
    expect: dict[str, str] = field(default_factory=dict)


def request(command: int, tag: int, *, shelf: int = SHELF, slot: int = SLOT, dst: bytes = TARGET) -> Header:
    return Header(dst=dst, src=INITIATOR, shelf=shelf, slot=slot, command=command, tag=tag)


def header_fields(
    *, response: bool, error: int | None, shelf: int, slot: int, command: int, tag: int, version: int = 1
) -> dict[str, str]:
    return {
        "aoe.version": str(version),
        "aoe.response": "1" if response else "0",
        "aoe.flags_error": "1" if error else "0",
        # The dissector shows the Error field only when the E flag is set.
        "aoe.error": str(error) if error else "",
        "aoe.major": f"0x{shelf:04x}",
        "aoe.minor": f"0x{slot:02x}",
        "aoe.cmd": str(command),
        "aoe.tag": f"0x{tag:08x}",
    }


NO_ATA = {
    "aoe.aflags.e": "",
    "aoe.aflags.w": "",
    "aoe.sector_count": "",
    "aoe.err_feature": "",
    "aoe.ata.cmd": "",
    "aoe.ata.status": "",
    "aoe.lba": "",
}


def ata_fields(
    *, e: bool, w: bool, count: int, feature: int, cmd: str, status: str, lba: int
) -> dict[str, str]:
    return {
        "aoe.aflags.e": "1" if e else "0",
        "aoe.aflags.w": "1" if w else "0",
        "aoe.sector_count": str(count),
        "aoe.err_feature": f"0x{feature:02x}",
        "aoe.ata.cmd": cmd,
        "aoe.ata.status": status,
        "aoe.lba": f"0x{lba:016x}",
    }


def build_cases() -> list[Case]:
    cases: list[Case] = []
    number = 0

    def add(name: str, frame: Frame, expect: dict[str, str], response_to: int | None = None) -> int:
        nonlocal number
        number += 1
        expect = {**expect, "aoe.response_to": str(response_to) if response_to else "", "_ws.malformed": ""}
        cases.append(Case(name, encode_frame(frame), {"frame.number": str(number), **expect}))
        return number

    # LBA28 read: registers carry 0xE0 in LBA3, and the dissector shows the six raw bytes.
    lba28 = 0x0ABCDEF1
    hdr = request(Command.ATA, 0x00010001)
    req = add(
        "LBA28 read request",
        Frame(
            hdr, AtaArg(sector_count=2, cmd_status=AtaCommand.READ_SECTORS, lba=lba_register(lba28, False))
        ),
        header_fields(response=False, error=None, shelf=SHELF, slot=SLOT, command=0, tag=0x00010001)
        | ata_fields(e=False, w=False, count=2, feature=0, cmd="0x20", status="", lba=0xEABCDEF1),
    )
    add(
        "LBA28 read response",
        Frame(
            reply_header(hdr, TARGET, SHELF, SLOT),
            AtaArg(cmd_status=AtaStatus.DRDY, lba=lba_register(lba28, False), data=bytes(range(256)) * 4),
        ),
        header_fields(response=True, error=None, shelf=SHELF, slot=SLOT, command=0, tag=0x00010001)
        # A response's ATA Cmd is taken from the request it answers.
        | ata_fields(e=False, w=False, count=0, feature=0, cmd="0x20", status="0x40", lba=0xEABCDEF1),
        response_to=req,
    )

    # LBA48 write with data, asynchronous.
    lba48 = 0x123456789ABC
    hdr = request(Command.ATA, 0x80020002)
    write = AtaArg(
        aflags=AtaFlag.EXTENDED | AtaFlag.WRITE | AtaFlag.ASYNC,
        sector_count=2,
        cmd_status=AtaCommand.WRITE_SECTORS_EXT,
        lba=lba_register(lba48, True),
        data=b"\xa5" * 1024,
    )
    req = add(
        "LBA48 write request",
        Frame(hdr, write),
        header_fields(response=False, error=None, shelf=SHELF, slot=SLOT, command=0, tag=0x80020002)
        | ata_fields(e=True, w=True, count=2, feature=0, cmd="0x34", status="", lba=lba48),
    )
    add(
        "LBA48 write response",
        Frame(
            reply_header(hdr, TARGET, SHELF, SLOT),
            AtaArg(aflags=write.aflags, cmd_status=AtaStatus.DRDY, lba=write.lba),
        ),
        header_fields(response=True, error=None, shelf=SHELF, slot=SLOT, command=0, tag=0x80020002)
        | ata_fields(e=True, w=True, count=0, feature=0, cmd="0x34", status="0x40", lba=lba48),
        response_to=req,
    )

    # LBA48 read past the end: ATA failure (DRDY|ERR, IDNF), sectors left unchanged.
    hdr = request(Command.ATA, 0x00030003)
    req = add(
        "LBA48 read request",
        Frame(
            hdr,
            AtaArg(
                aflags=AtaFlag.EXTENDED, sector_count=1, cmd_status=AtaCommand.READ_SECTORS_EXT, lba=1 << 40
            ),
        ),
        header_fields(response=False, error=None, shelf=SHELF, slot=SLOT, command=0, tag=0x00030003)
        | ata_fields(e=True, w=False, count=1, feature=0, cmd="0x24", status="", lba=1 << 40),
    )
    add(
        "ATA failure response",
        Frame(
            reply_header(hdr, TARGET, SHELF, SLOT),
            AtaArg(
                aflags=AtaFlag.EXTENDED,
                sector_count=1,
                err_feature=AtaErrorBit.IDNF,
                cmd_status=AtaStatus.DRDY | AtaStatus.ERR,
                lba=1 << 40,
            ),
        ),
        header_fields(response=True, error=None, shelf=SHELF, slot=SLOT, command=0, tag=0x00030003)
        | ata_fields(e=True, w=False, count=1, feature=0x10, cmd="0x24", status="0x41", lba=1 << 40),
        response_to=req,
    )

    # IDENTIFY DEVICE and its 512-byte answer.
    hdr = request(Command.ATA, 0x00040004)
    req = add(
        "IDENTIFY request",
        Frame(hdr, AtaArg(sector_count=1, cmd_status=AtaCommand.IDENTIFY_DEVICE)),
        header_fields(response=False, error=None, shelf=SHELF, slot=SLOT, command=0, tag=0x00040004)
        | ata_fields(e=False, w=False, count=1, feature=0, cmd="0xec", status="", lba=0),
    )
    add(
        "IDENTIFY response",
        Frame(
            reply_header(hdr, TARGET, SHELF, SLOT),
            AtaArg(cmd_status=AtaStatus.DRDY, data=build_identify(1 << 30)),
        ),
        header_fields(response=True, error=None, shelf=SHELF, slot=SLOT, command=0, tag=0x00040004)
        | ata_fields(e=False, w=False, count=0, feature=0, cmd="0xec", status="0x40", lba=0),
        response_to=req,
    )

    # An AoE error response for every error code, to ATA and Query Config requests.
    for code in AoeError:
        tag = 0x00050000 + code
        command = Command.ATA if code % 2 else Command.QUERY_CONFIG
        hdr = request(command, tag)
        arg: AtaArg | ConfigArg
        if command == Command.ATA:
            arg = AtaArg(sector_count=1, cmd_status=AtaCommand.READ_SECTORS)
            asked = ata_fields(e=False, w=False, count=1, feature=0, cmd="0x20", status="", lba=0)
            # The response echoes the request's argument; its Cmd/Status byte reads as status.
            answered = ata_fields(e=False, w=False, count=1, feature=0, cmd="0x20", status="0x20", lba=0)
        else:
            arg = ConfigArg(ccmd=ConfigCommand.SET, config_string=b"taken")
            asked = answered = NO_ATA
        req = add(
            f"request answered with {code.name}",
            Frame(hdr, arg),
            header_fields(response=False, error=None, shelf=SHELF, slot=SLOT, command=command, tag=tag)
            | asked,
        )
        add(
            f"AoE error {code.name} response",
            Frame(reply_header(hdr, TARGET, SHELF, SLOT, error=code), arg),
            header_fields(response=True, error=int(code), shelf=SHELF, slot=SLOT, command=command, tag=tag)
            | answered,
            response_to=req if command == Command.ATA else None,
        )

    # Broadcast Query Config request (the discovery frame) and a target's answer.
    hdr = request(
        Command.QUERY_CONFIG, 0x80060006, shelf=BROADCAST_SHELF, slot=BROADCAST_SLOT, dst=BROADCAST_MAC
    )
    add(
        "broadcast config query",
        Frame(hdr, ConfigArg()),
        header_fields(response=False, error=None, shelf=0xFFFF, slot=0xFF, command=1, tag=0x80060006)
        | NO_ATA,
    )
    add(
        "config response",
        Frame(
            reply_header(hdr, TARGET, SHELF, SLOT),
            ConfigArg(buffer_count=16, firmware_version=0x4019, sector_count=2, config_string=b"pyaoe test"),
        ),
        header_fields(response=True, error=None, shelf=SHELF, slot=SLOT, command=1, tag=0x80060006) | NO_ATA,
    )
    # vblade's startup announcement has version nibble 0.
    add(
        "version 0 announcement",
        Frame(
            Header(
                dst=BROADCAST_MAC,
                src=TARGET,
                shelf=SHELF,
                slot=SLOT,
                command=Command.QUERY_CONFIG,
                tag=0,
                flags=HeaderFlag.RESPONSE,
                version=0,
            ),
            ConfigArg(aoe_version=1, sector_count=17),
        ),
        # The dissector decodes nothing past the version of a frame that is not version 1.
        dict.fromkeys(FIELDS[2:], "") | {"aoe.version": "0"},
    )

    # Mask list edit, Reserve/Release, and a vendor command with a raw argument.
    add(
        "mask edit request",
        Frame(
            request(Command.MAC_MASK_LIST, 0x00070007),
            MaskArg(mcmd=MaskCommand.EDIT, directives=(Directive(DirectiveCommand.ADD, INITIATOR),)),
        ),
        header_fields(response=False, error=None, shelf=SHELF, slot=SLOT, command=2, tag=0x00070007) | NO_ATA,
    )
    add(
        "reserve request",
        Frame(
            request(Command.RESERVE_RELEASE, 0x00080008),
            ReserveArg(rcmd=ReserveCommand.SET, macs=(INITIATOR, TARGET)),
        ),
        header_fields(response=False, error=None, shelf=SHELF, slot=SLOT, command=3, tag=0x00080008) | NO_ATA,
    )
    add(
        "vendor command",
        Frame(request(0xF1, 0xFFFFFFFF), b"vendor payload"),
        header_fields(response=False, error=None, shelf=SHELF, slot=SLOT, command=0xF1, tag=0xFFFFFFFF)
        | NO_ATA,
    )
    return cases


def write_pcap(path: Path, frames: list[bytes]) -> None:
    """Classic pcap: global header (microsecond timestamps, link type 1 Ethernet) and records."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)))
            f.write(frame)


def test_tshark_decodes_every_frame_as_meant(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    assert tshark, "tshark is not installed (scripts/setup.sh installs it)"
    cases = build_cases()
    pcap = tmp_path / "aoe.pcap"
    write_pcap(pcap, [case.frame for case in cases])

    args = [tshark, "-n", "-r", str(pcap), "-T", "fields", "-E", "separator=,"]
    for name in FIELDS:
        args += ["-e", name]
    # tshark warns on stderr when run as root; only the exit code and stdout matter.
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr

    rows = [line.split(",") for line in result.stdout.splitlines()]
    assert len(rows) == len(cases), result.stdout
    mismatches = []
    for case, row in zip(cases, rows, strict=True):
        assert len(row) == len(FIELDS), (case.name, row)
        got = dict(zip(FIELDS, row, strict=True))
        assert set(case.expect) == set(FIELDS), case.name
        for name in FIELDS:
            if got[name] != case.expect[name]:
                mismatches.append(f"{case.name}: {name} = {got[name]!r}, meant {case.expect[name]!r}")
    assert not mismatches, "\n".join(mismatches)
