"""pyaoe.protocol.nbd.wire: the NBD protocol's numbers and fixed layouts (the NBD project's proto.md).

Magics, option and reply codes, transmission and command flags, errors, and the Structs of the
handshake, of option requests and replies, of transmission requests and simple replies.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from struct import Struct

__all__ = [
    "NBDMAGIC",
    "IHAVEOPT",
    "OPTION_REPLY_MAGIC",
    "REQUEST_MAGIC",
    "SIMPLE_REPLY_MAGIC",
    "STRUCTURED_REPLY_MAGIC",
    "DEFAULT_PORT",
    "MAX_OPTION_DATA",
    "MAX_NAME",
    "MAX_REQUEST",
    "HandshakeFlag",
    "ClientFlag",
    "Option",
    "Reply",
    "Info",
    "TransmissionFlag",
    "Cmd",
    "CmdFlag",
    "NbdError",
    "nbd_error",
    "errno_name",
    "NbdProtocolError",
    "Request",
    "SimpleReply",
    "SERVER_GREETING",
    "CLIENT_FLAGS",
    "OPTION_HEADER",
    "OPTION_REPLY_HEADER",
    "REQUEST",
    "SIMPLE_REPLY",
    "EXPORT_NAME_REPLY",
    "encode_request",
    "decode_request",
    "encode_simple_reply",
    "decode_simple_reply",
]

NBDMAGIC = 0x4E42444D41474943  # "NBDMAGIC"
IHAVEOPT = 0x49484156454F5054  # "IHAVEOPT"
OPTION_REPLY_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCTURED_REPLY_MAGIC = 0x668E33EF
DEFAULT_PORT = 10809
#: Largest option payload a server reads (qemu-nbd and nbdkit refuse more than a few KiB too).
MAX_OPTION_DATA = 64 * 1024
#: Export names are at most 4096 bytes (proto.md "Export name").
MAX_NAME = 4096
#: The largest READ/WRITE a server accepts unless it says otherwise (proto.md: 32 MiB).
MAX_REQUEST = 32 << 20


class HandshakeFlag(IntFlag):
    FIXED_NEWSTYLE = 1 << 0
    NO_ZEROES = 1 << 1


class ClientFlag(IntFlag):
    FIXED_NEWSTYLE = 1 << 0
    NO_ZEROES = 1 << 1


class Option(IntEnum):
    EXPORT_NAME = 1
    ABORT = 2
    LIST = 3
    PEEK_EXPORT = 4
    STARTTLS = 5
    INFO = 6
    GO = 7
    STRUCTURED_REPLY = 8
    LIST_META_CONTEXT = 9
    SET_META_CONTEXT = 10


_ERR = 1 << 31


class Reply(IntEnum):
    ACK = 1
    SERVER = 2
    INFO = 3
    META_CONTEXT = 4
    ERR_UNSUP = _ERR | 1
    ERR_POLICY = _ERR | 2
    ERR_INVALID = _ERR | 3
    ERR_PLATFORM = _ERR | 4
    ERR_TLS_REQD = _ERR | 5
    ERR_UNKNOWN = _ERR | 6
    ERR_SHUTDOWN = _ERR | 7
    ERR_BLOCK_SIZE_REQD = _ERR | 8
    ERR_TOO_BIG = _ERR | 9

    @property
    def is_error(self) -> bool:
        return bool(self & _ERR)


class Info(IntEnum):
    EXPORT = 0
    NAME = 1
    DESCRIPTION = 2
    BLOCK_SIZE = 3


class TransmissionFlag(IntFlag):
    HAS_FLAGS = 1 << 0
    READ_ONLY = 1 << 1
    SEND_FLUSH = 1 << 2
    SEND_FUA = 1 << 3
    ROTATIONAL = 1 << 4
    SEND_TRIM = 1 << 5
    SEND_WRITE_ZEROES = 1 << 6
    SEND_DF = 1 << 7
    CAN_MULTI_CONN = 1 << 8
    SEND_RESIZE = 1 << 9
    SEND_CACHE = 1 << 10
    SEND_FAST_ZERO = 1 << 11


class Cmd(IntEnum):
    READ = 0
    WRITE = 1
    DISC = 2
    FLUSH = 3
    TRIM = 4
    CACHE = 5
    WRITE_ZEROES = 6
    BLOCK_STATUS = 7
    RESIZE = 8


class CmdFlag(IntFlag):
    FUA = 1 << 0
    NO_HOLE = 1 << 1
    DF = 1 << 2
    REQ_ONE = 1 << 3
    FAST_ZERO = 1 << 4


class NbdError(IntEnum):
    """The error values on the wire (fixed by the protocol, whatever the host's errno values)."""

    OK = 0
    EPERM = 1
    EIO = 5
    ENOMEM = 12
    EINVAL = 22
    ENOSPC = 28
    EOVERFLOW = 75
    ENOTSUP = 95
    ESHUTDOWN = 108


_FROM_ERRNO = {
    errno.EPERM: NbdError.EPERM,
    errno.EACCES: NbdError.EPERM,
    errno.EROFS: NbdError.EPERM,
    errno.EIO: NbdError.EIO,
    errno.ENOMEM: NbdError.ENOMEM,
    errno.EINVAL: NbdError.EINVAL,
    errno.ENOSPC: NbdError.ENOSPC,
    errno.EDQUOT: NbdError.ENOSPC,
    errno.EFBIG: NbdError.ENOSPC,
    errno.EOVERFLOW: NbdError.EOVERFLOW,
    errno.ENOTSUP: NbdError.ENOTSUP,
    errno.ESHUTDOWN: NbdError.ESHUTDOWN,
}


def nbd_error(err: int | None) -> NbdError:
    """The NBD error for a host errno (anything without its own NBD value is EINVAL, as the
    protocol asks; None, an error without errno, is EIO)."""
    if err is None:
        return NbdError.EIO
    return _FROM_ERRNO.get(err, NbdError.EINVAL)


def errno_name(value: int) -> str:
    """A wire error value as text: "EIO", or the number for one the protocol does not name."""
    try:
        return NbdError(value).name
    except ValueError:
        return f"error {value}"


class NbdProtocolError(ValueError):
    """Bytes from the peer that break the NBD protocol (a bad magic, an impossible length)."""


# Handshake: the server's greeting (NBDMAGIC, IHAVEOPT, handshake flags), the client's flags.
SERVER_GREETING = Struct(">QQH")
CLIENT_FLAGS = Struct(">I")
# Option request: IHAVEOPT, option, data length; option reply: magic, option, reply type, length.
OPTION_HEADER = Struct(">QII")
OPTION_REPLY_HEADER = Struct(">QIII")
# NBD_OPT_EXPORT_NAME's answer: size and transmission flags (and 124 zeroes without NO_ZEROES).
EXPORT_NAME_REPLY = Struct(">QH")
# Transmission: request (magic, command flags, type, handle (cookie), offset, length).
REQUEST = Struct(">IHHQQI")
# Simple reply: magic, error, handle.
SIMPLE_REPLY = Struct(">IIQ")


@dataclass(frozen=True, slots=True)
class Request:
    """One transmission request; WRITE data follows it on the wire (``length`` bytes)."""

    flags: int
    type: int
    handle: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class SimpleReply:
    error: int
    handle: int


def encode_request(request: Request) -> bytes:
    return REQUEST.pack(
        REQUEST_MAGIC, request.flags, request.type, request.handle, request.offset, request.length
    )


def decode_request(data: bytes | bytearray | memoryview) -> Request:
    """A request from its 28 bytes; NbdProtocolError for a wrong magic."""
    magic, flags, kind, handle, offset, length = REQUEST.unpack_from(data)
    if magic != REQUEST_MAGIC:
        raise NbdProtocolError(f"bad request magic 0x{magic:08x}")
    return Request(flags, kind, handle, offset, length)


def encode_simple_reply(error: int, handle: int) -> bytes:
    return SIMPLE_REPLY.pack(SIMPLE_REPLY_MAGIC, error, handle)


def decode_simple_reply(data: bytes | bytearray | memoryview) -> SimpleReply:
    """A simple reply from its 16 bytes; NbdProtocolError for anything else (we never ask the
    server for structured replies)."""
    magic, error, handle = SIMPLE_REPLY.unpack_from(data)
    if magic != SIMPLE_REPLY_MAGIC:
        raise NbdProtocolError(f"bad reply magic 0x{magic:08x}")
    return SimpleReply(error, handle)
