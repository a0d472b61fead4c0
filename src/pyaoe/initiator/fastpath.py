"""pyaoe.initiator.fastpath: the common case of sending data frames, in straight-line code.

A read or write to a device with one target on one interface: frames are packed from one
prepared 20-byte prefix (as bytes, or into the driver's send buffers) and filled in without
calls; anything else is left to datapath.py.
"""

from __future__ import annotations

from struct import Struct
from typing import TYPE_CHECKING

from pyaoe.initiator.requests import Frame, FrameKind, FrameState, Request, RequestKind
from pyaoe.initiator.tags import TAG_MASK
from pyaoe.initiator.wire import VERSION_FLAGS
from pyaoe.protocol import (
    ATA_HLEN,
    ETH_P_AOE,
    ETH_ZLEN,
    LBA28_MAX,
    LBA48_MAX,
    SECTOR_SIZE,
    AtaCommand,
    AtaFlag,
    Command,
)

if TYPE_CHECKING:
    from pyaoe.initiator.datapath import DataPath

__all__ = ["send_data_frames", "REQUEST_PREFIX", "READ_REQUEST", "WRITE_HEADER"]

#: Bytes 0-19 of a request (Ethernet header, AoE header up to the tag): the same for every
#: frame to one target through one interface.
REQUEST_PREFIX = Struct("!6s6sHBBHBB")
#: A READ request from the prefix on: tag, ATA argument with its six LBA bytes little-endian,
#: and the padding to the 60-byte minimum (the layout of wire.ATA_REQUEST, padded).
READ_REQUEST = Struct(f"!20sIBBBB6s2x{ETH_ZLEN - ATA_HLEN}x")
#: The same header for a WRITE, whose data follows.
WRITE_HEADER = Struct("!20sIBBBB6s2x")
if READ_REQUEST.size != ETH_ZLEN or WRITE_HEADER.size != ATA_HLEN:  # layout facts, checked at import
    raise ImportError("fast path request layouts do not match the ATA header")

_ATA = int(Command.ATA)
_EXT_FLAG = int(AtaFlag.EXTENDED)
_WRITE_FLAG = int(AtaFlag.WRITE)
#: The LBA28 device bits (lba_register's), above the 28 address bits.
_LBA28_BITS = 0xE0 << 24
_READ = FrameKind.READ
_WRITE = FrameKind.WRITE
_IN_FLIGHT = FrameState.IN_FLIGHT


def send_data_frames(dp: DataPath, request: Request, now: float) -> bool | None:
    """Send a read's or write's next frames while the window has room.

    Returns what DataPath._issue returns (False: the window filled first), or None when the
    device is not the simple case (several targets or interfaces, an LBA the register cannot
    hold) and the general loop must do it. Each frame gets exactly the state, tag, deadline
    and bytes that DataPath._send_new would give it.
    """
    device = request.device
    targets = device.targets
    if len(targets) != 1:
        return None
    target = targets[0]
    ifaces = target.ifaces
    if len(ifaces) != 1:
        return None
    lba = request.next_lba
    end = request.end_lba
    if lba >= end:
        return True
    lba48 = device.lba48
    if end - 1 > (LBA48_MAX if lba48 else LBA28_MAX):
        return None  # lba_register() raises for it: the general path does the same
    room = target.window.maxout - target.nout
    if room <= 0:
        return False

    ifname = ifaces[0]
    src = dp.macs[ifname]
    cached = target.request_prefix
    if cached is not None and cached[0] == ifname and cached[1] is src:
        prefix = cached[2]
    else:
        address = device.address
        prefix = REQUEST_PREFIX.pack(
            target.mac, src, ETH_P_AOE, VERSION_FLAGS, 0, address.shelf, address.slot, _ATA
        )
        target.request_prefix = (ifname, src, prefix)
    per_frame = device.payload // SECTOR_SIZE
    writing = request.kind is RequestKind.WRITE
    if writing:
        kind = _WRITE
        command = AtaCommand.WRITE_SECTORS_EXT if lba48 else AtaCommand.WRITE_SECTORS
        aflags = (_EXT_FLAG if lba48 else 0) | _WRITE_FLAG
        data = memoryview(request.buf)
        dest = None
    else:
        kind = _READ
        command = AtaCommand.READ_SECTORS_EXT if lba48 else AtaCommand.READ_SECTORS
        aflags = _EXT_FLAG if lba48 else 0
        dest = request.buf
    register_bits = 0 if lba48 else _LBA28_BITS
    deadline = now + target.rtt.rto
    deadsecs = dp.config.deadsecs
    if deadsecs:
        deadline = min(deadline, now + deadsecs)

    # Frames go straight into the driver's send buffers while frames_to_send_into() has
    # room for this interface, then (in order) to the outbox's list (see Outbox).
    outbox = dp.outbox
    into = outbox.room(ifname)
    buffers = outbox.buffers
    lengths = outbox.lengths
    k = len(lengths)
    if into and len(buffers[k]) < (ATA_HLEN + per_frame * SECTOR_SIZE if writing else ETH_ZLEN):
        into = 0  # a payload too big for the MTU (the driver's default for tiny MTUs)
    out_append = outbox.frames.append

    tags = dp.tags
    allocator = dp.tag_allocator
    tag = allocator.next_tag
    base = request.lba
    new_frame = Frame.__new__
    frames: list[Frame] = []
    append_frame = frames.append
    while lba < end and room:
        count = end - lba
        if count > per_frame:
            count = per_frame
        offset = (lba - base) * SECTOR_SIZE
        while tag in tags:
            tag = (tag + 1) & TAG_MASK or 1
        register = lba | register_bits
        if into:
            buffer = buffers[k]
            if writing:
                WRITE_HEADER.pack_into(
                    buffer, 0, prefix, tag, aflags, 0, count, command, register.to_bytes(6, "little")
                )
                size = count * SECTOR_SIZE
                buffer[ATA_HLEN : ATA_HLEN + size] = data[offset : offset + size]
                lengths.append(ATA_HLEN + size)
            else:
                READ_REQUEST.pack_into(
                    buffer, 0, prefix, tag, aflags, 0, count, command, register.to_bytes(6, "little")
                )
                lengths.append(ETH_ZLEN)
            k += 1
            into -= 1
        else:
            if writing:
                wire = (
                    WRITE_HEADER.pack(prefix, tag, aflags, 0, count, command, register.to_bytes(6, "little"))
                    + data[offset : offset + count * SECTOR_SIZE]
                )
            else:
                wire = READ_REQUEST.pack(
                    prefix, tag, aflags, 0, count, command, register.to_bytes(6, "little")
                )
            out_append((ifname, wire))
        frame = new_frame(Frame)
        frame.kind = kind
        frame.device = device
        frame.request = request
        frame.lba = lba
        frame.nsect = count
        frame.command = command
        frame.dest = dest
        frame.dest_offset = offset
        frame.aflags = aflags
        frame.lba_registers = register
        frame.target = target
        frame.ifname = ifname
        frame.tag = tag
        frame.tags = [tag]
        frame.first_sent = now
        frame.target_since = now
        frame.transmissions = 1
        frame.tries = 1
        frame.state = _IN_FLIGHT
        tags[tag] = (frame, target, now)
        append_frame(frame)
        tag = (tag + 1) & TAG_MASK or 1
        lba += count
        room -= 1
    allocator.next_tag = tag

    sent = len(frames)
    request.next_lba = lba
    request.outstanding += sent
    target.nout += sent
    target.next_if = 1
    if writing:
        target.writes += sent
    else:
        target.reads += sent
    dp.counters.frames_sent += sent
    dp.timers.schedule_run(frames, deadline)
    return lba >= end
