"""Reading one frame at a time from a PacketSocket, as tests and their fake peers do.

The library's loops read in batches (recvmmsg); tests want one frame, or None after a timeout.
"""

from __future__ import annotations

from pyaoe.net.packet_socket import PacketSocket

__all__ = ["recv_frame"]


def recv_frame(sock: PacketSocket, bufsize: int = 65536, timeout: float | None = None) -> bytes | None:
    """One frame as bytes, or None when ``timeout`` seconds pass first (None: wait forever)."""
    if timeout is not None and not sock.wait_readable(timeout):
        return None
    return sock.socket.recv(bufsize)
