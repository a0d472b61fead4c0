"""pyaoe.service.control: a daemon's control socket (`pyaoe ctl`'s other end), for any daemon.

A unix stream socket only root (or the daemon's own user) may use; one JSON line in, one out per
connection. A daemon registers verbs (a Verb: name, help, argparse arguments) with a handler each;
a thread accepts and decodes, and the daemon's ``executor`` runs the handler where it is safe (the
target's loop, between two batches). Replies carry data for --json and tables for people.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyaoe.errors import ConfigError

__all__ = [
    "Arg",
    "ControlServer",
    "Executor",
    "Handler",
    "Reply",
    "Table",
    "Verb",
    "request",
]

log = logging.getLogger(__name__)

#: Longest request line (bytes); longest time a client may take to send it or read the answer.
_MAX_REQUEST = 1 << 20
_CLIENT_TIMEOUT = 5.0
_PEERCRED = struct.Struct("3i")


@dataclass(frozen=True)
class Arg:
    """One argparse argument of a verb: ``add_argument(*flags, **options)`` on both ends."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verb:
    """A control command: its name, one line of help and its arguments."""

    name: str
    help: str
    args: tuple[Arg, ...] = ()


@dataclass
class Table:
    """Rows for people; ``title`` above it when a reply has several."""

    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    title: str = ""


@dataclass
class Reply:
    """A verb's answer: ``data`` (what --json prints), and ``tables`` or ``message`` for people."""

    data: Any = None
    tables: list[Table] = field(default_factory=list)
    message: str = ""

    def encode(self) -> dict[str, Any]:
        return {
            "ok": True,
            "data": self.data,
            "tables": [{"title": t.title, "columns": list(t.columns), "rows": t.rows} for t in self.tables],
            "message": self.message,
        }


#: A verb's handler: the parsed arguments (argparse dest -> value) in, a Reply out; ConfigError
#: for a mistake (unknown export, bad value), said in one line to the user.
Handler = Callable[[dict[str, Any]], Reply]
#: Runs a handler's call where the daemon wants it run, and returns its result (or raises).
Executor = Callable[[Callable[[], Reply]], Reply]


def _run_here(call: Callable[[], Reply]) -> Reply:
    return call()


class ControlServer:
    """Serve ``path`` in a thread of its own; start() after register()ing the verbs."""

    def __init__(self, path: str, executor: Executor = _run_here) -> None:
        self.path = path
        self.executor = executor
        self.verbs: dict[str, tuple[Verb, Handler]] = {}
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self.register(Verb("verbs", "list the verbs this daemon answers"), self._list_verbs)

    def register(self, verb: Verb, handler: Handler) -> None:
        if verb.name in self.verbs:
            raise ValueError(f"verb {verb.name!r} is registered twice")
        self.verbs[verb.name] = (verb, handler)

    def _list_verbs(self, _args: dict[str, Any]) -> Reply:
        rows = [(v.name, v.help) for v, _h in self.verbs.values()]
        return Reply(
            data=[{"verb": n, "help": h} for n, h in rows], tables=[Table(("verb", "what it does"), rows)]
        )

    def bind(self) -> None:
        """Make the socket (mode 0600; the folder made 0755 if missing); ConfigError if another
        daemon answers there or the path cannot be used. A stale socket is replaced."""
        directory = os.path.dirname(self.path) or "."
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
            _remove_stale(self.path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            old_umask = os.umask(0o177)
            try:
                sock.bind(self.path)
            finally:
                os.umask(old_umask)
            sock.listen(16)
        except OSError as exc:
            raise ConfigError(f"control socket {self.path}: {exc.strerror or exc}") from None
        self._sock = sock

    def start(self) -> None:
        """bind() if not yet done, then answer in a daemon thread."""
        if self._sock is None:
            self.bind()
        self._thread = threading.Thread(target=self._serve, name="pyaoe-control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._closing:
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                if self._closing:
                    return
                continue
            with conn:
                try:
                    self._answer(conn)
                except OSError as exc:
                    log.debug("control: client went away: %s", exc)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(_CLIENT_TIMEOUT)
        uid = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))[1]
        if uid not in (0, os.geteuid()):
            _send(conn, {"ok": False, "error": "permission denied (root only)"})
            return
        line = b""
        while not line.endswith(b"\n") and len(line) < _MAX_REQUEST:
            chunk = conn.recv(65536)
            if not chunk:
                break
            line += chunk
        _send(conn, self.dispatch(line))

    def dispatch(self, line: bytes) -> dict[str, Any]:
        """One request line -> the reply object (never raises for the client's mistakes)."""
        try:
            request = json.loads(line)
            name = request["verb"]
            args = request.get("args") or {}
            if not isinstance(name, str) or not isinstance(args, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "error": "malformed request (expected one JSON line with a verb)"}
        entry = self.verbs.get(name)
        if entry is None:
            return {"ok": False, "error": f"unknown verb {name!r} (try: {', '.join(sorted(self.verbs))})"}
        handler = entry[1]
        try:
            return self.executor(lambda: handler(args)).encode()
        except ConfigError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a bug in a handler: said to the client, logged with its trace
            log.exception("control: %s failed", name)
            return {"ok": False, "error": f"{name} failed: {type(exc).__name__}: {exc}"}

    def close(self) -> None:
        self._closing = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        if self._thread is not None:
            self._thread.join(timeout=_CLIENT_TIMEOUT + 1)


def _send(conn: socket.socket, obj: dict[str, Any]) -> None:
    conn.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")


def _remove_stale(path: str) -> None:
    """Unlink a socket nobody listens on; refuse one somebody does, and anything not a socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, "exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, "another daemon answers on it")


def request(path: str, verb: str, args: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Ask the daemon at ``path``; the reply object, or ConfigError with one line saying what
    went wrong (no daemon, no permission, or the daemon's own error)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except FileNotFoundError:
            raise ConfigError(
                f"no daemon listens on {path} (not running, or started with another --control-socket)"
            ) from None
        except ConnectionRefusedError:
            raise ConfigError(f"no daemon listens on {path} (a stale socket: the daemon is gone)") from None
        except PermissionError:
            raise ConfigError(f"permission denied on {path} (the control socket is root's)") from None
        except OSError as exc:
            raise ConfigError(f"cannot connect to {path}: {exc.strerror or exc}") from None
        sock.sendall(json.dumps({"verb": verb, "args": args}).encode() + b"\n")
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise ConfigError(f"no answer from {path} within {timeout:g} s") from None
    finally:
        sock.close()
    try:
        reply: dict[str, Any] = json.loads(data)
    except ValueError:
        raise ConfigError(f"the daemon on {path} closed the connection without an answer") from None
    if not reply.get("ok"):
        raise ConfigError(str(reply.get("error", "failed")))
    return reply
