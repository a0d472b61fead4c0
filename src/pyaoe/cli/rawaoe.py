"""pyaoe.cli.rawaoe: what aoeping, aoecfg and aoe-sancheck share: a raw initiator socket,
userland tags (bit 31 set), waiting for a matching reply, aoetools' hex dump and number parsing.

Unlike aoetools, replies shorter than 60 bytes are accepted: vblade does not pad its replies and
veth does not either, so the C tools never see a config reply with a short config string.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Callable

from pyaoe.cli.common import CommandError
from pyaoe.errors import FrameError
from pyaoe.net import NoSuchInterfaceError, PacketSocket, initiator_filter, interface_info
from pyaoe.protocol import TAG_USER_BIT, Header
from pyaoe.protocol.header import decode_header

__all__ = [
    "ReplyTimeout",
    "open_initiator_socket",
    "user_tag",
    "wait_reply",
    "hex_dump",
    "parse_strtoul",
    "parse_atoi",
    "exit_by_alarm",
]

#: What strtoul(s, 0, 0) reads as a whole word: hex, octal, decimal.
_STRTOUL = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
#: Large enough for a jumbo frame.
_RECV_SIZE = 65536


class ReplyTimeout(Exception):
    """No matching reply came before the deadline."""


def open_initiator_socket(netif: str) -> PacketSocket:
    """A packet socket on ``netif`` that hears AoE responses to us (or broadcast) only."""
    try:
        mac = interface_info(netif).mac
        return PacketSocket(netif, bpf_program=initiator_filter(mac))
    except NoSuchInterfaceError as exc:
        raise CommandError(str(exc)) from None
    except PermissionError:
        raise CommandError(f"{netif}: raw sockets need root (CAP_NET_RAW)") from None
    except OSError as exc:
        raise CommandError(f"{netif}: {exc.strerror or exc}") from None


def user_tag(seed: int | None = None) -> int:
    """A tag for a userland tool: bit 31 set, as aoetools sets it (the kernel driver drops
    such replies and keeps its own tags clear of it). Random low bits unless ``seed``."""
    low = int.from_bytes(os.urandom(4), "big") if seed is None else seed
    return (low | TAG_USER_BIT) & 0xFFFFFFFF


def wait_reply(
    sock: PacketSocket,
    match: Callable[[Header, memoryview], bool],
    deadline: float | None,
) -> bytes:
    """The first received frame whose header satisfies ``match``; ReplyTimeout when
    ``deadline`` (time.monotonic()) passes first, None waits forever. Any length is accepted."""
    buf = bytearray(_RECV_SIZE)
    view = memoryview(buf)
    while True:
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise ReplyTimeout
        if not sock.wait_readable(timeout):
            continue
        n = sock.recv_into(buf)
        try:
            header = decode_header(view[:n])
        except FrameError:
            continue
        if match(header, view[:n]):
            return bytes(view[:n])


def hex_dump(data: bytes | bytearray | memoryview, sep: str = " ") -> str:
    """Bytes as aoetools prints them: two hex digits and ``sep`` each, 16 to a line; the last
    line has a newline only when it is full."""
    out = []
    for i, byte in enumerate(bytes(data), 1):
        out.append(f"{byte:02x}{sep}")
        if i % 16 == 0:
            out.append("\n")
    return "".join(out)


def parse_strtoul(text: str, what: str, high: int) -> int:
    """A number as strtoul(text, 0, 0) reads it (0x hex, leading 0 octal, else decimal),
    but a whole word and in [0, high], else CommandError."""
    word = text.strip()
    if not _STRTOUL.fullmatch(word):
        raise CommandError(f"{what} must be a number, not {text!r}")
    if word[:2].lower() == "0x":
        value = int(word[2:], 16)
    elif word.startswith("0"):
        value = int(word, 8)
    else:
        value = int(word, 10)
    if not 0 <= value <= high:
        raise CommandError(f"{what} {value} is out of range (0-{high})")
    return value


def parse_atoi(text: str, what: str, low: int, high: int) -> int:
    """A decimal number in [low, high] (aoeping reads its numbers with atoi), else CommandError."""
    word = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", word):
        raise CommandError(f"{what} must be a decimal number, not {text!r}")
    value = int(word, 10)
    if not low <= value <= high:
        raise CommandError(f"{what} {value} is out of range ({low}-{high})")
    return value


def exit_by_alarm() -> None:
    """Die as aoeping does when its alarm(2) fires: killed by SIGALRM (a shell shows 142).

    Output already printed is flushed first, which the C tool does not do for piped output."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGALRM)
    # The signal is delivered before kill() returns; this is only reached if it is blocked.
    os._exit(128 + signal.SIGALRM)
