"""pyaoe.nbd.server: an asyncio NBD server (fixed newstyle, simple replies) over any ExportProvider.

The handshake's decisions are protocol.nbd.options.ServerOptions'; this module moves its bytes,
runs each transmission request as a task (replies go out as requests finish, in any order),
and turns a failed request into an NBD error while the connection and the server go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from pyaoe.protocol.nbd.options import (
    ExportInfo,
    NeedExport,
    NeedList,
    Replies,
    ServerOptions,
    decode_client_flags,
    decode_option_header,
    server_greeting,
)
from pyaoe.protocol.nbd.wire import (
    MAX_REQUEST,
    OPTION_HEADER,
    REQUEST,
    Cmd,
    CmdFlag,
    NbdError,
    NbdProtocolError,
    Request,
    TransmissionFlag,
    decode_request,
    encode_simple_reply,
    nbd_error,
)

__all__ = ["Disk", "ExportProvider", "NbdServer", "ServerCounters", "BASE_FLAGS"]

log = logging.getLogger("pyaoe.nbd")

#: What every export offers; READ_ONLY and CAN_MULTI_CONN are added per export.
BASE_FLAGS = (
    TransmissionFlag.HAS_FLAGS
    | TransmissionFlag.SEND_FLUSH
    | TransmissionFlag.SEND_FUA
    | TransmissionFlag.SEND_WRITE_ZEROES
)
#: Requests one connection runs at once; more wait for a slot (nbdcopy keeps 64 in flight).
MAX_IN_FLIGHT = 128
#: Send buffer of each connection (capped by net.core.wmem_max).
SEND_BUFFER = 4 << 20
#: Zeroes are written in pieces of this size (WRITE_ZEROES of a whole disk must not need its size in memory).
_ZERO_PIECE = 1 << 20
_ZEROES = bytes(_ZERO_PIECE)


class Disk(Protocol):
    """One opened export: its facts and its asynchronous I/O (OSError for a failed request)."""

    info: ExportInfo

    async def read(self, offset: int, length: int) -> bytes | bytearray | memoryview: ...

    async def write(self, offset: int, data: bytes) -> None: ...

    async def flush(self) -> None: ...


class ExportProvider(Protocol):
    """The exports a server offers: listed (name, description) and opened by name."""

    async def list_exports(self) -> list[tuple[str, str]]: ...

    async def open_export(self, name: str) -> Disk | None: ...


@dataclass
class ServerCounters:
    """What the server did (a log line at the end, and what tests look at)."""

    connections: int = 0
    requests: int = 0
    errors: int = 0
    #: Connections dropped for breaking the protocol (bad magic, bad option framing, ...).
    protocol_errors: int = 0
    #: Requests whose handler raised something other than OSError/ValueError (a bug: counted,
    #: logged, answered EIO; the connection goes on).
    handler_failures: int = 0
    by_command: dict[str, int] = field(default_factory=dict)


class NbdServer:
    """Serves ``provider``'s exports on unix or TCP listeners until close()."""

    def __init__(self, provider: ExportProvider, *, readonly: bool = False) -> None:
        self.provider = provider
        self.readonly = readonly
        self.counters = ServerCounters()
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[None]] = set()

    async def listen_unix(self, path: str) -> None:
        self._servers.append(await asyncio.start_unix_server(self._accept, path, limit=1 << 20))

    async def listen_tcp(self, host: str | None, port: int) -> list[tuple[str, int]]:
        """Listen on ``host`` (None: every address) and return the bound addresses."""
        server = await asyncio.start_server(self._accept, host, port, limit=1 << 20, reuse_address=True)
        self._servers.append(server)
        return [s.getsockname()[:2] for s in server.sockets]

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        for server in self._servers:
            await server.wait_closed()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)

    # -- one connection ---------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.counters.connections += 1
        peer = _peer_name(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Room for a whole 256 KiB read reply (nbdcopy's request size): one send, not a
            # partial one and a trip through the transport's buffer and the event loop.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        try:
            disk = await self._handshake(reader, writer, peer)
            if disk is not None:
                log.debug("%s: serving %s (%d bytes)", peer, disk.info.name, disk.info.size)
                await _Transmission(self, disk, reader, writer, peer).run()
        except NbdProtocolError as exc:
            self.counters.protocol_errors += 1
            log.warning("%s: %s; closing the connection", peer, exc)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            log.debug("%s: connection ended (%s)", peer, exc.__class__.__name__)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):  # the peer is already gone
                await writer.wait_closed()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> Disk | None:
        writer.write(server_greeting())
        options = ServerOptions(decode_client_flags(await reader.readexactly(4)))
        while True:
            option, length = decode_option_header(await reader.readexactly(OPTION_HEADER.size))
            data = await reader.readexactly(length) if length else b""
            outcome = options.handle(option, data)
            disk: Disk | None = None
            if isinstance(outcome, NeedList):
                outcome = options.answer_list(option, await self.provider.list_exports())
            elif isinstance(outcome, NeedExport):
                disk = await self.provider.open_export(outcome.name)
                if disk is None:
                    log.info("%s: asked for export %r, which does not exist", peer, outcome.name)
                outcome = options.answer(outcome, self._info(disk) if disk is not None else None)
            assert isinstance(outcome, Replies)
            writer.write(outcome.data)
            await writer.drain()
            if outcome.close:
                return None
            if outcome.export is not None:
                assert disk is not None
                disk.info = outcome.export
                return disk

    def _info(self, disk: Disk) -> ExportInfo:
        info = disk.info
        if self.readonly and not info.flags & TransmissionFlag.READ_ONLY:
            info = replace(info, flags=info.flags | TransmissionFlag.READ_ONLY)
        return info


class _Transmission:
    """The transmission phase of one connection."""

    def __init__(
        self,
        server: NbdServer,
        disk: Disk,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        self.server = server
        self.disk = disk
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()
        self.readonly = bool(disk.info.flags & TransmissionFlag.READ_ONLY)

    async def run(self) -> None:
        try:
            while True:
                request = decode_request(await self.reader.readexactly(REQUEST.size))
                if request.type == Cmd.DISC:
                    log.debug("%s: disconnect", self.peer)
                    break
                data = b""
                if request.type == Cmd.WRITE:
                    if request.length > MAX_REQUEST:
                        # Its data cannot be skipped safely: hang up, as the protocol allows.
                        raise NbdProtocolError(f"WRITE of {request.length} bytes (at most {MAX_REQUEST})")
                    data = await self.reader.readexactly(request.length)
                await self.slots.acquire()
                task = asyncio.create_task(self._serve(request, data))
                self.tasks.add(task)
                task.add_done_callback(self._finished)
        finally:
            # Requests already received are answered before the connection closes (DISC's
            # rule; on a broken connection their replies just go nowhere).
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slots.release()

    async def _serve(self, request: Request, data: bytes) -> None:
        counters = self.server.counters
        counters.requests += 1
        name = _command_name(request.type)
        counters.by_command[name] = counters.by_command.get(name, 0) + 1
        payload: bytes | bytearray | memoryview = b""
        try:
            error = self._check(request)
            if error == NbdError.OK:
                payload = await self._execute(request, data)
        except (OSError, ValueError) as exc:
            error = nbd_error(exc.errno if isinstance(exc, OSError) else errno.EINVAL)
            log.info("%s: %s of %d at %d failed: %s", self.peer, name, request.length, request.offset, exc)
        except Exception:
            counters.handler_failures += 1
            log.exception(
                "%s: %s of %d at %d: unexpected failure", self.peer, name, request.length, request.offset
            )
            error = NbdError.EIO
        if error:
            counters.errors += 1
            payload = b""
        if self.writer.is_closing():
            return
        # Header and data in one go: no other reply can slip between them.
        self.writer.write(encode_simple_reply(error, request.handle))
        if payload:
            self.writer.write(payload)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def _check(self, request: Request) -> NbdError:
        size = self.disk.info.size
        kind = request.type
        if kind not in (Cmd.READ, Cmd.WRITE, Cmd.FLUSH, Cmd.WRITE_ZEROES):
            return NbdError.EINVAL
        if request.flags & ~int(CmdFlag.FUA | CmdFlag.NO_HOLE):
            return NbdError.EINVAL
        if kind == Cmd.FLUSH:
            return NbdError.OK
        if kind != Cmd.READ and self.readonly:
            return NbdError.EPERM
        if request.offset + request.length > size:
            return NbdError.EINVAL if kind == Cmd.READ else NbdError.ENOSPC
        if kind == Cmd.READ and request.length > MAX_REQUEST:
            return NbdError.EINVAL
        return NbdError.OK

    async def _execute(self, request: Request, data: bytes) -> bytes | bytearray | memoryview:
        disk = self.disk
        kind = request.type
        if kind == Cmd.READ:
            return await disk.read(request.offset, request.length) if request.length else b""
        if kind == Cmd.WRITE:
            if data:
                await disk.write(request.offset, data)
        elif kind == Cmd.WRITE_ZEROES:
            # AoE has no TRIM or zeroing command: the zeroes go over the wire like any data.
            done = 0
            while done < request.length:
                piece = min(_ZERO_PIECE, request.length - done)
                await disk.write(request.offset + done, _ZEROES[:piece])
                done += piece
        if kind == Cmd.FLUSH or request.flags & CmdFlag.FUA:
            await disk.flush()
        return b""


def _command_name(kind: int) -> str:
    try:
        return Cmd(kind).name
    except ValueError:
        return f"command {kind}"


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple):
        return f"{peer[0]}:{peer[1]}"
    return f"unix:{writer.get_extra_info('sockname') or '?'}"


def warn_if_exposed(host: str | None, warn: Callable[[str], None]) -> None:
    """Say so when a TCP listener is reachable from other hosts: NBD has no authentication."""
    import ipaddress

    if host in (None, "", "0.0.0.0", "::"):
        warn(
            "listening on every address: NBD has no authentication, anyone who can connect can read and write"
        )
        return
    assert host is not None
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        warn(
            f"listening on {host}, not loopback: NBD has no authentication, "
            "anyone who can connect can read and write"
        )
