"""pyaoe.initiator.fastpath: sending a read's or write's data frames, in straight-line code.

Frames are packed from a 20-byte prefix kept per target and interface (as bytes, or into the
driver's send buffers) and their state is filled in without calls: one target on one
interface in one tight loop, several targets or interfaces in another; datapath.py keeps
the general code (edge reads, flushes, IDENTIFY, probes, resends).
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
    from pyaoe.initiator.device import Target

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
    """Send a read's or write's next frames while the windows have room.

    Returns what DataPath._issue returns (False: the windows filled first), or None for an
    LBA the register cannot hold (the general loop raises for it as it always did). Each
    frame gets exactly the state, tag, deadline and bytes that DataPath._send_new would give
    it, in the same order.
    """
    if request.next_lba >= request.end_lba:
        return True
    device = request.device
    if request.end_lba - 1 > (LBA48_MAX if device.lba48 else LBA28_MAX):
        return None
    targets = device.targets
    if len(targets) == 1 and len(targets[0].ifaces) == 1:
        return _send_to_one(dp, request, targets[0], now)
    return _send_spread(dp, request, now)


def _request_prefix(dp: DataPath, target: Target, ifname: str) -> bytes:
    """Bytes 0-19 of a request to ``target`` through ``ifname`` (kept until its MAC changes)."""
    src = dp.macs[ifname]
    cached = target.request_prefixes.get(ifname)
    if cached is not None and cached[0] is src:
        return cached[1]
    address = target.device.address
    prefix = REQUEST_PREFIX.pack(
        target.mac, src, ETH_P_AOE, VERSION_FLAGS, 0, address.shelf, address.slot, _ATA
    )
    target.request_prefixes[ifname] = (src, prefix)
    return prefix


def _send_to_one(dp: DataPath, request: Request, target: Target, now: float) -> bool:
    """One target on one interface: one prefix, one deadline, counters added once."""
    room = target.window.maxout - target.nout
    if room <= 0:
        return False
    device = request.device
    lba = request.next_lba
    end = request.end_lba
    lba48 = device.lba48
    ifname = target.ifaces[0]
    prefix = _request_prefix(dp, target, ifname)
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
        # The state _send_new and _transmit give a new frame (keep the two loops the same).
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


def _send_spread(dp: DataPath, request: Request, now: float) -> bool:
    """Several targets or interfaces: each frame picks its target (Device.pick_target) and
    its target's next interface, and is counted and timed as it goes."""
    device = request.device
    lba = request.next_lba
    end = request.end_lba
    lba48 = device.lba48
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
    deadsecs = dp.config.deadsecs

    outbox = dp.outbox
    into_ifname = outbox.ifname
    buffers = outbox.buffers
    lengths = outbox.lengths
    out_append = outbox.frames.append
    schedule = dp.timers.schedule
    pick_target = device.pick_target
    tags = dp.tags
    allocator = dp.tag_allocator
    tag = allocator.next_tag
    base = request.lba
    new_frame = Frame.__new__
    sent = 0
    room = True
    while lba < end:
        target = pick_target()
        if target is None:
            room = False
            break
        # Target.next_interface(), inline.
        ifaces = target.ifaces
        i = target.next_if
        if i >= len(ifaces):
            i = 0
        target.next_if = i + 1
        ifname = ifaces[i]
        prefix = _request_prefix(dp, target, ifname)
        count = end - lba
        if count > per_frame:
            count = per_frame
        offset = (lba - base) * SECTOR_SIZE
        while tag in tags:
            tag = (tag + 1) & TAG_MASK or 1
        register = lba | register_bits
        size = ATA_HLEN + count * SECTOR_SIZE if writing else ETH_ZLEN
        k = len(lengths)
        if ifname == into_ifname and k < len(buffers) and size <= len(buffers[k]):
            buffer = buffers[k]
            if writing:
                WRITE_HEADER.pack_into(
                    buffer, 0, prefix, tag, aflags, 0, count, command, register.to_bytes(6, "little")
                )
                buffer[ATA_HLEN:size] = data[offset : offset + size - ATA_HLEN]
            else:
                READ_REQUEST.pack_into(
                    buffer, 0, prefix, tag, aflags, 0, count, command, register.to_bytes(6, "little")
                )
            lengths.append(size)
        else:
            if writing:
                wire = (
                    WRITE_HEADER.pack(prefix, tag, aflags, 0, count, command, register.to_bytes(6, "little"))
                    + data[offset : offset + size - ATA_HLEN]
                )
            else:
                wire = READ_REQUEST.pack(
                    prefix, tag, aflags, 0, count, command, register.to_bytes(6, "little")
                )
            out_append((ifname, wire))
        # The state _send_new and _transmit give a new frame (keep the two loops the same).
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
        if writing:
            target.writes += 1
        else:
            target.reads += 1
        target.nout += 1
        deadline = now + target.rtt.rto
        if deadsecs:
            deadline = min(deadline, now + deadsecs)
        schedule(frame, deadline)
        tag = (tag + 1) & TAG_MASK or 1
        lba += count
        sent += 1
    allocator.next_tag = tag
    request.next_lba = lba
    request.outstanding += sent
    dp.counters.frames_sent += sent
    return room
