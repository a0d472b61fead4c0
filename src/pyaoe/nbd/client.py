"""pyaoe.nbd.client: a small NBD client over a blocking socket, with requests pipelined.

NbdConnection connects (fixed newstyle, NBD_OPT_GO), sends requests without waiting and reads
replies in any order, scattering read data straight into the caller's buffers; run() sends a
batch and waits for all of it. The NBD backend and `pyaoe copy` are built on it.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pyaoe.protocol.nbd.options import (
    GoReply,
    decode_greeting,
    decode_info,
    decode_option_reply_header,
    encode_go,
    encode_option,
)
from pyaoe.protocol.nbd.uri import NbdAddress
from pyaoe.protocol.nbd.wire import (
    EXPORT_NAME_REPLY,
    REQUEST,
    REQUEST_MAGIC,
    SERVER_GREETING,
    SIMPLE_REPLY,
    ClientFlag,
    Cmd,
    HandshakeFlag,
    NbdProtocolError,
    Option,
    Reply,
    TransmissionFlag,
    decode_simple_reply,
    errno_name,
)

__all__ = ["NbdConnection", "NbdRequestError", "Op", "DEFAULT_TIMEOUT", "chunks", "request_error"]

#: Seconds a connect, or a wait for a reply, may take before the connection counts as dead.
DEFAULT_TIMEOUT = 10.0
_CLIENT_FLAGS = struct.Struct(">I")
#: What one READ/WRITE asks for at most, below any server's limit (qemu-nbd: 32 MiB).
_CHUNK = 4 << 20


class NbdRequestError(OSError):
    """The server answered a request with an error (errno is the NBD error's value)."""


@dataclass(slots=True)
class Op:
    """One request of a batch: READ fills ``buffers``, WRITE sends them, FLUSH and
    WRITE_ZEROES take none (``length`` then says how many bytes to zero)."""

    type: Cmd
    offset: int = 0
    buffers: Sequence[memoryview] = ()
    flags: int = 0
    length: int = -1

    @property
    def size(self) -> int:
        return self.length if self.length >= 0 else sum(len(b) for b in self.buffers)


class NbdConnection:
    """One connection to an NBD export. Not thread-safe: one caller sends and receives."""

    def __init__(self, address: NbdAddress, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.address = address
        self.timeout = timeout
        self._handles = itertools.count(1)
        self._reads: dict[int, Sequence[memoryview]] = {}
        self._finished: dict[int, int] = {}
        self._header = bytearray(SIMPLE_REPLY.size)
        self.sock = _connect(address, timeout)
        try:
            info = self._handshake()
        except BaseException:
            self.sock.close()
            raise
        if info.size is None:
            raise NbdProtocolError("the server never said how large the export is")
        self.size: int = info.size
        self.flags = info.flags
        self.minimum_block = max(1, info.minimum_block)
        self.preferred_block = info.preferred_block
        self.maximum_block = min(info.maximum_block or _CHUNK, _CHUNK)

    # -- facts ----------------------------------------------------------------------------------
    @property
    def readonly(self) -> bool:
        return bool(self.flags & TransmissionFlag.READ_ONLY)

    @property
    def can_flush(self) -> bool:
        return bool(self.flags & TransmissionFlag.SEND_FLUSH)

    @property
    def can_fua(self) -> bool:
        return bool(self.flags & TransmissionFlag.SEND_FUA)

    @property
    def can_zero(self) -> bool:
        return bool(self.flags & TransmissionFlag.SEND_WRITE_ZEROES)

    @property
    def can_multi_conn(self) -> bool:
        return bool(self.flags & TransmissionFlag.CAN_MULTI_CONN)

    # -- handshake --------------------------------------------------------------------------------
    def _handshake(self) -> GoReply:
        flags = decode_greeting(self._recv_exact(SERVER_GREETING.size))
        mine = ClientFlag.FIXED_NEWSTYLE
        if flags & HandshakeFlag.NO_ZEROES:
            mine |= ClientFlag.NO_ZEROES
        self.sock.sendall(_CLIENT_FLAGS.pack(mine) + encode_go(self.address.export))
        info = GoReply()
        while True:
            option, reply, length = decode_option_reply_header(self._recv_exact(20))
            data = self._recv_exact(length) if length else b""
            if option != Option.GO:
                raise NbdProtocolError(f"reply to option {option}, not to NBD_OPT_GO")
            if reply == Reply.ACK:
                return info
            if reply == Reply.INFO:
                decode_info(data, info)
                continue
            message = data.decode(errors="replace")
            if reply == Reply.ERR_UNKNOWN:
                # ENXIO, not ENOENT: "no such file" would point at the wrong thing.
                raise OSError(
                    errno.ENXIO, f"the server has no export {self.address.export!r}" + _said(message)
                )
            if reply == Reply.ERR_UNSUP:
                return self._export_name(mine)
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"the server refused export {self.address.export!r}" + _said(message)
            )

    def _export_name(self, mine: ClientFlag) -> GoReply:
        """The old way in, for a server without NBD_OPT_GO."""
        self.sock.sendall(encode_option(Option.EXPORT_NAME, self.address.export.encode()))
        size, flags = EXPORT_NAME_REPLY.unpack(self._recv_exact(10))
        if not mine & ClientFlag.NO_ZEROES:
            self._recv_exact(124)
        return GoReply(size=size, flags=TransmissionFlag(flags))

    # -- transmission -----------------------------------------------------------------------------
    def register(self, op: Op) -> int:
        """A handle for ``op``, its read buffers known to receive() from now on."""
        handle = next(self._handles)
        if op.type == Cmd.READ:
            self._reads[handle] = op.buffers
        return handle

    def send(self, op: Op, handle: int | None = None) -> int:
        """Send one request (with its data for WRITE); returns its handle for receive()."""
        if handle is None:
            handle = self.register(op)
        header = REQUEST.pack(REQUEST_MAGIC, op.flags, op.type, handle, op.offset, op.size)
        if op.type == Cmd.WRITE:
            self._sendmsg([header, *op.buffers])
        else:
            self._sendmsg([header])
        return handle

    def receive(self) -> tuple[int, int]:
        """The next reply: (handle, NBD error), read data already in the request's buffers."""
        view = memoryview(self._header)
        self._recv_into([view])
        reply = decode_simple_reply(view)
        buffers = self._reads.pop(reply.handle, None)
        if buffers is not None and reply.error == 0:
            self._recv_into(buffers)
        return reply.handle, reply.error

    def wait(self, handles: Sequence[int]) -> list[int]:
        """The NBD errors of requests ``handles`` (0: done), in order, once each has its reply;
        replies to other requests that come meanwhile are kept for their own wait()."""
        finished = self._finished
        for handle in handles:
            while handle not in finished:
                other, error = self.receive()
                finished[other] = error
        return [finished.pop(h) for h in handles]

    def run(self, ops: Sequence[Op]) -> list[int]:
        """Send ``ops`` back to back, then wait for every reply; their NBD errors, in order."""
        return self.wait([self.send(op) for op in ops])

    def check(self, ops: Sequence[Op]) -> None:
        """run(), raising NbdRequestError for the first request that failed."""
        for op, error in zip(ops, self.run(ops), strict=True):
            if error:
                raise request_error(op, error)

    def close(self) -> None:
        """Say NBD_CMD_DISC (when the socket still works) and close."""
        if self.sock.fileno() < 0:
            return
        with contextlib.suppress(OSError):  # the server went first
            self.sock.sendall(REQUEST.pack(REQUEST_MAGIC, 0, Cmd.DISC, 0, 0, 0))
        self.sock.close()

    # -- socket -----------------------------------------------------------------------------------
    def _sendmsg(self, parts: list[bytes | memoryview]) -> None:
        total = sum(len(p) for p in parts)
        sent = self.sock.sendmsg(parts)
        while sent < total:
            rest = _skip(parts, sent)
            total -= sent
            sent = self.sock.sendmsg(rest)

    def _recv_into(self, buffers: Sequence[memoryview]) -> None:
        want = sum(len(b) for b in buffers)
        views = list(buffers)
        while want:
            n = self.sock.recvmsg_into(views)[0]
            if n == 0:
                raise ConnectionResetError(errno.ECONNRESET, "the NBD server closed the connection")
            want -= n
            if want:
                views = _skip(views, n)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray(n)
        self._recv_into([memoryview(buf)])
        return bytes(buf)


def request_error(op: Op, error: int) -> NbdRequestError:
    """The exception for a request the server failed (the protocol's error values are Linux's
    errno values)."""
    return NbdRequestError(
        error, f"NBD {op.type.name} of {op.size} bytes at {op.offset}: {errno_name(error)}"
    )


def _said(message: str) -> str:
    return f" ({message})" if message else ""


def _connect(address: NbdAddress, timeout: float) -> socket.socket:
    if address.socket is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(timeout)
        try:
            sock.connect(address.socket)
        except BaseException:
            sock.close()
            raise
    else:
        sock = socket.create_connection((address.host, address.port), timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # Reads of a large run arrive in one piece more often with room for them.
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):  # capped by the system's maximum: fine
            sock.setsockopt(socket.SOL_SOCKET, option, 4 << 20)
    sock.settimeout(timeout)
    return sock


def _skip(buffers: Sequence[bytes | memoryview], count: int) -> list[memoryview]:
    """``buffers`` without their first ``count`` bytes."""
    rest: list[memoryview] = []
    for buf in buffers:
        if count >= len(buf):
            count -= len(buf)
            continue
        rest.append(memoryview(buf)[count:])
        count = 0
    return rest


def chunks(offset: int, buffers: Sequence[memoryview], limit: int) -> list[tuple[int, list[memoryview]]]:
    """``buffers`` (in turn from ``offset``) cut into pieces of at most ``limit`` bytes each."""
    out: list[tuple[int, list[memoryview]]] = []
    current: list[memoryview] = []
    start = offset
    size = 0
    for buf in buffers:
        view = buf
        while len(view):
            room = limit - size
            piece, view = view[:room], view[room:]
            current.append(piece)
            size += len(piece)
            if size == limit:
                out.append((start, current))
                start += size
                current, size = [], 0
    if current:
        out.append((start, current))
    return out
