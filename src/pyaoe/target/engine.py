"""pyaoe.target.engine: the target's protocol engine for one interface and any number of exports.

handle_frame(frame, now) -> reply frames: the address filter, R flag, mask and reserve checks,
version check and dispatch by command; announcements() for start-up. No sockets, no clock.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from pyaoe.errors import FrameError
from pyaoe.protocol import (
    AOE_HLEN,
    AOE_VERSION,
    ATA_HLEN,
    BROADCAST_MAC,
    BROADCAST_SHELF,
    BROADCAST_SLOT,
    CONFIG_HLEN,
    ETH_HLEN,
    MASK_HLEN,
    READ_COMMANDS,
    RESERVE_HLEN,
    WRITE_COMMANDS,
    AoeError,
    AtaArg,
    AtaCommand,
    Command,
    ConfigArg,
    ConfigCommand,
    Frame,
    Header,
    HeaderFlag,
    MaskArg,
    ReserveArg,
    encode_frame,
    pad_frame,
    reply_header,
    sectors_per_frame,
)
from pyaoe.protocol.frame import Arg, decode_arg
from pyaoe.protocol.header import decode_header, encode_header_into
from pyaoe.target.ata import execute_ata
from pyaoe.target.control import answer_config, answer_mask, answer_reserve, config_reply
from pyaoe.target.export import Export

__all__ = ["TargetEngine"]

log = logging.getLogger(__name__)


class TargetEngine:
    """Answers AoE requests arriving on one interface for a set of exports.

    ``mac`` and ``mtu`` are the interface's; set ``mtu`` again when the interface's MTU changes
    (the sector count is recomputed from it for every request, as vblade does).
    """

    def __init__(self, mac: bytes, mtu: int, exports: Iterable[Export] = ()) -> None:
        if len(mac) != 6:
            raise ValueError("an interface MAC is 6 bytes")
        self.mac = bytes(mac)
        self._mtu = mtu
        self._max_sectors = sectors_per_frame(mtu)
        self._exports: dict[tuple[int, int], Export] = {}
        #: Frames dropped because they could not be decoded or were not for us.
        self.ignored = 0
        for export in exports:
            self.add_export(export)

    # -- exports -------------------------------------------------------------------------------
    def add_export(self, export: Export) -> None:
        key = (export.config.shelf, export.config.slot)
        if key in self._exports:
            raise ValueError(f"{export.config.name} is already exported on this interface")
        self._exports[key] = export

    def remove_export(self, shelf: int, slot: int) -> Export:
        return self._exports.pop((shelf, slot))

    @property
    def exports(self) -> list[Export]:
        return list(self._exports.values())

    @property
    def mtu(self) -> int:
        return self._mtu

    @mtu.setter
    def mtu(self, mtu: int) -> None:
        self._mtu = mtu
        self._max_sectors = sectors_per_frame(mtu)

    @property
    def max_sectors(self) -> int:
        """Sectors one frame carries at the current MTU."""
        return self._max_sectors

    def _addressed(self, shelf: int, slot: int) -> list[Export]:
        if shelf != BROADCAST_SHELF and slot != BROADCAST_SLOT:
            export = self._exports.get((shelf, slot))
            return [export] if export is not None else []
        return [
            e
            for (s, t), e in self._exports.items()
            if shelf in (s, BROADCAST_SHELF) and slot in (t, BROADCAST_SLOT)
        ]

    # -- frames --------------------------------------------------------------------------------
    def announcements(self, only: Collection[Export] | None = None) -> list[bytes]:
        """Unsolicited Query Config responses announcing every export (or those in ``only``).

        Broadcast, or one unicast copy to each MAC of a non-empty mask list, as vblade does;
        unlike vblade's, they carry version 1.
        """
        frames = []
        for export in self._exports.values():
            if only is not None and export not in only:
                continue
            arg = config_reply(export, ConfigCommand.READ, self.max_sectors)
            destinations = export.state.mask_list or [BROADCAST_MAC]
            for dst in destinations:
                header = Header(
                    dst=dst,
                    src=self.mac,
                    shelf=export.config.shelf,
                    slot=export.config.slot,
                    command=Command.QUERY_CONFIG,
                    tag=0,
                    flags=HeaderFlag.RESPONSE,
                )
                frames.append(encode_frame(Frame(header, arg)))
        return frames

    def handle_frame(self, frame: bytes | bytearray | memoryview, now: float = 0.0) -> list[bytes]:
        """Answer one received frame (Ethernet header included); never raises for bad input.

        Returns the reply frames, padded, in order (several for a broadcast query).
        """
        try:
            header = decode_header(frame)
        except FrameError:
            self.ignored += 1
            return []
        if header.is_response or (header.dst != self.mac and header.dst != BROADCAST_MAC):
            self.ignored += 1
            return []
        exports = self._addressed(header.shelf, header.slot)
        if not exports:
            self.ignored += 1
            return []
        arg: Arg | None = None
        arg_error: FrameError | None = None
        if header.version == AOE_VERSION:
            try:
                arg = decode_arg(header.command, frame)
            except FrameError as exc:
                # Without its traceback: kept in a local, it would tie this frame to itself in
                # a reference cycle, garbage for the collector on every undecodable frame.
                arg_error = exc.with_traceback(None)
        replies = []
        for export in exports:
            try:
                reply = self._answer(export, header, arg, arg_error, frame)
            except Exception:  # the serving loop must survive anything one frame does
                export.counters.failures += 1
                log.exception("%s: failed to answer a frame: %s", export.config.name, bytes(frame[:36]).hex())
                reply = None
            if reply is not None:
                replies.append(reply)
        return replies

    def _answer(
        self,
        export: Export,
        header: Header,
        arg: Arg | None,
        arg_error: FrameError | None,
        frame: bytes | bytearray | memoryview,
    ) -> bytes | None:
        state = export.state
        counters = export.counters
        if (
            state.mask_list
            and header.src not in state.mask_list
            and not (header.command in _ADMIN_COMMANDS and header.src in export.config.admin_macs)
        ):
            counters.dropped += 1
            return None
        counters.requests += 1
        if header.version != AOE_VERSION:
            return self._error(export, header, AoeError.UNSUPPORTED_VERSION, frame)
        if arg_error is not None:
            if arg_error.reply_error is None:
                counters.dropped += 1
                return None
            return self._error(export, header, arg_error.reply_error, frame)
        if isinstance(arg, AtaArg):
            return self._answer_ata(export, header, arg, frame)
        if isinstance(arg, ConfigArg):
            counters.config_queries += 1
            answer = answer_config(export, arg, self.max_sectors)
            if answer is None:
                return None
            return self._reply(export, header, answer[0], answer[1])
        if isinstance(arg, MaskArg):
            counters.mask_requests += 1
            return self._reply(export, header, *answer_mask(export, arg, header.src))
        if isinstance(arg, ReserveArg):
            counters.reserve_requests += 1
            return self._reply(export, header, *answer_reserve(export, arg, header.src))
        # Unknown and vendor commands: echo the argument with error 1, as vblade does.
        counters.unknown_commands += 1
        return self._error(export, header, AoeError.UNRECOGNIZED_COMMAND, frame)

    def _answer_ata(
        self, export: Export, header: Header, arg: AtaArg, frame: bytes | bytearray | memoryview
    ) -> bytes:
        state = export.state
        command = arg.cmd_status
        if command == AtaCommand.IDENTIFY_DEVICE:
            export.counters.identifies += 1
        elif command not in _COUNTED_BY_ATA:
            export.counters.other_ata += 1
        if (
            state.reserve_list
            and header.src not in state.reserve_list
            and command != AtaCommand.IDENTIFY_DEVICE
        ):
            return self._error(export, header, AoeError.TARGET_RESERVED, frame)
        result = execute_ata(export, arg, self.max_sectors, header.is_broadcast)
        if result.aoe_error:
            return self._error(export, header, result.aoe_error, frame)
        reply = AtaArg(
            aflags=arg.aflags,
            err_feature=result.error,
            sector_count=result.sector_count,
            cmd_status=result.status,
            lba=arg.lba,
            data=result.data,
        )
        return self._reply(export, header, reply, 0)

    def _reply(self, export: Export, header: Header, arg: Arg, error: int) -> bytes:
        if error:
            export.counters.aoe_errors += 1
        rheader = reply_header(header, self.mac, export.config.shelf, export.config.slot, error)
        return encode_frame(Frame(rheader, arg))

    def _error(
        self, export: Export, header: Header, error: int, frame: bytes | bytearray | memoryview
    ) -> bytes:
        """An error response: R and E set, and the request's fixed argument echoed back.

        Built from raw bytes so that a frame whose argument cannot be decoded is still answered;
        write data is not echoed, while an unknown command is echoed whole (up to the MTU), as
        vblade does.
        The list or string after the fixed argument is not echoed either, so its count is
        zeroed: a reply must decode even when the request's count was the bad argument.
        """
        export.counters.aoe_errors += 1
        rheader = reply_header(header, self.mac, export.config.shelf, export.config.slot, error)
        # An unknown command is echoed whole, but never past the MTU: a larger reply could not
        # be sent (a frame that big arrives only when the MTU shrank since).
        end = _FIXED_LENGTH.get(header.command, ETH_HLEN + self.mtu)
        buf = bytearray(max(AOE_HLEN, min(end, len(frame))))
        buf[AOE_HLEN:] = frame[AOE_HLEN : len(buf)]
        for offset in _COUNT_FIELDS.get(header.command, ()):
            if offset < len(buf):
                buf[offset] = 0
        encode_header_into(buf, rheader)
        return pad_frame(buf)


#: ATA commands execute_ata counts itself (reads, writes, flushes).
_COUNTED_BY_ATA = READ_COMMANDS | WRITE_COMMANDS | {AtaCommand.FLUSH_CACHE, AtaCommand.FLUSH_CACHE_EXT}
#: What a listed administrator (ExportConfig.admin_macs) may always send, even from outside the
#: mask list: an administrator who masks the target to its clients must keep managing it.
_ADMIN_COMMANDS = frozenset((Command.MAC_MASK_LIST, Command.RESERVE_RELEASE))
#: Where each known command's fixed argument ends.
_FIXED_LENGTH: dict[int, int] = {
    Command.ATA: ATA_HLEN,
    Command.QUERY_CONFIG: CONFIG_HLEN,
    Command.MAC_MASK_LIST: MASK_HLEN,
    Command.RESERVE_RELEASE: RESERVE_HLEN,
}
#: The bytes of each fixed argument that count what follows it (config string length, mask
#: directive count, reserve MAC count).
_COUNT_FIELDS: dict[int, tuple[int, ...]] = {
    Command.QUERY_CONFIG: (CONFIG_HLEN - 2, CONFIG_HLEN - 1),
    Command.MAC_MASK_LIST: (MASK_HLEN - 1,),
    Command.RESERVE_RELEASE: (RESERVE_HLEN - 1,),
}
