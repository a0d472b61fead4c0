"""pyaoe.protocol.nbd.options: the option haggling of the fixed newstyle handshake, both sides, sans I/O.

ServerOptions turns each option a client sends into replies (asking its caller to look up an
export or list them); the client helpers encode NBD_OPT_GO and decode what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct

from pyaoe.protocol.nbd.wire import (
    EXPORT_NAME_REPLY,
    IHAVEOPT,
    MAX_NAME,
    MAX_OPTION_DATA,
    NBDMAGIC,
    OPTION_HEADER,
    OPTION_REPLY_HEADER,
    OPTION_REPLY_MAGIC,
    SERVER_GREETING,
    ClientFlag,
    HandshakeFlag,
    Info,
    NbdProtocolError,
    Option,
    Reply,
    TransmissionFlag,
)

__all__ = [
    "ExportInfo",
    "NeedExport",
    "NeedList",
    "Replies",
    "Outcome",
    "ServerOptions",
    "server_greeting",
    "decode_client_flags",
    "decode_option_header",
    "encode_option",
    "encode_go",
    "decode_greeting",
    "decode_option_reply_header",
    "GoReply",
    "decode_info",
]

_U16 = Struct(">H")
_U32 = Struct(">I")
_INFO_EXPORT = Struct(">HQH")
_INFO_BLOCK_SIZE = Struct(">HIII")
_ZEROES = bytes(124)


@dataclass(frozen=True, slots=True)
class ExportInfo:
    """What a server says about an export: size, transmission flags and block size limits."""

    name: str
    size: int
    flags: TransmissionFlag
    minimum_block: int = 1
    preferred_block: int = 4096
    maximum_block: int = 32 << 20
    description: str = ""


@dataclass(frozen=True, slots=True)
class Replies:
    """Bytes to send; ``export`` is set when transmission starts after them, ``close`` when the
    connection ends after them."""

    data: bytes
    export: ExportInfo | None = None
    close: bool = False


@dataclass(frozen=True, slots=True)
class NeedExport:
    """The client named an export (INFO, GO or EXPORT_NAME): look it up and call answer()."""

    option: Option
    name: str
    infos: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class NeedList:
    """The client asked for the export list: call answer_list() with the names."""


Outcome = Replies | NeedExport | NeedList


def server_greeting() -> bytes:
    return SERVER_GREETING.pack(NBDMAGIC, IHAVEOPT, HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES)


def decode_client_flags(data: bytes) -> ClientFlag:
    """The client's 32-bit flags; NbdProtocolError for flags we do not know (the spec says
    to drop such a client) or for a client that is not fixed newstyle."""
    (value,) = _U32.unpack(data)
    known = int(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES)  # ~ of a flag stays inside it
    if value & ~known:
        raise NbdProtocolError(f"unknown client flags 0x{value:08x}")
    if not value & ClientFlag.FIXED_NEWSTYLE:
        raise NbdProtocolError("the client does not speak the fixed newstyle handshake")
    return ClientFlag(value)


def decode_option_header(data: bytes) -> tuple[int, int]:
    """(option, data length) from an option request's 16 bytes; NbdProtocolError for a bad
    magic or a payload larger than any option needs."""
    magic, option, length = OPTION_HEADER.unpack(data)
    if magic != IHAVEOPT:
        raise NbdProtocolError(f"bad option magic 0x{magic:016x}")
    if length > MAX_OPTION_DATA:
        raise NbdProtocolError(f"option {option} carries {length} bytes (at most {MAX_OPTION_DATA})")
    return option, length


def option_reply(option: int, reply: Reply, data: bytes = b"") -> bytes:
    return OPTION_REPLY_HEADER.pack(OPTION_REPLY_MAGIC, option, reply, len(data)) + data


def _error(option: int, reply: Reply, message: str) -> bytes:
    return option_reply(option, reply, message.encode()[:MAX_NAME])


def _parse_name_and_infos(data: bytes) -> tuple[str, tuple[int, ...]] | None:
    if len(data) < 6:
        return None
    (length,) = _U32.unpack_from(data)
    if length > MAX_NAME or len(data) < 4 + length + 2:
        return None
    name = data[4 : 4 + length]
    (count,) = _U16.unpack_from(data, 4 + length)
    rest = data[6 + length :]
    if len(rest) != 2 * count:
        return None
    infos = tuple(_U16.unpack_from(rest, 2 * i)[0] for i in range(count))
    try:
        return name.decode(), infos
    except UnicodeDecodeError:
        return None


@dataclass
class ServerOptions:
    """One connection's handshake after the greeting: feed it options with handle(), answer
    its lookups with answer() / answer_list()."""

    client_flags: ClientFlag = ClientFlag.FIXED_NEWSTYLE
    #: Options answered so far (what a log or a test looks at).
    seen: list[int] = field(default_factory=list)

    def handle(self, option: int, data: bytes) -> Outcome:
        self.seen.append(option)
        if option == Option.ABORT:
            return Replies(option_reply(option, Reply.ACK), close=True)
        if option == Option.LIST:
            if data:
                return Replies(_error(option, Reply.ERR_INVALID, "NBD_OPT_LIST takes no data"))
            return NeedList()
        if option == Option.EXPORT_NAME:
            if len(data) > MAX_NAME:
                return Replies(b"", close=True)
            try:
                return NeedExport(Option.EXPORT_NAME, data.decode())
            except UnicodeDecodeError:
                return Replies(b"", close=True)
        if option in (Option.INFO, Option.GO):
            parsed = _parse_name_and_infos(data)
            if parsed is None:
                return Replies(_error(option, Reply.ERR_INVALID, "malformed export name or info list"))
            return NeedExport(Option(option), *parsed)
        # STARTTLS, STRUCTURED_REPLY, meta contexts and whatever comes later: simple replies and
        # no TLS here, as an old nbd-server answers.
        return Replies(_error(option, Reply.ERR_UNSUP, f"option {option} is not supported"))

    def answer_list(self, option: int, names: list[tuple[str, str]]) -> Replies:
        """The NBD_REP_SERVER replies for (name, description) pairs, then the ACK."""
        out = bytearray()
        for name, description in names:
            raw = name.encode()
            out += option_reply(option, Reply.SERVER, _U32.pack(len(raw)) + raw + description.encode())
        out += option_reply(option, Reply.ACK)
        return Replies(bytes(out))

    def answer(self, need: NeedExport, export: ExportInfo | None, why: str = "") -> Replies:
        """The replies once the export ``need`` names is looked up (None: there is no such export)."""
        option = need.option
        if option == Option.EXPORT_NAME:
            # No way to say "no such export" here but hanging up (proto.md).
            if export is None:
                return Replies(b"", close=True)
            data = EXPORT_NAME_REPLY.pack(export.size, export.flags)
            if not self.client_flags & ClientFlag.NO_ZEROES:
                data += _ZEROES
            return Replies(data, export=export)
        if export is None:
            return Replies(_error(option, Reply.ERR_UNKNOWN, why or f"no export named {need.name!r}"))
        out = bytearray(
            option_reply(option, Reply.INFO, _INFO_EXPORT.pack(Info.EXPORT, export.size, export.flags))
        )
        if Info.NAME in need.infos:
            out += option_reply(option, Reply.INFO, _U16.pack(Info.NAME) + export.name.encode())
        if Info.DESCRIPTION in need.infos and export.description:
            out += option_reply(option, Reply.INFO, _U16.pack(Info.DESCRIPTION) + export.description.encode())
        # Always sent: a client that did not ask may ignore it, and qemu sends it unasked too.
        out += option_reply(
            option,
            Reply.INFO,
            _INFO_BLOCK_SIZE.pack(
                Info.BLOCK_SIZE, export.minimum_block, export.preferred_block, export.maximum_block
            ),
        )
        out += option_reply(option, Reply.ACK)
        return Replies(bytes(out), export=export if option == Option.GO else None)


# -- the client's side ----------------------------------------------------------------------------


def decode_greeting(data: bytes) -> HandshakeFlag:
    """The server's handshake flags from its 18-byte greeting; NbdProtocolError for an oldstyle
    or non-NBD server."""
    magic, second, flags = SERVER_GREETING.unpack(data)
    if magic != NBDMAGIC:
        raise NbdProtocolError("not an NBD server (no NBDMAGIC)")
    if second != IHAVEOPT:
        raise NbdProtocolError("an oldstyle NBD server (only newstyle ones are supported)")
    if not flags & HandshakeFlag.FIXED_NEWSTYLE:
        raise NbdProtocolError("the server does not speak the fixed newstyle handshake")
    return HandshakeFlag(flags & (HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES))


def encode_option(option: int, data: bytes = b"") -> bytes:
    return OPTION_HEADER.pack(IHAVEOPT, option, len(data)) + data


def encode_go(name: str, infos: tuple[int, ...] = (Info.BLOCK_SIZE,), option: int = Option.GO) -> bytes:
    raw = name.encode()
    body = _U32.pack(len(raw)) + raw + _U16.pack(len(infos)) + b"".join(_U16.pack(i) for i in infos)
    return encode_option(option, body)


def decode_option_reply_header(data: bytes) -> tuple[int, int, int]:
    """(option, reply type, length) of a 20-byte option reply header."""
    magic, option, reply, length = OPTION_REPLY_HEADER.unpack(data)
    if magic != OPTION_REPLY_MAGIC:
        raise NbdProtocolError(f"bad option reply magic 0x{magic:016x}")
    if length > MAX_OPTION_DATA:
        raise NbdProtocolError(f"option reply of {length} bytes")
    return option, reply, length


@dataclass
class GoReply:
    """What NBD_REP_INFO replies told a client so far."""

    size: int | None = None
    flags: TransmissionFlag = TransmissionFlag.HAS_FLAGS
    minimum_block: int = 1
    preferred_block: int = 4096
    maximum_block: int = 32 << 20


def decode_info(data: bytes, into: GoReply) -> None:
    """Fold one NBD_REP_INFO payload into ``into`` (unknown kinds are ignored, as asked)."""
    if len(data) < 2:
        raise NbdProtocolError("empty NBD_REP_INFO")
    (kind,) = _U16.unpack_from(data)
    if kind == Info.EXPORT:
        if len(data) != _INFO_EXPORT.size:
            raise NbdProtocolError("NBD_INFO_EXPORT of the wrong length")
        _, into.size, flags = _INFO_EXPORT.unpack(data)
        into.flags = TransmissionFlag(flags)
    elif kind == Info.BLOCK_SIZE:
        if len(data) != _INFO_BLOCK_SIZE.size:
            raise NbdProtocolError("NBD_INFO_BLOCK_SIZE of the wrong length")
        _, into.minimum_block, into.preferred_block, into.maximum_block = _INFO_BLOCK_SIZE.unpack(data)
