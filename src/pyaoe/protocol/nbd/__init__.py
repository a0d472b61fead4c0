"""pyaoe.protocol.nbd: the sans-I/O NBD codec that `pyaoe nbd`, the NBD backend and `pyaoe copy` share.

wire holds the numbers and layouts, options the handshake's option haggling, uri the addresses.
"""

from __future__ import annotations

from pyaoe.protocol.nbd.options import ExportInfo, NeedExport, NeedList, Replies, ServerOptions
from pyaoe.protocol.nbd.uri import NbdAddress, is_nbd_uri, parse_nbd_uri
from pyaoe.protocol.nbd.wire import Cmd, CmdFlag, NbdError, NbdProtocolError, Option, TransmissionFlag

__all__ = [
    "Cmd",
    "CmdFlag",
    "ExportInfo",
    "NbdAddress",
    "NbdError",
    "NbdProtocolError",
    "NeedExport",
    "NeedList",
    "Option",
    "Replies",
    "ServerOptions",
    "TransmissionFlag",
    "is_nbd_uri",
    "parse_nbd_uri",
]
