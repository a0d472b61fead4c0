"""pyaoe.protocol.nbd.uri: NBD URIs as libnbd and qemu write them (the NBD project's uri.md).

nbd://HOST[:PORT]/EXPORT and nbd+unix:///EXPORT?socket=PATH, parsed into an NbdAddress; TLS
schemes (nbds://) are refused by name rather than silently spoken in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from pyaoe.protocol.nbd.wire import DEFAULT_PORT

__all__ = ["NbdAddress", "is_nbd_uri", "parse_nbd_uri"]

_SCHEMES = ("nbd://", "nbd+unix://", "nbd+tcp://", "nbds://", "nbds+unix://", "nbd+vsock://")


@dataclass(frozen=True, slots=True)
class NbdAddress:
    """Where an NBD export is: a unix socket path, or a host and TCP port; and its name."""

    export: str
    socket: str | None = None
    host: str | None = None
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        if self.socket is not None:
            return f"nbd+unix:///{self.export}?socket={self.socket}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"nbd://{host}:{self.port}/{self.export}"


def is_nbd_uri(text: str) -> bool:
    """True when ``text`` is meant as an NBD URI (a file name never starts so)."""
    return text.startswith(_SCHEMES)


def parse_nbd_uri(text: str) -> NbdAddress:
    """The address in ``text``; ValueError with what is wrong in one line."""
    parts = urlsplit(text)
    scheme = parts.scheme
    if scheme in ("nbds", "nbds+unix"):
        raise ValueError(f"{text}: TLS (nbds) is not supported; use nbd:// or nbd+unix://")
    if scheme not in ("nbd", "nbd+tcp", "nbd+unix"):
        raise ValueError(f"{text}: not an nbd:// or nbd+unix:// URI")
    export = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"socket"})
    if unknown:
        raise ValueError(f"{text}: unknown query parameter {unknown[0]!r}")
    if scheme == "nbd+unix":
        if parts.netloc:
            raise ValueError(f"{text}: nbd+unix:// takes no host (write nbd+unix:///EXPORT?socket=PATH)")
        sockets = query.get("socket", [])
        if len(sockets) != 1 or not sockets[0]:
            raise ValueError(f"{text}: nbd+unix:// needs ?socket=PATH")
        return NbdAddress(export, socket=sockets[0])
    if "socket" in query:
        raise ValueError(f"{text}: ?socket= belongs to nbd+unix:// URIs")
    if not parts.hostname:
        raise ValueError(f"{text}: no host (write nbd://HOST[:PORT]/EXPORT)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text}: bad port") from None
    return NbdAddress(export, host=parts.hostname, port=port if port is not None else DEFAULT_PORT)
