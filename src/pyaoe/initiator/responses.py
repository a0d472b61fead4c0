"""pyaoe.initiator.responses: what an ATA response does to the frame and request it answers.

Matching by tag, source MAC and shelf.slot; data into the request; AoE and ATA errors failing
the request at once; IDENTIFY bringing a device up. The hot path decodes into locals.
"""

from __future__ import annotations

from pyaoe.initiator.datapath import DataPath, format_stamp
from pyaoe.initiator.device import Device, DeviceState
from pyaoe.initiator.events import DeviceChanged, DeviceUp, Diagnostic, DiagnosticKind, RequestError
from pyaoe.initiator.requests import Frame, FrameKind, FrameState
from pyaoe.initiator.timers import NEVER
from pyaoe.protocol import (
    AOE_ERROR_TEXT,
    ATA_FAILURE_MASK,
    ATA_HLEN,
    SECTOR_SIZE,
    AtaCommand,
    FrameError,
    HeaderFlag,
    parse_identify,
)

__all__ = ["handle_ata_response"]

_ERROR_FLAG = int(HeaderFlag.ERROR)
_FAILURE_MASK = int(ATA_FAILURE_MASK)
#: Offsets of the ATA Status and Error registers in a response frame.
_STATUS = ATA_HLEN - 9
_ERROR = ATA_HLEN - 11


def handle_ata_response(
    dp: DataPath,
    frame_bytes: bytes | bytearray | memoryview,
    src: bytes,
    dst: bytes,
    shelf: int,
    slot: int,
    tag: int,
    flags: int,
    error: int,
    ifname: str,
    now: float,
) -> None:
    """Match an ATA response to its frame and act on it (the hot path)."""
    entry = dp.tags.get(tag)
    if entry is None:
        _unexpected(dp, shelf, slot, tag, src, dst, now)
        return
    frame, sent_to, sent = entry
    device = frame.device
    address = device.address
    if sent_to.mac != src or address.shelf != shelf or address.slot != slot:
        _unexpected(dp, shelf, slot, tag, src, dst, now)
        return
    tags = dp.tags
    for old in frame.tags:
        del tags[old]
    frame.tags.clear()
    current = frame.target
    if frame.state is FrameState.IN_FLIGHT and current is not None:
        current.window.on_ack(current.nout)
        current.nout -= 1
    frame.state = FrameState.RETIRED
    frame.deadline = NEVER
    answering = current if current is not None and current.mac == src else device.target(src)
    if answering is not None:
        answering.rtt.update(now - sent)
        if ifname in answering.lost:
            answering.lost[ifname] = 0
        if answering.taint:
            answering.taint -= 1
    dp.dirty[device] = None
    request = frame.request
    kind = frame.kind
    if flags & _ERROR_FLAG:
        _aoe_error(dp, frame, src, error, ifname)
    elif frame_bytes[_STATUS] & _FAILURE_MASK:
        _ata_error(dp, frame, frame_bytes[_STATUS], frame_bytes[_ERROR])
    elif kind is FrameKind.READ or kind is FrameKind.RMW_READ:
        need = frame.nsect * SECTOR_SIZE
        if len(frame_bytes) - ATA_HLEN < need:
            _runt(dp, frame, len(frame_bytes), need)
        elif request is not None and not request.failed:
            dest = frame.dest
            if dest is not None:
                offset = frame.dest_offset
                dest[offset : offset + need] = frame_bytes[ATA_HLEN : ATA_HLEN + need]
            else:
                request.merge_edge(frame.dest_offset, frame_bytes[ATA_HLEN : ATA_HLEN + need])
                if request.edges_pending == 0 and request.has_frames_to_send:
                    device.queue.append(request)
    elif kind is FrameKind.IDENTIFY:
        _identified(dp, device, src, frame_bytes, now)
    if kind is FrameKind.PROBE and answering is not None:
        # It answers (even with an error): probe again at once while still tainted, as the
        # driver's ktiocomplete does.
        dp.schedule_probe(device, answering, now, soon=True)
    elif kind is FrameKind.IDENTIFY and device.identify_frame is frame:
        device.identify_frame = None
    if request is not None:
        dp.frame_retired(request, now)


def _unexpected(dp: DataPath, shelf: int, slot: int, tag: int, src: bytes, dst: bytes, now: float) -> None:
    dp.counters.unexpected_responses += 1
    dp.events.append(
        Diagnostic(
            DiagnosticKind.UNEXPECTED_RESPONSE,
            f"{'unexpected rsp':>15} e{shelf}.{slot}    tag={tag:08x}@{format_stamp(now)} "
            f"s={src.hex()} d={dst.hex()}",
        )
    )


def _aoe_error(dp: DataPath, frame: Frame, src: bytes, code: int, ifname: str) -> None:
    device = frame.device
    dp.counters.aoe_errors += 1
    text = AOE_ERROR_TEXT.get(code, "unknown error")
    shelf, slot = device.address
    dp.events.append(
        Diagnostic(
            DiagnosticKind.AOE_ERROR,
            f"aoe: error packet from {shelf}.{slot}@{ifname}; ecode={code} '{text}'",
            device.address,
        )
    )
    if frame.request is not None:
        dp.fail_request(
            frame.request,
            RequestError.AOE_ERROR,
            f"{device.name}: target {src.hex()} answered {_describe(frame)} with AoE error {code} ({text})",
            aoe_error=code,
        )


def _ata_error(dp: DataPath, frame: Frame, status: int, error: int) -> None:
    device = frame.device
    dp.counters.ata_errors += 1
    dp.events.append(
        Diagnostic(
            DiagnosticKind.ATA_ERROR,
            f"aoe: ata error cmd={frame.command:02X}h stat={status:02X}h from {device.name}",
            device.address,
        )
    )
    if frame.request is not None:
        dp.fail_request(
            frame.request,
            RequestError.ATA_ERROR,
            f"{device.name}: {_describe(frame)} failed: ATA status 0x{status:02x}, error 0x{error:02x}",
            ata_status=status,
            ata_error=error,
        )


def _runt(dp: DataPath, frame: Frame, length: int, need: int) -> None:
    device = frame.device
    dp.events.append(
        Diagnostic(
            DiagnosticKind.INFO,
            f"aoe: runt data size in read from {device.name}.  skb->len={length - ATA_HLEN} need={need}",
            device.address,
        )
    )
    if frame.request is not None:
        dp.fail_request(
            frame.request,
            RequestError.BAD_RESPONSE,
            f"{device.name}: {_describe(frame)} answered with {length - ATA_HLEN} bytes, not {need}",
        )


def _identified(
    dp: DataPath, device: Device, src: bytes, frame_bytes: bytes | bytearray | memoryview, now: float
) -> None:
    page = frame_bytes[ATA_HLEN : ATA_HLEN + SECTOR_SIZE]
    try:
        info = parse_identify(page)
    except FrameError:
        dp.events.append(
            Diagnostic(
                DiagnosticKind.INFO,
                f"aoe: runt data size in ataid from {device.name}.  skb->len={len(page)} need=512",
                device.address,
            )
        )
        return
    old_sectors, old_lba48 = device.sectors, device.lba48
    device.identify = info
    device.sectors = info.sectors
    device.lba48 = info.lba48
    line = f"aoe: {src.hex()} {device.name} v{device.firmware_version:04x} has {info.sectors} sectors"
    if device.state is not DeviceState.UP:
        device.state = DeviceState.UP
        dp.events.append(DeviceUp(device.address, info.sectors))
        dp.events.append(Diagnostic(DiagnosticKind.DEVICE_UP, line, device.address))
    elif (old_sectors, old_lba48) != (info.sectors, info.lba48):
        dp.events.append(Diagnostic(DiagnosticKind.INFO, line, device.address))
        dp.events.append(DeviceChanged(device.address, info.sectors, device.payload, "capacity"))


def _describe(frame: Frame) -> str:
    """The command a frame carries, for error messages: 'WRITE of 2 sectors at LBA 100'."""
    kind = frame.kind
    if kind is FrameKind.FLUSH:
        return "FLUSH CACHE" + (" EXT" if frame.command == AtaCommand.FLUSH_CACHE_EXT else "")
    if kind is FrameKind.IDENTIFY:
        return "IDENTIFY DEVICE"
    verb = "WRITE" if kind is FrameKind.WRITE else "READ"
    return f"{verb} of {frame.nsect} sectors at LBA {frame.lba}"
