"""pyaoe.protocol: the sans-I/O AoE codec shared by the target and the initiator.

Bytes in, typed messages out, and back; no sockets, files, clocks or randomness.
"""

from __future__ import annotations

from pyaoe.errors import FrameError
from pyaoe.protocol.ata import (
    ATA_FAILURE_MASK,
    EXTENDED_COMMANDS,
    LBA28_MAX,
    LBA48_MAX,
    READ_COMMANDS,
    WRITE_COMMANDS,
    AtaArg,
    AtaCommand,
    AtaErrorBit,
    AtaFlag,
    AtaStatus,
    command_lba,
    is_ata_failure,
    lba_register,
)
from pyaoe.protocol.config import (
    ConfigArg,
    ConfigCommand,
    config_matches,
    effective_sector_count,
    sectors_per_frame,
)
from pyaoe.protocol.constants import *  # noqa: F403
from pyaoe.protocol.constants import __all__ as _constants_all
from pyaoe.protocol.ethernet import format_mac, parse_mac
from pyaoe.protocol.frame import Arg, Frame, decode_frame, encode_frame
from pyaoe.protocol.header import (
    AOE_ERROR_TEXT,
    REQUEST_VERFLAGS,
    RESPONSE_VERFLAGS,
    AoeError,
    Command,
    Header,
    HeaderFlag,
    reply_header,
)
from pyaoe.protocol.identify import IdentifyInfo, build_identify, parse_identify
from pyaoe.protocol.layout import pad_frame, padded_length
from pyaoe.protocol.mask import Directive, DirectiveCommand, MaskArg, MaskCommand, MaskError
from pyaoe.protocol.reserve import ReserveArg, ReserveCommand

__all__ = [
    *_constants_all,
    "FrameError",
    "ATA_FAILURE_MASK",
    "EXTENDED_COMMANDS",
    "LBA28_MAX",
    "LBA48_MAX",
    "READ_COMMANDS",
    "WRITE_COMMANDS",
    "AtaArg",
    "AtaCommand",
    "AtaErrorBit",
    "AtaFlag",
    "AtaStatus",
    "command_lba",
    "is_ata_failure",
    "lba_register",
    "ConfigArg",
    "ConfigCommand",
    "config_matches",
    "effective_sector_count",
    "sectors_per_frame",
    "format_mac",
    "pad_frame",
    "padded_length",
    "parse_mac",
    "Arg",
    "Frame",
    "decode_frame",
    "encode_frame",
    "AOE_ERROR_TEXT",
    "AoeError",
    "Command",
    "Header",
    "HeaderFlag",
    "REQUEST_VERFLAGS",
    "RESPONSE_VERFLAGS",
    "reply_header",
    "IdentifyInfo",
    "build_identify",
    "parse_identify",
    "Directive",
    "DirectiveCommand",
    "MaskArg",
    "MaskCommand",
    "MaskError",
    "ReserveArg",
    "ReserveCommand",
]
